"""Starts that race: each attempt in its own thread and database connection, released together.

On PostgreSQL the attempts really overlap, so a limit that is read and then written without a
lock lets more than one through; the outcomes show which passed and which were refused.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection, connections

from diaries.exceptions import DiaryError


def start_together(*attempts: Callable[[], object]) -> list[str]:
    """Run the attempts at once; sorted outcomes: `started` for each that returned, the error code
    of each refused with a DiaryError, the repr of anything else it raised."""
    barrier = threading.Barrier(len(attempts))
    outcomes: list[str] = []

    def run(attempt: Callable[[], object]) -> None:
        try:
            connection.ensure_connection()  # connected before the barrier: they start together
            barrier.wait(5)
            attempt()
            outcomes.append("started")
        except DiaryError as exc:
            outcomes.append(exc.code)
        except Exception as exc:
            outcomes.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(attempt,)) for attempt in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return sorted(outcomes)
