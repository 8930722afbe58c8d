"""What the scripted OpenAI-compatible server answers: `Script`, how one request went
(`RecordedRequest`), and OpenAI's bodies (usage, errors) built from them. No I/O here."""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TOKENS: tuple[str, ...] = (
    "Today",
    " I",
    " woke",
    " up",
    " early",
    " and",
    " walked",
    " to",
    " the",
    " river",
    ".",
)

MAX_BODY = 16 * 1024 * 1024


def make_tokens(n: int, words: Sequence[str] = DEFAULT_TOKENS) -> list[str]:
    """`n` tokens cycling through `words` (the bench's "N tokens" answer)."""
    return list(itertools.islice(itertools.cycle(words), n))


@dataclass(frozen=True)
class Script:
    """How the server answers one request. All delays are in seconds.

    Timing: ``ttfb`` before the response headers; after the headers the role chunk goes out at
    once, then ``ttft`` before the first content chunk, then ``delay`` (or 1/``tokens_per_second``)
    between content chunks.

    Ending: ``finish_reason`` (None: no finish chunk at all), the usage chunk (``usage``: None
    follows the request's ``stream_options.include_usage``), ``done`` (send ``data: [DONE]``),
    ``abort_at_end`` (close the socket abruptly at the end instead of terminating the chunked body
    — what a proxy dropping the connection looks like), ``cut_after`` (abort the socket after that
    many content chunks: no finish, no usage, no [DONE]).

    Failures: ``status`` != 200 answers with an OpenAI-style JSON error body (``error_type``,
    ``error_code``, ``error_message`` override the defaults for that status; ``error_body`` replaces
    the whole body). ``stream_error`` sends ``data: {"error": {...}}`` after ``stream_error_after``
    content chunks and ends the stream. ``headers`` are added to the response (``retry-after-ms``,
    ``x-should-retry``…).
    """

    tokens: Sequence[str] = DEFAULT_TOKENS
    delay: float = 0.0
    tokens_per_second: float | None = None
    ttfb: float = 0.0
    ttft: float = 0.0
    chunk_size: int = 1
    finish_reason: str | None = "stop"
    usage: bool | None = None
    done: bool = True
    abort_at_end: bool = False
    cut_after: int | None = None
    honor_max_tokens: bool = True
    status: int = 200
    error_type: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_body: dict[str, Any] | None = None
    stream_error: dict[str, Any] | None = None
    stream_error_after: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    model: str | None = None

    @property
    def interval(self) -> float:
        if self.tokens_per_second:
            return 1.0 / self.tokens_per_second
        return self.delay


@dataclass
class RecordedRequest:
    """One request as the server saw it, and how its answer ended."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON (None if the body was not JSON)
    raw_body: bytes
    script: Script
    received_at: float = field(default_factory=time.monotonic)
    status: int | None = None
    chunks_sent: int = 0  # content chunks written
    text_sent: str = ""
    completed: bool = False  # the server wrote the whole answer as scripted
    client_disconnected: bool = False  # the client went away before the server was done
    ended: bool = False  # the server finished handling this request, one way or another
    ended_at: float | None = None

    @property
    def stream(self) -> bool:
        return isinstance(self.body, dict) and bool(self.body.get("stream"))


def usage_for(body: dict[str, Any], completion_tokens: int) -> dict[str, Any]:
    """An OpenAI ``usage`` object; prompt tokens are counted as words (+4 per message)."""
    messages = body.get("messages") or []
    prompt_tokens = sum(
        len(str(m.get("content", "")).split()) + 4 for m in messages if isinstance(m, dict)
    )
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def error_body(message: str, etype: str | None, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


def limited_tokens(script: Script, body: dict[str, Any]) -> list[str]:
    """The script's tokens, cut to the request's max_(completion_)tokens if it honours them."""
    tokens = list(script.tokens)
    if script.honor_max_tokens:
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and limit >= 0:
            tokens = tokens[:limit]
    return tokens


def error_for(script: Script, record: RecordedRequest, model: str) -> dict[str, Any]:
    """OpenAI's error body for the script's status (or the script's own)."""
    if script.error_body is not None:
        return script.error_body
    status = script.status
    etype, code, message = "invalid_request_error", None, "Bad request."
    if status == 401:
        # Harsher than OpenAI (which masks it): echo the whole key, so tests can prove that
        # nothing downstream repeats an upstream error message.
        key = record.headers.get("authorization", "").removeprefix("Bearer ")
        etype, code = "invalid_request_error", "invalid_api_key"
        message = f"Incorrect API key provided: {key}. You can find your API key in settings."
    elif status == 403:
        etype, code = "invalid_request_error", "unsupported_country_region_territory"
        message = "Country, region, or territory not supported."
    elif status == 404:
        etype, code = "invalid_request_error", "model_not_found"
        message = f"The model `{model}` does not exist or you do not have access to it."
    elif status == 429 and script.error_code == "insufficient_quota":
        etype, code = "insufficient_quota", "insufficient_quota"
        message = "You exceeded your current quota, please check your plan and billing details."
    elif status == 429:
        etype, code = "requests", "rate_limit_exceeded"
        message = (
            f"Rate limit reached for {model} on requests per min (RPM): Limit 3, Used 3, "
            "Requested 1. Please try again in 20s."
        )
    elif status >= 500:
        etype, code = "server_error", None
        message = "The server had an error while processing your request. Sorry about that!"
    return error_body(
        script.error_message or message,
        script.error_type or etype,
        script.error_code if script.error_code is not None else code,
    )
