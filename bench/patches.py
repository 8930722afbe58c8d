"""Bench-only variants of Nikki's path, chosen with BENCH_PATCHES=name,name (bench/nikki_asgi.py).

They measure a change before anyone makes it (docs/benchmark.md gives the figures):

- `stock_writer`: the OpenAI writer as it was before issue 5 — the openai client's own stream
  (pydantic models per chunk) and a new `AsyncOpenAI` client (TLS context, pool) per generation.
  (The HTTP transport alone: `--nikki-env OPENAI_HTTP_CLIENT=httpx`.)
- `switch_interval`: `sys.setswitchinterval(0.0005)` (BENCH_SWITCH_INTERVAL).
"""

from __future__ import annotations

import os


def stock_writer() -> None:
    from diaries.writers import openai as writer_module

    original = writer_module.OpenAIWriter.from_config.__func__

    def from_config(cls, **kwargs):
        kwargs.setdefault("parser", "stock")
        return original(cls, **kwargs)

    writer_module.OpenAIWriter.from_config = classmethod(from_config)
    writer_module._running_loop = lambda: None  # no shared client: one per generation


def switch_interval() -> None:
    """A shorter GIL switch interval (default 5 ms): the database thread, which gives the GIL
    up in every SQLite call, gets it back sooner while the event loop is busy."""
    import sys

    sys.setswitchinterval(float(os.environ.get("BENCH_SWITCH_INTERVAL", "0.0005")))


def gc_freeze() -> None:
    """Move everything alive after start-up out of the cyclic collector's reach (gc.freeze)."""
    import gc

    gc.collect()
    gc.freeze()


def gc_threshold() -> None:
    """Other thresholds for the cyclic collector (BENCH_GC_THRESHOLD, e.g. 2000,10,100: full
    collections checked ten times less often than CPython's 2000,10,10)."""
    import gc

    gc.set_threshold(
        *(int(n) for n in os.environ.get("BENCH_GC_THRESHOLD", "2000,10,100").split(","))
    )


def long_checkpoint() -> None:
    """Checkpoints every 5 s instead of every second (is the batched checkpoint the stall?)."""
    from django.conf import settings

    settings.DIARY_CHECKPOINT_SECONDS = 5.0


def loop_monitor() -> None:
    """Log event-loop stalls (a 5 ms sleep waking late) and cyclic GC pauses (the full
    collections apart) to stderr, or BENCH_MONITOR_LOG, once a second: what holds the loop
    back. BENCH_MONITOR_OBJECTS=1 adds the objects the collector tracks and the frozen ones."""
    import asyncio
    import gc
    import os
    import sys
    import time

    out = open(os.environ["BENCH_MONITOR_LOG"], "a") if "BENCH_MONITOR_LOG" in os.environ else None
    gc_started = [0.0]
    gc_pauses: list[float] = []
    gc_full: list[float] = []  # full collections (generation 2)

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            gc_pauses.append((time.perf_counter() - gc_started[0]) * 1000)
            if info.get("generation") == 2:
                gc_full.append(gc_pauses[-1])

    gc.callbacks.append(on_gc)

    async def watch() -> None:
        lags: list[float] = []
        last = time.monotonic()
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append((time.perf_counter() - t) * 1000 - 5)
            if time.monotonic() - last >= 1:
                last = time.monotonic()
                lags.sort()
                gcs = sorted(gc_pauses)
                print(
                    f"loop lag ms: p50 {lags[len(lags) // 2]:.1f} max {lags[-1]:.1f} "
                    f"(n={len(lags)}); gc: {len(gcs)} pauses, max {gcs[-1] if gcs else 0:.1f} ms"
                    + (f", full {', '.join(f'{p:.1f}' for p in gc_full)} ms" if gc_full else "")
                    + (
                        f"; objects {len(gc.get_objects())}, frozen {gc.get_freeze_count()}"
                        if os.environ.get("BENCH_MONITOR_OBJECTS")
                        else ""
                    ),
                    file=out or sys.stderr,
                    flush=True,
                )
                lags.clear()
                gc_pauses.clear()
                gc_full.clear()

    from twisted.internet import reactor

    def start() -> None:
        asyncio.get_event_loop().create_task(watch())

    reactor.callWhenRunning(start)


PATCHES = {
    "loop_monitor": loop_monitor,
    "gc_freeze": gc_freeze,
    "gc_threshold": gc_threshold,
    "long_checkpoint": long_checkpoint,
    "stock_writer": stock_writer,
    "switch_interval": switch_interval,
}


def apply_from_env() -> list[str]:
    names = [n.strip() for n in os.environ.get("BENCH_PATCHES", "").split(",") if n.strip()]
    for name in names:
        PATCHES[name]()
    return names
