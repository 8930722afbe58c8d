"""The channel-layer messages of the diary, one constructor each.

A stream's frames go to the entry's group (`started`, `delta`, `error`, `done`); a `snapshot`
answers a socket's request to the process that owns a generation; `close` reaches a user's or a
session's sockets; the hub's own channel takes `snapshot_request` and `cancel_request`. A
message's `type` names the consumer handler Channels runs for it (`diary.delta` →
`DiaryConsumer.diary_delta`). Values are plain (str, int, None, a flat dict of ints), so every
layer can carry them.
"""

from __future__ import annotations

from typing import Any

STARTED = "diary.started"
DELTA = "diary.delta"
ERROR = "diary.error"
DONE = "diary.done"
SNAPSHOT = "diary.snapshot"
CLOSE = "diary.close"
SNAPSHOT_REQUEST = "hub.snapshot"
CANCEL_REQUEST = "hub.cancel"

Event = dict[str, Any]


def started(*, entry: int, generation: int) -> Event:
    """A generation of `entry` began."""
    return {"type": STARTED, "entry": entry, "generation": generation}


def delta(*, entry: int, generation: int, seq: int, text: str) -> Event:
    """The next piece of a generation's text; `seq` counts 1, 2, 3… per generation."""
    return {"type": DELTA, "entry": entry, "generation": generation, "seq": seq, "text": text}


def error(*, entry: int, code: str, message: str) -> Event:
    """A generation ended with an error a person can act on (its `done` follows)."""
    return {"type": ERROR, "entry": entry, "code": code, "message": message}


def done(
    *,
    entry: int,
    generation: int,
    status: str,
    text: str,
    seq: int,
    usage: dict[str, int] | None = None,
    finish_reason: str = "",
) -> Event:
    """A generation's end, sent only after its text is saved."""
    return {
        "type": DONE,
        "entry": entry,
        "generation": generation,
        "status": str(status),
        "text": text,
        "seq": seq,
        "usage": usage,
        "finish_reason": finish_reason,
    }


def snapshot(
    *,
    entry: int,
    generation: int | None,
    status: str,
    text: str,
    seq: int,
    attempt: int | None = None,
) -> Event:
    """The text so far of `entry`; `seq` is the last delta it includes."""
    event = {
        "type": SNAPSHOT,
        "entry": entry,
        "generation": generation,
        "status": str(status),
        "text": text,
        "seq": seq,
    }
    if attempt is not None:
        event["attempt"] = attempt
    return event


def snapshot_missing(*, entry: int, attempt: int | None = None) -> Event:
    """No runner holds `entry` here (or no answer came): the receiver reads the checkpoint."""
    event = {"type": SNAPSHOT, "entry": entry, "missing": True}
    if attempt is not None:
        event["attempt"] = attempt
    return event


def close(*, reason: str) -> Event:
    """Close the sockets of a group: signed out, password changed, deactivated."""
    return {"type": CLOSE, "reason": reason}


def snapshot_request(*, entry: int, reply_to: str) -> Event:
    """Ask the process that owns `entry`'s generation for a snapshot, answered to `reply_to`."""
    return {"type": SNAPSHOT_REQUEST, "entry": entry, "reply_to": reply_to}


def cancel_request(*, entry: int) -> Event:
    """Ask the process that owns `entry`'s generation to stop it."""
    return {"type": CANCEL_REQUEST, "entry": entry}
