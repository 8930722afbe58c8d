"""Bench-only variants of Nikki's path, chosen with BENCH_PATCHES=name,name (bench/nikki_asgi.py).

They measure a change before anyone makes it (docs/benchmark.md gives the figures):

- `stock_writer`: the OpenAI writer as it was before issue 5 — the openai client's own stream
  (pydantic models per chunk) and a new `AsyncOpenAI` client (TLS context, pool) per generation.
- `checkpoint_task`: the flush loop no longer waits for its checkpoint: the checkpoint runs in its
  own task (at most one in flight per generation), so a slow or queued database call cannot hold
  the deltas back.
- `fast_dispatch`: DiaryConsumer skips Channels' per-event `aclose_old_connections()` thread hop
  for the events that touch no database (delta, started, done, error).
- `switch_interval`: `sys.setswitchinterval(0.0005)` (BENCH_SWITCH_INTERVAL).
"""

from __future__ import annotations

import asyncio
import os


def stock_writer() -> None:
    from diaries.writers import openai as writer_module

    original = writer_module.OpenAIWriter.from_config.__func__

    def from_config(cls, **kwargs):
        kwargs.setdefault("parser", "stock")
        return original(cls, **kwargs)

    writer_module.OpenAIWriter.from_config = classmethod(from_config)
    writer_module._running_loop = lambda: None  # no shared client: one per generation


def checkpoint_task() -> None:
    from diaries.generation import Runner

    original = Runner._checkpoint

    async def _checkpoint(self, *, with_text: bool) -> None:
        running = getattr(self, "_bench_checkpoint", None)
        if running is not None and not running.done():
            return  # one in flight: the next tick catches up
        self._bench_checkpoint = asyncio.create_task(original(self, with_text=with_text))

    Runner._checkpoint = _checkpoint


def fast_dispatch() -> None:
    """DiaryConsumer handles the generation's own events (delta, started, done, error) without
    Channels' `aclose_old_connections()` — a hop through the single sync thread that
    `AsyncConsumer.dispatch` makes before *every* event. Those handlers touch no database (the
    resync path goes through database_sync_to_async, which closes old connections itself)."""
    from channels.consumer import get_handler_name

    from diaries.consumers import DiaryConsumer

    no_db = frozenset({"diary.delta", "diary.started", "diary.done", "diary.error"})
    original = DiaryConsumer.dispatch

    async def dispatch(self, message):
        if message.get("type") in no_db:
            await getattr(self, get_handler_name(message))(message)
            return
        await original(self, message)

    DiaryConsumer.dispatch = dispatch


def switch_interval() -> None:
    """A shorter GIL switch interval (default 5 ms): the database thread, which gives the GIL
    up in every SQLite call, gets it back sooner while the event loop is busy."""
    import sys

    sys.setswitchinterval(float(os.environ.get("BENCH_SWITCH_INTERVAL", "0.0005")))


PATCHES = {
    "stock_writer": stock_writer,
    "checkpoint_task": checkpoint_task,
    "switch_interval": switch_interval,
    "fast_dispatch": fast_dispatch,
}


def apply_from_env() -> list[str]:
    names = [n.strip() for n in os.environ.get("BENCH_PATCHES", "").split(",") if n.strip()]
    for name in names:
        PATCHES[name]()
    return names
