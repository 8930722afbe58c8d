"""The WebSocket protocol's client messages: parsing and validation, nothing else.

The protocol is described in the README ("The WebSocket protocol"). Every refusal is a
`DiaryError` (diaries.exceptions), which the consumer turns into an `error` frame; the socket
stays open.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings

from .exceptions import DiaryError, InvalidInputs
from .models import DiaryEntry

ACTIONS = ("generate", "sendmessage", "watch", "cancel")
INPUT_FIELDS = DiaryEntry.INPUT_FIELDS
REQUEST_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def bad(message: str, *, entry: int | None = None) -> DiaryError:
    """A `bad_request` refusal, to raise."""
    return DiaryError(message, entry=entry)


def invalid(errors: dict[str, list[str]]) -> InvalidInputs:
    """A `bad_request` for inputs the form refused: the message names every problem, and
    `fields` (in the error frame) says which field each is about, so the page marks them."""
    fields = {name: [str(error) for error in messages] for name, messages in errors.items()}
    message = "; ".join(
        f"{name}: {' '.join(messages)}" if name != "__all__" else " ".join(messages)
        for name, messages in fields.items()
    )
    return InvalidInputs(message, fields=fields)


def parse(text: str | None, binary: bytes | None) -> dict[str, Any]:
    """A JSON object with a known `action`, or DiaryError."""
    if binary is not None and text is None:
        raise bad("Binary frames are not supported; send JSON text.")
    try:
        message = json.loads(text or "")
    except (ValueError, RecursionError):
        raise bad("The message is not valid JSON.") from None
    if not isinstance(message, dict):
        raise bad("The message must be a JSON object with an 'action'.")
    action = message.get("action")
    if not isinstance(action, str) or action not in ACTIONS:
        raise bad(f"Unknown action. Use one of: {', '.join(ACTIONS)}.")
    return message


def entry_id(message: dict[str, Any], *, required: bool = True) -> int | None:
    value = message.get("entry")
    if value is None and not required:
        return None
    # bool is an int in Python; an id is not.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise bad("'entry' must be the id (a positive integer) of one of your entries.")
    return value


def request_id(message: dict[str, Any]) -> str | None:
    value = message.get("request_id")
    if value is None:
        return None
    if not isinstance(value, str) or not REQUEST_ID.match(value):
        raise bad("'request_id' must be 1 to 64 letters, digits or -_.: characters.")
    return value


def replace_edit(message: dict[str, Any]) -> bool:
    """Whether a `generate` may replace the entry's text when it is the owner's own."""
    value = message.get("replace_edit", False)
    if not isinstance(value, bool):
        raise bad("'replace_edit' must be true or false.")
    return value


def inputs(message: dict[str, Any]) -> dict[str, str]:
    """The entry inputs of a `generate`, as strings for EntryInputsForm."""
    data: dict[str, str] = {}
    limit = settings.DIARY_MAX_NOTE_CHARS
    for name in INPUT_FIELDS:
        value = message.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise bad(f"'{name}' must be a string.")
        if len(value) > limit:
            raise bad(f"'{name}' is too long: at most {limit} characters.")
        data[name] = value
    return data


def free_text(message: dict[str, Any]) -> str:
    value = message.get("data")
    if not isinstance(value, str) or not value.strip():
        raise bad("'data' must be a non-empty string: what happened today.")
    if len(value) > settings.DIARY_MAX_NOTE_CHARS:
        raise bad(f"'data' is too long: at most {settings.DIARY_MAX_NOTE_CHARS} characters.")
    return value
