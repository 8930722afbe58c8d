"""Import and export of a 15-year diary (issue 17): `make bench-import`.

In one process, on a fresh database (a SQLite file of this run's own, or `--database-url`) with
a fresh server key and key store:

1. a Day One JSON export of N entries (about 120 words each) is imported the way the page does
   it: `import_job_create` keeps the upload sealed and starts the job's thread, which writes a
   batch at a time with the job's counts (polled, as the page does), the search documents
   built with each batch;
2. the same file again (every entry skipped);
3. a Nikki export of N entries, each with two generations and every tenth with an edit, into a
   fresh account (the full restore);
4. the export of that account, JSON and Markdown, read chunk by chunk as the response streams
   it (`exports.*_chunks`) and, for comparison, joined whole as the export used to build it;
   the peak of Python's allocations (tracemalloc) during each, at N/8 and N entries.

Prints one JSON object and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=8000)
    parser.add_argument("--database-url", default="")
    return parser.parse_args()


def django_up(scratch: Path, database_url: str) -> None:
    from cryptography.fernet import Fernet

    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ["NIKKI_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    os.environ["KEYS_DATABASE_URL"] = f"sqlite:///{scratch / 'keys.sqlite3'}"
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{scratch / 'nikki.sqlite3'}"
    os.environ.update(DJANGO_DEBUG="false", DJANGO_ALLOWED_HOSTS="testserver")
    os.environ["DIARY_LOG_LEVEL"] = "WARNING"
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "diary_project.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", "--database", "keys", verbosity=0)
    call_command("migrate", "--noinput", verbosity=0)


def nikki_export(count: int) -> bytes:
    """A Nikki export of `count` entries with their versions, as diaries/exports.py writes it."""
    import datetime as dt

    start = dt.date(2011, 1, 1)
    words = "Walked by the river after work and thought about the week ahead. " * 10
    entries = []
    for n in range(count):
        day = start + dt.timedelta(days=n * 5475 // max(count, 1))
        at = f"{day.isoformat()}T21:00:00+00:00"
        generation = {
            "status": "done",
            "writer": "openai",
            "model": "gpt-4o-mini",
            "tone": "warm",
            "language": "en",
            "usage": {"prompt_tokens": 300, "completion_tokens": 250, "total_tokens": 550},
            "started_at": at,
            "finished_at": at,
        }
        entries.append(
            {
                "id": n + 1,
                "date": day.isoformat(),
                "morning": f"Morning {n}: coffee and the news.",
                "afternoon": f"Afternoon {n}: a long meeting.",
                "evening": "",
                "notes": "",
                "tone": "warm",
                "language": "en",
                "text": f"Entry {n}. {words}",
                "status": "done",
                "writer": "openai",
                "model": "gpt-4o-mini",
                "sharing": "private",
                "source": "",
                "created_at": at,
                "updated_at": at,
                "generations": [
                    {**generation, "id": 2 * n + 1, "text": f"First try {n}. {words}"},
                    {**generation, "id": 2 * n + 2, "text": f"Entry {n}. {words}"},
                ],
                "edits": (
                    [
                        {
                            "id": n,
                            "text": f"Edited {n}.",
                            "previous_text": "Before.",
                            "created_at": at,
                        }
                    ]
                    if n % 10 == 0
                    else []
                ),
            }
        )
    data = {
        "format": "nikki-export",
        "version": 1,
        "exported_at": "2026-12-06T00:00:00+00:00",
        "user": {"username": "someone", "settings": {"default_tone": "warm"}},
        "entries": entries,
    }
    return json.dumps(data).encode()


def jobs_done(job_id: int) -> bool:
    from diaries.models import ImportJob

    return ImportJob.objects.filter(pk=job_id, finished_at__isnull=False).exists()


def timed_job(user, name: str, data: bytes) -> dict:
    from diaries.imports import jobs
    from diaries.models import ImportJob

    started = time.perf_counter()
    # As on the page: the job starts in a thread once its upload is committed; its status is
    # polled the way the page polls it (every second; the time is taken to 50 ms).
    job = jobs.import_job_create(user=user, file_name=name, data=data)
    progress = []
    polled = started
    while not job.is_finished:
        time.sleep(0.05)
        if time.perf_counter() - polled < 1 and not jobs_done(job.pk):
            continue
        polled = time.perf_counter()
        job = ImportJob.objects.get(pk=job.pk)
        if job.processed and (not progress or progress[-1] != job.processed):
            progress.append(job.processed)
    seconds = time.perf_counter() - started
    assert job.status == "done", job.error_message
    return {
        "file_mb": round(len(data) / 1e6, 1),
        "seconds": round(seconds, 2),
        "entries_per_second": round(job.total / seconds),
        "imported": job.imported,
        "skipped": job.skipped,
        "progress_seen": len(progress),
    }


def export_peak(user, kind: str, *, whole: bool) -> dict:
    from diaries import exports, selectors
    from diaries.services import accounts

    entries = selectors.entries_for_export(user=user)
    if kind == "json":
        profile = accounts.profile_get(user=user)
        chunks = exports.entries_as_json_chunks(entries, user=user, profile=profile)
    else:
        chunks = exports.entries_as_markdown_chunks(entries, user=user)
    tracemalloc.start()
    started = time.perf_counter()
    size = 0
    if whole:
        size = len("".join(chunks).encode())
    else:
        for chunk in chunks:
            size += len(chunk.encode())
    seconds = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "mb": round(size / 1e6, 1),
        "seconds": round(seconds, 2),
        "peak_mb": round(peak / 1e6, 1),
    }


def streamed_through_the_view(user, path: str) -> dict:
    from django.test import Client

    client = Client()
    client.force_login(user)
    started = time.perf_counter()
    response = client.get(path)
    size = 0
    for chunk in response:  # the client reads the asynchronous stream here
        size += len(chunk)
    return {"mb": round(size / 1e6, 1), "seconds": round(time.perf_counter() - started, 2)}


def main() -> None:
    args = parse()
    with tempfile.TemporaryDirectory(prefix="nikki-import-bench-") as scratch:
        django_up(Path(scratch), args.database_url)
        import warnings

        from django.contrib.auth import get_user_model
        from django.db import connection

        sys.path.insert(0, str(ROOT))
        from tests.support.imports import day_one_journal

        warnings.simplefilter("ignore")  # the test client's note about an async stream
        make = get_user_model().objects.create_user
        n = args.entries
        results: dict = {"entries": n, "database": connection.vendor}
        day_one = day_one_journal(n)
        person = make("dayone", password=secrets.token_urlsafe(16))
        results["day_one"] = timed_job(person, "Journal.json", day_one)
        results["day_one_again"] = timed_job(person, "Journal.json", day_one)
        restored = make("restored", password=secrets.token_urlsafe(16))
        results["nikki"] = timed_job(restored, "nikki.json", nikki_export(n))
        results["max_rss_mb_after_imports"] = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
        )
        small = make("small", password=secrets.token_urlsafe(16))
        timed_job(small, "nikki.json", nikki_export(n // 8))
        for kind in ("json", "markdown"):
            results[f"export_{kind}"] = {
                "streamed": export_peak(restored, kind, whole=False),
                f"streamed_{n // 8}": export_peak(small, kind, whole=False),
                "whole": export_peak(restored, kind, whole=True),
                "view": streamed_through_the_view(restored, f"/export/{kind}/"),
            }
    print(json.dumps(results))
    print(table(results))


def table(r: dict) -> str:
    n = r["entries"]
    lines = [
        f"| {n:,} entries ({r['database']}) | seconds | entries/s | file MB |",
        "|---|---|---|---|",
    ]
    for key, label in (
        ("day_one", "Day One JSON, import"),
        ("day_one_again", "Day One JSON, same file again (all skipped)"),
        ("nikki", "Nikki export (2 generations each, an edit in 10), restore"),
    ):
        row = r[key]
        lines.append(
            f"| {label} | {row['seconds']} | {row['entries_per_second']:,} | {row['file_mb']} |"
        )
    lines += ["", "| export | MB | seconds | peak Python memory MB |", "|---|---|---|---|"]
    for kind in ("json", "markdown"):
        e = r[f"export_{kind}"]
        small = e[f"streamed_{n // 8}"]
        lines.append(
            f"| {kind}, streamed ({n:,} entries) | {e['streamed']['mb']} | "
            f"{e['streamed']['seconds']} | {e['streamed']['peak_mb']} |"
        )
        lines.append(
            f"| {kind}, streamed ({n // 8:,} entries) | {small['mb']} | {small['seconds']} | "
            f"{small['peak_mb']} |"
        )
        lines.append(
            f"| {kind}, joined whole as before ({n:,}) | {e['whole']['mb']} | "
            f"{e['whole']['seconds']} | {e['whole']['peak_mb']} |"
        )
        lines.append(
            f"| {kind}, through the view (test client) | {e['view']['mb']} | "
            f"{e['view']['seconds']} | |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
