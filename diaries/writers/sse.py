"""The body of a streamed chat completion, read raw: server-sent events, then each chunk's JSON.

The OpenAI writer lets the `openai` client make the request (authentication, retries, timeouts,
HTTP error statuses) and reads the body here: SSE lines split on bytes, each event's JSON read
into plain dicts, where the stock stream builds pydantic models for every chunk, the largest
cost per token of the relay (docs/benchmark.md). Errors are raised as the stock stream raises
them — `APIError` for an error event, `APITimeoutError` / `APIConnectionError` for transport
failures while reading — so the writer maps the same exceptions either way. No Django here.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
import openai
import orjson

from .base import Usage

__all__ = ["ChunkReader", "drain", "loads", "sse_event_batches"]

_TIMEOUT_ERRORS: tuple[type[BaseException], ...] = (httpx2.TimeoutException,)
_REQUEST_ERRORS: tuple[type[BaseException], ...] = (
    httpx2.RequestError,
    ssl.SSLError,
    anyio.EndOfStream,
)
_DRAIN_SECONDS = 1.0


def loads(data: str) -> Any:
    """`json.loads`, faster for the chunks every server sends: orjson reads them, and what
    orjson refuses but the standard library accepts (NaN, a lone surrogate escape) is read by the
    standard library. One difference is left: an integer beyond 64 bits reads as a float; the
    writer only reads token counts and a choice index from a chunk."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


async def sse_event_batches(
    response: httpx2.Response,
) -> AsyncIterator[list[tuple[str | None, str]]]:
    """`(event, data)` of the server-sent events of `response`, a list per network read (what
    piled up behind a busy event loop is handled in one step), as openai's `SSEDecoder` reads
    them — CR, LF and CRLF line ends; `data` lines joined with "\\n"; comments skipped; an event
    dispatched on a blank line when it has an event name, data, a last event id or a retry —
    without building an object per event. Read errors are raised as the stock stream raises
    them: `APITimeoutError`, `APIConnectionError`."""
    pending = b""  # the unfinished last line
    skip_lf = False  # the previous chunk ended with CR: a LF starting this one is its CRLF
    event: str | None = None
    data: list[bytes] = []
    last_id = b""  # kept across events, as the SSE specification (and openai) keep it
    retry = False
    # An SSE body is rarely compressed; when it is not, read it raw (one decoding layer less
    # per read) — httpx's aiter_bytes() would only pass it through.
    encoding = response.headers.get("content-encoding", "").strip().lower()
    body = response.aiter_raw() if encoding in ("", "identity") else response.aiter_bytes()
    try:
        async for chunk in body:
            if not chunk:
                continue
            if skip_lf:
                skip_lf = False
                if chunk[:1] == b"\n":
                    chunk = chunk[1:]
            if b"\r" in chunk:
                skip_lf = chunk.endswith(b"\r")
                chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            pending += chunk
            if b"\n" not in chunk:
                continue
            *lines, pending = pending.split(b"\n")
            batch = []
            for line in lines:
                if line.startswith(b"data: "):  # the common case first
                    data.append(line[6:])
                elif not line:
                    if event or data or last_id or retry:
                        batch.append((event, b"\n".join(data).decode("utf-8")))
                    event, data, retry = None, [], False
                elif line[:1] == b":":
                    continue
                else:
                    name, _, value = line.partition(b":")
                    if value[:1] == b" ":
                        value = value[1:]
                    if name == b"data":
                        data.append(value)
                    elif name == b"event":
                        event = value.decode("utf-8")
                    elif name == b"id":
                        if b"\0" not in value:
                            last_id = value
                    elif name == b"retry":
                        retry = retry or value.strip().lstrip(b"+-").isdigit()
            if batch:
                yield batch
    except _TIMEOUT_ERRORS as err:
        raise openai.APITimeoutError(request=response.request) from err
    except _REQUEST_ERRORS as err:
        raise openai.APIConnectionError(request=response.request) from err


async def drain(response: httpx2.Response) -> None:
    """Read what follows `[DONE]`, so an HTTP/1.1 connection goes back to the pool."""
    if response.is_closed:
        return
    try:
        with anyio.move_on_after(_DRAIN_SECONDS):
            async for _ in response.stream:  # type: ignore[union-attr]
                await anyio.lowlevel.checkpoint()
    except (*_REQUEST_ERRORS, httpx2.StreamConsumed):
        pass  # cleanup must not turn a finished answer into an error


def _stream_error(data: Any, request: httpx2.Request) -> openai.APIError | None:
    """The `APIError` the stock stream raises for `data: {"error": ...}`."""
    if not isinstance(data, dict) or not data.get("error"):
        return None
    error = data["error"]
    message = error.get("message") if isinstance(error, dict) else None
    if not message or not isinstance(message, str):
        message = "An error occurred during streaming"
    return openai.APIError(message=message, request=request, body=error)


class ChunkReader:
    """Reads a stream's chunks for choice 0: its text, then its finish reason and the usage."""

    __slots__ = ("done", "finish_reason", "usage")

    def __init__(self) -> None:
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.done = False  # `[DONE]` was read

    def read(
        self, batch: list[tuple[str | None, str]], request: httpx2.Request
    ) -> tuple[list[str], openai.APIError | None]:
        """The text pieces of one batch of events, and the error event that ended it, if any.

        The pieces before an error event or `[DONE]` are kept; what follows them is not read."""
        pieces: list[str] = []
        for _event, data in batch:
            if data.startswith("[DONE]"):
                self.done = True
                break
            chunk = loads(data)
            if not isinstance(chunk, dict):
                continue
            if chunk.get("error"):
                error = _stream_error(chunk, request)
                if error is not None:
                    return pieces, error
            counts = chunk.get("usage")
            if isinstance(counts, dict):
                self.usage = Usage(
                    prompt_tokens=counts.get("prompt_tokens"),
                    completion_tokens=counts.get("completion_tokens"),
                    total_tokens=counts.get("total_tokens"),
                )
            for choice in chunk.get("choices") or ():
                if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                    continue
                delta = choice.get("delta")
                content = delta.get("content") if isinstance(delta, dict) else None
                if content and isinstance(content, str):
                    pieces.append(content)
                if choice.get("finish_reason"):
                    self.finish_reason = str(choice["finish_reason"])
        return pieces, None
