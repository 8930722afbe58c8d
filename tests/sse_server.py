"""A scripted OpenAI-compatible chat-completions server on loopback (wire tests, the bench).

Standard library only (asyncio streams), so it runs in the test process, in a background thread,
or as its own process:

    # in async tests
    async with ScriptedOpenAIServer(Script(tokens=["Hello", " world"])) as srv:
        client = AsyncOpenAI(api_key="sk-test", base_url=srv.base_url)  # http://127.0.0.1:PORT/v1
        srv.enqueue(Script(status=429))  # the next request gets this, later ones the default
        ...
        srv.requests[0].body["model"], srv.requests[0].client_disconnected

    # in sync tests
    with ScriptedOpenAIServer().running_in_thread() as srv: ...

    # as a process (the bench): prints "listening on http://127.0.0.1:PORT/v1" once bound
    python tests/sse_server.py --port 0 --tokens 200 --tokens-per-second 50 --ttft 0.3

It answers ``POST /v1/chat/completions`` and ``POST /chat/completions``. A streamed answer is
exactly OpenAI's ``chat.completion.chunk`` SSE format over chunked transfer encoding: a first
chunk with ``delta.role``, one chunk per content piece (each its own write, TCP_NODELAY), a chunk
with ``finish_reason``, a usage chunk with ``choices: []`` when the request asked for
``stream_options.include_usage``, then ``data: [DONE]``. Non-streamed requests get a plain
``chat.completion`` JSON body. Errors are OpenAI's ``{"error": {"message", "type", "param",
"code"}}`` bodies.

Each request is recorded (`RecordedRequest`): method, path, headers, parsed body, how many content
chunks were sent, whether the stream reached its end, and whether the client disconnected before
the server was done — which is how a test proves that stopping a generation closed the upstream.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import signal
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "DEFAULT_TOKENS",
    "RecordedRequest",
    "Script",
    "ScriptedOpenAIServer",
    "main",
    "make_tokens",
]

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

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

_MAX_HEAD = 64 * 1024
_MAX_BODY = 16 * 1024 * 1024


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


class _ClientGone(Exception):
    """The client closed the connection while we were answering."""


class _Input:
    """A small buffered reader over an asyncio StreamReader that can also watch for EOF."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self._buf = bytearray()
        self.eof = False

    async def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            data = await self._reader.read(65536)
        except (ConnectionError, OSError):
            data = b""
        if not data:
            self.eof = True
            return False
        self._buf += data
        return True

    async def read_head(self) -> bytes | None:
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self._buf[:end])
                del self._buf[: end + 4]
                return head
            if len(self._buf) > _MAX_HEAD:
                raise ValueError("request head too large")
            if not await self._fill():
                return None

    async def read_exactly(self, n: int) -> bytes:
        while len(self._buf) < n:
            if not await self._fill():
                raise _ClientGone
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    async def read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            while b"\r\n" not in self._buf:
                if not await self._fill():
                    raise _ClientGone
            line, _, rest = bytes(self._buf).partition(b"\r\n")
            self._buf = bytearray(rest)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                # trailers, up to the blank line
                while True:
                    while b"\r\n" not in self._buf:
                        if not await self._fill():
                            raise _ClientGone
                    trailer, _, rest = bytes(self._buf).partition(b"\r\n")
                    self._buf = bytearray(rest)
                    if not trailer:
                        return bytes(body)
            body += await self.read_exactly(size)
            await self.read_exactly(2)
            if len(body) > _MAX_BODY:
                raise ValueError("request body too large")

    async def wait_eof(self) -> None:
        """Returns when the client closes its side (reads and buffers anything it sends)."""
        while await self._fill():
            pass


class ScriptedOpenAIServer:
    """An OpenAI-compatible server on 127.0.0.1 whose answers follow `Script`s.

    ``script`` is the default answer; ``enqueue()`` queues per-request answers used first, in
    order. Use ``async with`` (or ``start()``/``stop()``) inside an event loop, or
    ``running_in_thread()`` from sync code.
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = "gpt-4o-mini",
    ) -> None:
        self.default_script = script or Script()
        self.host = host
        self.port = port
        self.model = model
        self.requests: list[RecordedRequest] = []
        self._queue: deque[Script] = deque()
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.connections = 0

    # ----------------------------------------------------------------- scripting

    def set_script(self, script: Script) -> None:
        """Replace the default answer (used when the queue is empty)."""
        self.default_script = script

    def enqueue(self, *scripts: Script) -> None:
        """Answer the next requests with these scripts, in order, then fall back to the default."""
        self._queue.extend(scripts)

    # ----------------------------------------------------------------- observing

    @property
    def base_url(self) -> str:
        """What to give the openai client: ``http://127.0.0.1:PORT/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def request_count(self) -> int:
        return len(self.requests)

    @property
    def disconnect_count(self) -> int:
        """Requests whose client went away before the answer was over."""
        return sum(1 for r in self.requests if r.client_disconnected)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.rstrip("/").endswith("/chat/completions")]

    async def wait_for(self, predicate: Any, timeout: float = 2.0) -> bool:
        """Poll `predicate()` until true or `timeout` (works whichever thread runs the server)."""
        deadline = time.monotonic() + timeout
        while True:
            if predicate():
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.005)

    async def wait_ended(self, index: int = -1, timeout: float = 2.0) -> RecordedRequest:
        """Wait until request `index` has been fully handled (answered or client gone)."""

        def ended() -> bool:
            try:
                return self.requests[index].ended
            except IndexError:
                return False

        if not await self.wait_for(ended, timeout):
            raise TimeoutError(f"request {index} did not end within {timeout} s")
        return self.requests[index]

    def wait_ended_sync(self, index: int = -1, timeout: float = 2.0) -> RecordedRequest:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.requests[index].ended:
                    return self.requests[index]
            except IndexError:
                pass
            time.sleep(0.005)
        raise TimeoutError(f"request {index} did not end within {timeout} s")

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> ScriptedOpenAIServer:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 2)
        self._server = None

    async def __aenter__(self) -> ScriptedOpenAIServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    @contextlib.contextmanager
    def running_in_thread(self) -> Iterator[ScriptedOpenAIServer]:
        """Run the server on its own event loop in a daemon thread for the `with` block."""
        ready = threading.Event()
        stop_holder: dict[str, asyncio.Event] = {}
        errors: list[BaseException] = []

        async def run() -> None:
            try:
                await self.start()
            except BaseException as exc:  # report bind errors to the caller
                errors.append(exc)
                ready.set()
                return
            stop_holder["stop"] = asyncio.Event()
            ready.set()
            await stop_holder["stop"].wait()
            await self.stop()

        thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
        thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        self._thread = thread
        try:
            yield self
        finally:
            loop = self._loop
            if loop is not None and "stop" in stop_holder:
                loop.call_soon_threadsafe(stop_holder["stop"].set)
            thread.join(10)
            self._thread = None

    # ----------------------------------------------------------------- HTTP

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        inp = _Input(reader)
        try:
            while True:
                keep_alive = await self._one_request(inp, writer)
                if not keep_alive:
                    break
        except (_ClientGone, ConnectionError, OSError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            if not writer.transport.is_closing():
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _one_request(self, inp: _Input, writer: asyncio.StreamWriter) -> bool:
        head = await inp.read_head()
        if head is None:
            return False
        lines = head.decode("latin-1").split("\r\n")
        method, path, version = [*lines[0].split(" "), "", ""][:3]
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            raw = await inp.read_chunked()
        else:
            length = int(headers.get("content-length") or 0)
            if length > _MAX_BODY:
                raise ValueError("request body too large")
            raw = await inp.read_exactly(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"

        route = path.split("?", 1)[0].rstrip("/")
        is_chat = route in ("/v1/chat/completions", "/chat/completions")
        script = self._next_script() if is_chat else Script(status=404)
        record = RecordedRequest(
            method=method, path=path, headers=headers, body=body, raw_body=raw, script=script
        )
        self.requests.append(record)
        try:
            if not is_chat:
                await self._send_error(
                    writer,
                    record,
                    404,
                    {
                        "error": {
                            "message": f"Invalid URL ({method} {path})",
                            "type": "invalid_request_error",
                            "param": None,
                            "code": None,
                        }
                    },
                    {},
                    keep_alive,
                )
                return keep_alive
            if method != "POST":
                await self._send_error(
                    writer,
                    record,
                    405,
                    _error_body("Method not allowed", "invalid_request_error", None),
                    {},
                    keep_alive,
                )
                return keep_alive
            return await self._answer(inp, writer, record, keep_alive)
        except (_ClientGone, ConnectionError, OSError):
            record.client_disconnected = True
            raise _ClientGone from None
        finally:
            record.ended = True
            record.ended_at = time.monotonic()

    def _next_script(self) -> Script:
        try:
            return self._queue.popleft()
        except IndexError:
            return self.default_script

    async def _answer(
        self, inp: _Input, writer: asyncio.StreamWriter, record: RecordedRequest, keep_alive: bool
    ) -> bool:
        script = record.script
        body = record.body if isinstance(record.body, dict) else {}
        model = script.model or body.get("model") or self.model
        watcher = asyncio.ensure_future(inp.wait_eof())
        try:
            await _sleep_unless_gone(watcher, script.ttfb)
            if script.status != 200:
                await self._send_error(
                    writer,
                    record,
                    script.status,
                    self._error_for(script, record, model),
                    script.headers,
                    keep_alive,
                )
                return keep_alive
            if not body.get("stream"):
                await self._send_completion(writer, record, body, model, keep_alive)
                return keep_alive
            return await self._stream(writer, record, body, model, watcher, keep_alive)
        finally:
            if not watcher.done():
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    def _error_for(self, script: Script, record: RecordedRequest, model: str) -> dict[str, Any]:
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
        elif status == 429:
            if script.error_code == "insufficient_quota":
                etype, code = "insufficient_quota", "insufficient_quota"
                message = (
                    "You exceeded your current quota, please check your plan and billing details."
                )
            else:
                etype, code = "requests", "rate_limit_exceeded"
                message = (
                    f"Rate limit reached for {model} on requests per min (RPM): Limit 3, Used 3, "
                    "Requested 1. Please try again in 20s."
                )
        elif status >= 500:
            etype, code = "server_error", None
            message = "The server had an error while processing your request. Sorry about that!"
        return _error_body(
            script.error_message or message,
            script.error_type or etype,
            script.error_code if script.error_code is not None else code,
        )

    async def _send_error(
        self,
        writer: asyncio.StreamWriter,
        record: RecordedRequest,
        status: int,
        payload: dict[str, Any],
        extra: dict[str, str],
        keep_alive: bool,
    ) -> None:
        data = json.dumps(payload).encode()
        head = _head(
            status,
            {
                "content-type": "application/json",
                "content-length": str(len(data)),
                "connection": "keep-alive" if keep_alive else "close",
                "x-request-id": _request_id(),
                **extra,
            },
        )
        record.status = status
        writer.write(head + data)
        await writer.drain()
        record.completed = True

    async def _send_completion(
        self,
        writer: asyncio.StreamWriter,
        record: RecordedRequest,
        body: dict[str, Any],
        model: str,
        keep_alive: bool,
    ) -> None:
        script = record.script
        tokens = _limited(script, body)
        text = "".join(tokens)
        finish = script.finish_reason or "stop"
        if script.honor_max_tokens and len(tokens) < len(script.tokens):
            finish = "length"
        payload = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "usage": _usage(body, len(tokens)),
        }
        data = json.dumps(payload).encode()
        head = _head(
            200,
            {
                "content-type": "application/json",
                "content-length": str(len(data)),
                "connection": "keep-alive" if keep_alive else "close",
                "x-request-id": _request_id(),
                **script.headers,
            },
        )
        record.status = 200
        writer.write(head + data)
        await writer.drain()
        record.chunks_sent = len(tokens)
        record.text_sent = text
        record.completed = True

    async def _stream(
        self,
        writer: asyncio.StreamWriter,
        record: RecordedRequest,
        body: dict[str, Any],
        model: str,
        watcher: asyncio.Future[None],
        keep_alive: bool,
    ) -> bool:
        script = record.script
        tokens = _limited(script, body)
        finish = script.finish_reason
        if finish is not None and script.honor_max_tokens and len(tokens) < len(script.tokens):
            finish = "length"
        options = body.get("stream_options") or {}
        include_usage = (
            bool(options.get("include_usage")) if script.usage is None else bool(script.usage)
        )
        chunk_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        base = {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": "fp_scripted",
        }

        def chunk(choices: list[dict[str, Any]], usage: Any = None) -> dict[str, Any]:
            data = {**base, "choices": choices}
            if include_usage:
                data["usage"] = usage
            return data

        def choice(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

        async def send(event: dict[str, Any] | str) -> None:
            if watcher.done():
                raise _ClientGone
            text = event if isinstance(event, str) else json.dumps(event, ensure_ascii=False)
            payload = f"data: {text}\n\n".encode()
            writer.write(b"%x\r\n%s\r\n" % (len(payload), payload))
            await writer.drain()

        record.status = 200
        writer.write(
            _head(
                200,
                {
                    "content-type": "text/event-stream; charset=utf-8",
                    "transfer-encoding": "chunked",
                    "cache-control": "no-cache",
                    "connection": "keep-alive" if keep_alive else "close",
                    "x-request-id": _request_id(),
                    "openai-processing-ms": "1",
                    **script.headers,
                },
            )
        )
        await writer.drain()
        await send(chunk([choice({"role": "assistant", "content": "", "refusal": None})]))
        await _sleep_unless_gone(watcher, script.ttft)

        size = max(1, script.chunk_size)
        pieces = ["".join(tokens[i : i + size]) for i in range(0, len(tokens), size)]
        for n, piece in enumerate(pieces):
            if script.stream_error is not None and n == script.stream_error_after:
                return await self._stream_error(writer, record, send, script)
            if script.cut_after is not None and n == script.cut_after:
                await _abort(writer)
                record.completed = True
                return False
            if n:
                await _sleep_unless_gone(watcher, script.interval)
            await send(chunk([choice({"content": piece})]))
            record.chunks_sent += 1
            record.text_sent += piece
        if script.stream_error is not None and script.stream_error_after >= len(pieces):
            return await self._stream_error(writer, record, send, script)
        if script.cut_after is not None and script.cut_after >= len(pieces):
            await _abort(writer)
            record.completed = True
            return False

        if finish is not None:
            await send(chunk([choice({}, finish)]))
        if include_usage:
            await send(chunk([], _usage(body, len(tokens))))
        if script.done:
            await send("[DONE]")
        if script.abort_at_end:
            await _abort(writer)
            record.completed = True
            return False
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        record.completed = True
        return keep_alive

    async def _stream_error(
        self, writer: asyncio.StreamWriter, record: RecordedRequest, send: Any, script: Script
    ) -> bool:
        error = dict(script.stream_error or {})
        error.setdefault("message", "The server had an error while processing your request.")
        error.setdefault("type", "server_error")
        error.setdefault("param", None)
        error.setdefault("code", None)
        await send({"error": error})
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        record.completed = True
        return False


def _error_body(message: str, etype: str | None, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


def _limited(script: Script, body: dict[str, Any]) -> list[str]:
    tokens = list(script.tokens)
    if script.honor_max_tokens:
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if isinstance(limit, int) and limit >= 0:
            tokens = tokens[:limit]
    return tokens


def _usage(body: dict[str, Any], completion_tokens: int) -> dict[str, Any]:
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


def _request_id() -> str:
    return f"req_{uuid.uuid4().hex}"


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append("date: " + time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _sleep_unless_gone(watcher: asyncio.Future[None], seconds: float) -> None:
    """Sleep, but raise _ClientGone as soon as the client closes the connection."""
    if watcher.done():
        raise _ClientGone
    if seconds > 0:
        await asyncio.wait({watcher}, timeout=seconds)
        if watcher.done():
            raise _ClientGone


async def _abort(writer: asyncio.StreamWriter) -> None:
    """Close the socket abruptly once what was written has left the buffer (no chunk terminator)."""
    await writer.drain()
    for _ in range(200):
        if writer.transport.get_write_buffer_size() == 0:
            break
        await asyncio.sleep(0.001)
    writer.transport.abort()


# --------------------------------------------------------------------- command line


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="A scripted OpenAI-compatible streaming server.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    p.add_argument("--tokens", type=int, default=None, help="answer with N tokens")
    p.add_argument("--text", default=None, help="answer with these words (split on spaces)")
    p.add_argument("--tokens-per-second", type=float, default=None)
    p.add_argument("--delay", type=float, default=0.0, help="seconds between chunks")
    p.add_argument("--ttfb", type=float, default=0.0, help="seconds before response headers")
    p.add_argument("--ttft", type=float, default=0.0, help="seconds before the first token")
    p.add_argument("--chunk-size", type=int, default=1, help="tokens per chunk")
    p.add_argument("--finish-reason", default="stop")
    p.add_argument("--status", type=int, default=200)
    p.add_argument("--error-code", default=None)
    p.add_argument("--cut-after", type=int, default=None)
    p.add_argument("--no-done", action="store_true", help="omit data: [DONE]")
    p.add_argument("--model", default="gpt-4o-mini")
    return p.parse_args(argv)


def script_from_args(args: argparse.Namespace) -> Script:
    if args.text:
        words = args.text.split(" ")
        tokens: Sequence[str] = [words[0]] + [" " + w for w in words[1:]]
    else:
        tokens = DEFAULT_TOKENS
    if args.tokens is not None:
        tokens = make_tokens(args.tokens, tokens)
    return replace(
        Script(),
        tokens=tuple(tokens),
        tokens_per_second=args.tokens_per_second,
        delay=args.delay,
        ttfb=args.ttfb,
        ttft=args.ttft,
        chunk_size=args.chunk_size,
        finish_reason=None if args.finish_reason == "none" else args.finish_reason,
        status=args.status,
        error_code=args.error_code,
        cut_after=args.cut_after,
        done=not args.no_done,
        honor_max_tokens=True,
    )


async def _amain(args: argparse.Namespace) -> None:
    server = ScriptedOpenAIServer(script_from_args(args), host=args.host, port=args.port)
    server.model = args.model
    await server.start()
    print(f"listening on {server.base_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()
    done = sum(1 for r in server.requests if r.completed)
    gone = server.disconnect_count
    print(f"served {server.request_count} requests ({done} completed, {gone} disconnected)")


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(_amain(_parse_args(argv)))


if __name__ == "__main__":
    main()
