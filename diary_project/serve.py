"""daphne on uvloop: `python -m diary_project.serve [daphne options] APP` (APP as for daphne).

Exactly daphne's command line (`daphne --help`), after one step: Twisted's asyncio reactor is
installed on a uvloop event loop before daphne installs it on the standard library's loop.
Twisted supports uvloop in `AsyncioSelectorReactor` since 21.7. Every socket read and write
then goes through libuv, not the `selectors` module: less server CPU per streamed token
(docs/benchmark.md). `DIARY_EVENT_LOOP=asyncio` keeps the standard library's loop.

The server it starts listens through the slow-client guard (diaries/backpressure.py): each
endpoint daphne builds from its options is wrapped in `nikki-guard:` (unless
`DIARY_WS_MAX_BUFFER_BYTES` is 0). Only this server is configured so; daphne's classes are left
as they are.

Once daphne serves, the start-up heap (modules, Django's registries, the URLconf: objects that
live as long as the process) is moved out of the cyclic collector's reach with `gc.freeze()`,
so full collections scan only what the connections and streams made.
"""

from __future__ import annotations

import gc
import os
import sys
from importlib import import_module
from typing import Any

EVENT_LOOPS = ("uvloop", "asyncio")


def install_reactor(kind: str) -> None:
    """Install Twisted's asyncio reactor on a `kind` loop, before daphne is imported."""
    if kind not in EVENT_LOOPS:
        raise SystemExit(f"DIARY_EVENT_LOOP must be one of {', '.join(EVENT_LOOPS)}, not {kind!r}")
    if kind == "asyncio" or "twisted.internet.reactor" in sys.modules:
        return  # daphne installs its own (and warns if another kind is already installed)
    import uvloop
    from twisted.internet import asyncioreactor

    loop = uvloop.new_event_loop()
    if "ASGI_THREADS" in os.environ:  # as daphne does for the loop it makes
        from concurrent.futures import ThreadPoolExecutor

        loop.set_default_executor(ThreadPoolExecutor(max_workers=int(os.environ["ASGI_THREADS"])))
    asyncioreactor.install(loop)


def freeze_startup_heap() -> None:
    """Load the URLconf (Django loads it on the first request), collect, and freeze what is
    left: it lives as long as the process, and full collections stop scanning it."""
    from django.conf import settings

    import_module(settings.ROOT_URLCONF)
    gc.collect()
    gc.freeze()


def guarded_server(*, endpoints: list[str], **options: Any) -> Any:
    """daphne's `Server`, listening on `endpoints` through the slow-client guard.

    daphne's command line calls this (its `server_class`) once it has imported the application,
    so Django's settings are ready."""
    from daphne.server import Server
    from django.conf import settings

    from diaries.backpressure import guarded_description

    limit = settings.DIARY_WS_MAX_BUFFER_BYTES
    if limit > 0:
        endpoints = [guarded_description(endpoint, limit) for endpoint in endpoints]
    return Server(endpoints=endpoints, **options)


def main() -> None:
    install_reactor(os.environ.get("DIARY_EVENT_LOOP", "uvloop"))
    from daphne.cli import CommandLineInterface  # installs the reactor if we did not
    from twisted.internet import reactor

    # Runs when the reactor starts: after daphne imported the application, before any request.
    reactor.callWhenRunning(freeze_startup_heap)
    command_line = CommandLineInterface()
    command_line.server_class = guarded_server
    command_line.run(sys.argv[1:])


if __name__ == "__main__":
    main()
