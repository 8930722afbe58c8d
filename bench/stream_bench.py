"""The streaming benchmark: Nikki's path against the naive path, on this machine.

    make bench                       # the full run (about 10 minutes)
    make bench BENCH_ARGS=--quick    # about 2 minutes
    .venv/bin/python bench/stream_bench.py --help

Three kinds of process share the machine, as in the issue: the paced OpenAI-compatible upstream
(bench/upstream.py, built on tests/support/openai_server.py: one token per chunk, each chunk
its own write), daphne serving the real app (bench/nikki_asgi.py = diary_project.asgi + counters)
as deployed (`python -m diary_project.serve`: daphne on uvloop; `--nikki-env
DIARY_EVENT_LOOP=asyncio` for the standard loop) or the naive app (bench/naive_asgi.py) on plain
daphne, and this process, which holds every WebSocket client (bench/wsclient.py). Only 127.0.0.1
is used. Each daphne gets its own SQLite file in a temporary directory; users and their sessions
are made with `manage.py shell`, and one real sign-in over HTTP checks that path.

Phases, for each path (Nikki, then naive, each on a fresh daphne):
1. warm-up;
2. memory: K idle authenticated sockets (RSS per idle connection), then all K generate
   (RSS per active stream, at the peak);
3. one stream: a few generations at 50 tokens/s (added latency p50/p99, time to the first delta
   beyond the upstream's own time to first token), and one at 10 tokens/s, slower than the
   coalescing window, where the added latency is the path's own overhead;
4. the sweep: N concurrent streams at 50 tokens/s for growing N, until a level fails (p99 added
   latency > 100 ms, or any text lost or reordered, or any error); the largest passing N is the
   capacity. Each level also gives CPU per token, database writes per generation and bytes on the
   wire per token.
Then, for Nikki: the channel layers (RedisChannelLayer, RedisPubSubChannelLayer) at one N if
redis-server is installed, and the slow-client test (clients that stop reading while asking for
snapshots).

`--shapes embedded,prod1,prod2` adds the deployment shapes side by side: the embedded default
(SQLite, the in-memory layer, one daphne) and the production shape with one and two daphnes
(`python -m diary_project.serve --proxy-headers`, as compose runs them) on a PostgreSQL database
of their own (`--pg-url`, `--pg-prefix`) and a private redis-server (`CHANNEL_LAYER=pubsub`),
behind nginx running docker/nginx.conf (tests/support/nginx.py points it at the daphnes). Every
level runs on every shape still passing before the next level, so the host's load weighs on all
alike; CPU is counted per kind of process (the daphnes; nginx; Redis; the PostgreSQL server).

Added latency is measured without touching the chunks: the upstream logs the CLOCK_MONOTONIC
time of each content chunk's write; the client stamps each frame's arrival with the same clock;
tokens are distinct and fixed-length, so the received text maps back to token indices.

Output: a JSON document and Markdown tables, printed and saved under var/bench/.

This file parses the options; bench/processes.py starts the upstream and the daphnes,
bench/phases.py runs the phases, bench/analysis.py turns frames and logs into figures, and
bench/report.py prints and saves them.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.phases import Bench  # noqa: E402
from bench.report import save_and_print  # noqa: E402


def add_shape_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--shapes",
        default="",
        help="deployment shapes side by side, e.g. embedded,prod1,prod2: embedded = the default "
        "(SQLite, in-memory layer, one daphne); prodK = K daphnes on PostgreSQL and Redis "
        "behind docker/nginx.conf",
    )
    p.add_argument(
        "--pg-url",
        default="postgres://postgres@127.0.0.1:5432/postgres",
        help="the PostgreSQL server the production shapes make their databases on",
    )
    p.add_argument("--pg-prefix", default="nikki_bench", help="their names: PREFIX_prodK")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Nikki's streaming benchmark (see the module doc).")
    p.add_argument("--quick", action="store_true", help="a 1-2 minute run with fewer levels")
    p.add_argument("--paths", default="nikki,naive", help="which paths: nikki,naive")
    p.add_argument("--levels", default=None, help="N to sweep, e.g. 50,100,200,300,400")
    p.add_argument("--tokens", type=int, default=None, help="tokens per stream (default 300)")
    p.add_argument("--rate", type=float, default=50.0, help="tokens per second per stream")
    p.add_argument("--ttft", type=float, default=0.3, help="upstream time to first token (s)")
    p.add_argument("--flush-ms", type=int, default=40, help="DIARY_FLUSH_MS for Nikki")
    p.add_argument("--ramp", type=float, default=2.0, help="spread the starts over this (s)")
    p.add_argument("--grace", type=float, default=20.0, help="extra wait for a level (s)")
    p.add_argument("--p99-limit", type=float, default=100.0, help="p99 added latency bound (ms)")
    p.add_argument("--memory-clients", type=int, default=None)
    p.add_argument("--single-runs", type=int, default=None)
    p.add_argument("--single-tokens", type=int, default=100)
    p.add_argument("--slow-rate", type=float, default=10.0, help="the below-window rate")
    p.add_argument("--slow-clients", type=int, default=None, help="0 skips the slow-client test")
    p.add_argument("--slow-seconds", type=float, default=None)
    p.add_argument("--slow-watch-rate", type=float, default=4.0)
    p.add_argument("--layer-clients", type=int, default=None)
    p.add_argument("--no-layers", dest="layers", action="store_false")
    p.add_argument(
        "--nikki-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for Nikki's daphne, e.g. BENCH_PATCHES=stock_writer or "
        "OPENAI_HTTP_CLIENT=httpx (repeatable)",
    )
    add_shape_options(p)
    p.add_argument("--no-refine", dest="refine", action="store_false")
    p.add_argument(
        "--sweep-only", action="store_true", help="skip the memory and one-stream phases"
    )
    p.add_argument("--out", default=str(ROOT / "var" / "bench"), help="where results are saved")
    a = p.parse_args(argv)
    quick = a.quick
    a.paths = [x.strip() for x in a.paths.split(",") if x.strip()]
    a.shapes = [x.strip() for x in a.shapes.split(",") if x.strip()]
    for shape in a.shapes:
        if not re.fullmatch(r"embedded|prod[1-9]", shape):
            p.error(f"unknown shape {shape!r}: embedded or prod1 … prod9")
    if a.levels:
        a.levels = [int(x) for x in a.levels.split(",")]
    else:
        a.levels = [50, 150, 300] if quick else [50, 100, 200, 300, 400, 500, 600]
    a.tokens = a.tokens or (150 if quick else 300)
    a.memory_clients = a.memory_clients or (50 if quick else 100)
    a.single_runs = a.single_runs or (2 if quick else 5)
    a.slow_clients = (4 if quick else 10) if a.slow_clients is None else a.slow_clients
    a.slow_seconds = a.slow_seconds or (10.0 if quick else 30.0)
    a.layer_clients = a.layer_clients or (30 if quick else 50)
    if quick:
        a.refine = False
    return a


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nikki-bench-") as tmp:
        bench = Bench(args, Path(tmp))
        try:
            out = asyncio.run(bench.run())
        except KeyboardInterrupt:
            bench.upstream.stop()
            raise
    out["bench_seconds"] = round(time.monotonic() - started)
    save_and_print(out, Path(args.out))


if __name__ == "__main__":
    main()
