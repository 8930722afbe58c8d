"""The pages bench (issue 16): a 15-year diary, and how fast its pages answer.

    make bench-pages                                            # this checkout, SQLite
    .venv/bin/python bench/pages_bench.py \\
        --database-url postgres://postgres@127.0.0.1:5432/nikki_bench \\
        --checkout /path/to/plaintext --checkout .                 # side by side, SQLite + PG

For each checkout (default: this one) and each database (SQLite always; PostgreSQL too with
`--database-url`), a fresh process (bench/pages_worker.py, run with the checkout as its working
directory and first on its path, so it runs that checkout's code) migrates an empty database,
seeds one person's diary (`--entries` 5,500 over `--years` 15: notes of a few lines, entries
of 300 to 900 words, 15 % in Japanese, 1 to 4 generations each, 8 % edited) through the ORM, then
times each page with Django's test Client in-process: server time, no network. PostgreSQL
databases are made for the run (`<name>_<n>`, with createdb) and dropped after (`--keep` keeps
them). Limits (issue 16): search ≤ 200 ms p95; the home page and an entry page ≤ 50 ms p95;
the calendar and the exports are reported without a limit.

Environment variables a checkout needs (an encryption key, say) pass through from this process;
`--env NAME=VALUE` adds some. DJANGO_SECRET_KEY is made up per run when unset.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from cryptography.fernet import Fernet

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
SEARCHES = ("coffee", "aurora", "散歩", "walking", "the", "rain umbrella")
LIMITS = {"search": 200.0, "home": 50.0, "entry": 50.0}


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkout", type=Path, action="append", default=[])
    parser.add_argument("--database-url", help="postgres://… : also run on PostgreSQL")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--entries", type=int, default=5500)
    parser.add_argument("--years", type=int, default=15)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--export-runs", type=int, default=3)
    parser.add_argument("--search", action="append", help=f"queries (default: {SEARCHES})")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL databases")
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args()


def pg_tool(tool: str, url: str, *args: str) -> None:
    parts = urlsplit(url)
    command = [tool, "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432)]
    if parts.username:
        command += ["-U", parts.username]
    env = {**os.environ, "PGPASSWORD": parts.password or ""}
    subprocess.run([*command, *args], check=True, env=env, capture_output=True, text=True)


def databases(args: argparse.Namespace, index: int, scratch: Path) -> list[tuple[str, str]]:
    found = []
    if not args.no_sqlite:
        found.append(("SQLite", f"sqlite:///{scratch / f'diary-{index}.sqlite3'}"))
    if args.database_url:
        parts = urlsplit(args.database_url)
        name = f"{parts.path.lstrip('/')}_{index}"
        found.append(("PostgreSQL", urlunsplit(parts._replace(path=f"/{name}"))))
    return found


def run_one(args, checkout: Path, url: str, scratch: Path) -> dict:
    env = {**os.environ, **dict(item.split("=", 1) for item in args.env)}
    env.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    # A checkout with encryption at rest needs a server key and a key store: a fresh key, and
    # the key store in a SQLite file of this run's own (each person's data key is read once and
    # then kept in memory, so where the store lives does not weigh on the pages). A checkout
    # before encryption ignores both.
    env.setdefault("NIKKI_ENCRYPTION_KEYS", Fernet.generate_key().decode())
    env["KEYS_DATABASE_URL"] = (
        f"sqlite:///{scratch / f'keys-{abs(hash((str(checkout), url)))}.sqlite3'}"
    )
    env.update(
        DATABASE_URL=url,
        DJANGO_DEBUG="false",
        DJANGO_ALLOWED_HOSTS="testserver",
        DJANGO_STATIC_ROOT=str(scratch / f"static-{abs(hash((str(checkout), url)))}"),
        DIARY_LOG_LEVEL="WARNING",
        PYTHONPATH=str(checkout),
    )
    env.pop("REDIS_URL", None)  # the pages need no channel layer
    command = [PY, str(HERE / "pages_worker.py"), "--checkout", str(checkout)]
    command += ["--entries", str(args.entries), "--years", str(args.years)]
    command += ["--runs", str(args.runs), "--export-runs", str(args.export_runs)]
    for query in args.search or SEARCHES:
        command += ["--search", query]
    done = subprocess.run(command, cwd=checkout, env=env, stdout=subprocess.PIPE, text=True)
    if done.returncode:
        return {"error": f"worker exited {done.returncode} (its output is above)"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def limit_of(page: str) -> float | None:
    for prefix, limit in LIMITS.items():
        if page == prefix or (prefix == "search" and page.startswith("search")):
            return limit
    return None


def table(columns: list[tuple[str, dict]]) -> str:
    pages: list[str] = []
    for _label, result in columns:
        for page in result.get("pages", {}):
            if page not in pages:
                pages.append(page)
    head = "| page | limit (p95) | " + " | ".join(label for label, _ in columns) + " |"
    lines = [head, "|" + "---|" * (2 + len(columns))]
    if not pages:
        return "\n".join(
            [*lines, "| — | — | " + " | ".join(r.get("error", "") for _, r in columns) + " |"]
        )
    for page in pages:
        limit = limit_of(page)
        cells = []
        for _label, result in columns:
            figure = result.get("pages", {}).get(page)
            if figure is None:
                cells.append(result.get("error", "—"))
                continue
            mark = "" if limit is None else (" ✓" if figure["p95_ms"] <= limit else " ✗")
            found = "" if figure["matches"] is None else f", {figure['matches']} found"
            cells.append(
                f"{figure['p50_ms']:.0f} / {figure['p95_ms']:.0f}{mark} "
                f"(cpu {figure.get('cpu_p50_ms', 0):.0f}; {figure['queries']} q{found}; "
                f"first {figure.get('first_ms', 0):.0f})"
            )
        limit_text = f"{limit:.0f} ms" if limit else "—"
        lines.append(f"| {page} | {limit_text} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    args = parse()
    checkouts = [path.resolve() for path in (args.checkout or [ROOT])]
    columns: list[tuple[str, dict]] = []
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="nikki-pages-") as scratch_name:
        scratch = Path(scratch_name)
        for index, checkout in enumerate(checkouts):
            commit = subprocess.run(
                ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
            ).stdout.strip()
            for vendor, url in databases(args, index, scratch):
                label = f"{checkout.name}@{commit} {vendor}"
                print(f"== {label}", file=sys.stderr)
                if vendor == "PostgreSQL":
                    name = urlsplit(url).path.lstrip("/")
                    pg_tool("dropdb", args.database_url, "--if-exists", name)
                    pg_tool("createdb", args.database_url, name)
                try:
                    columns.append((label, run_one(args, checkout, url, scratch)))
                finally:
                    if vendor == "PostgreSQL" and not args.keep:
                        pg_tool("dropdb", args.database_url, "--if-exists", name)
    seeds = {label: result.get("seed") for label, result in columns}
    print(f"\nPages bench, {started}; load average at the start {load[0]:.2f} {load[1]:.2f}")
    print(f"p50 / p95 in ms of server time (Django test Client, in-process), {args.runs} runs")
    print(f"({args.export_runs} for the exports); cpu = the process's CPU ms per request, p50;")
    print("q = SQL queries of one request; found = the entries a search page says match;")
    print("first = the page's first request after seeding, in ms (not in p50 / p95).\n")
    print(table(columns))
    print("\nSeeded:", json.dumps(seeds, ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"started": started, "load": load, "runs": columns}))


if __name__ == "__main__":
    main()
