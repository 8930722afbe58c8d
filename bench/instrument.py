"""Bench-only instrumentation shared by the Nikki and naive ASGI apps.

- Counts every SQL statement that writes (INSERT / UPDATE / DELETE), by verb and table, on every
  database connection the process opens (`connection_created` → an execute wrapper).
- Counts calls of the generation services (start, finish; the hub's batched checkpoint counted
  once per generation it saves) by wrapping them in their modules (`diaries.services.generations`,
  `diaries.services.entries`), where their callers look them up at call time.
- `with_stats(app)`: the app, plus `GET /__bench__/stats` answering these counters as JSON
  (with the process id), so the bench reads them between phases without stopping the server.

Nothing here changes what the app does; each counted statement costs a dict increment.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from typing import Any

SQL_WRITES: Counter[str] = Counter()
CALLS: Counter[str] = Counter()
_TABLE = re.compile(r'^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?([A-Za-z0-9_]+)"?', re.I)


def _count_sql(execute, sql, params, many, context):
    match = _TABLE.match(sql) if isinstance(sql, str) else None
    if match is not None:
        verb = match.group(1).split()[0].upper()
        SQL_WRITES[f"{verb} {match.group(2)}"] += 1
    return execute(sql, params, many, context)


def _on_connection(sender, connection, **kwargs):
    if _count_sql not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count_sql)


def _wrap(module: Any, name: str) -> None:
    original = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        CALLS[name] += 1
        return original(*args, **kwargs)

    counted.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(module, name, counted)


def _wrap_batched_checkpoint(module: Any) -> None:
    """The hub saves all of its runners in one call: count one checkpoint per generation whose
    text it saves and one heartbeat per generation it only marks alive."""
    original = module.generations_checkpoint

    def counted(*, texts: dict, alive: list) -> Any:
        CALLS["generation_checkpoint"] += len(texts)
        CALLS["generation_heartbeat"] += len([gid for gid in alive if gid not in texts])
        CALLS["generations_checkpoint"] += 1
        return original(texts=texts, alive=alive)

    counted.__wrapped__ = original  # type: ignore[attr-defined]
    module.generations_checkpoint = counted


_installed = False


def install() -> None:
    """Call once, after Django is set up."""
    global _installed
    if _installed:
        return
    from django.db.backends.signals import connection_created

    from diaries.services import entries, generations

    connection_created.connect(_on_connection, weak=False)
    _wrap_batched_checkpoint(generations)
    for module, name in (
        (generations, "generation_start"),
        (generations, "generation_finish"),
        (entries, "entry_create"),
    ):
        _wrap(module, name)
    _installed = True


def stats() -> dict[str, Any]:
    return {"pid": os.getpid(), "sql_writes": dict(SQL_WRITES), "calls": dict(CALLS)}


def with_stats(app):
    async def application(scope, receive, send):
        if scope["type"] == "http" and scope.get("path") == "/__bench__/stats":
            body = json.dumps(stats()).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    return application
