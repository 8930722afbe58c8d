"""A scripted OpenAI-compatible chat-completions server on loopback (wire tests, the bench).

Built on ``aiohttp.web``; it runs in the test's event loop, in a background thread, or as its
own process:

    # in async tests
    async with ScriptedOpenAIServer(Script(tokens=["Hello", " world"])) as srv:
        client = AsyncOpenAI(api_key="sk-test", base_url=srv.base_url)  # http://127.0.0.1:PORT/v1
        srv.enqueue(Script(status=429))  # the next request gets this, later ones the default
        ...
        srv.requests[0].body["model"], srv.requests[0].client_disconnected

    # in sync tests
    with ScriptedOpenAIServer().running_in_thread() as srv: ...

    # as a process: prints "listening on http://127.0.0.1:PORT/v1" once bound
    python -m tests.support.openai_server --tokens 200 --tokens-per-second 50 --ttft 0.3
    python -m tests.support.openai_server --profile llama-cpp-python --runaway

It answers ``POST /v1/chat/completions`` and ``POST /chat/completions``. A streamed answer is
OpenAI's ``chat.completion.chunk`` SSE format over chunked transfer encoding: a first chunk with
``delta.role``, one chunk per content piece (each its own write; aiohttp sets TCP_NODELAY), a
chunk with ``finish_reason``, a usage chunk with ``choices: []`` when the request asked for
``stream_options.include_usage``, then ``data: [DONE]``. Non-streamed requests get a plain
``chat.completion`` body. Errors are OpenAI's ``{"error": {"message", "type", "param", "code"}}``.

How the bytes look is the server's `Profile`: OpenAI's own by default, or one of the servers
people run (``ScriptedOpenAIServer(profile="llama-cpp-python")``; "ollama", "vllm",
"lm-studio"): which limit it reads, when it sends usage, its JSON, its line ends, its pings.

What to answer (`Script`), how a server writes (`Profile`) and what was seen (`RecordedRequest`)
live in openai_script.py; they are re-exported here. Each request is recorded, including whether
the client disconnected before the server was done — which is how a test proves that stopping a
generation closed the upstream. The server runs with aiohttp's ``handler_cancellation``, so a
client that goes away cancels its handler at once, mid-sleep or mid-stream. A cut mid-body
(``cut_after``, ``abort_at_end``) is ``request.transport.abort()`` once the bytes written so far
have left the buffer: the client sees the connection reset with no chunk terminator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import itertools
import json
import signal
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

from aiohttp import web

from tests.support.openai_script import (
    DEFAULT_TOKENS,
    MAX_BODY,
    OPENAI,
    PROFILES,
    Profile,
    RecordedRequest,
    Script,
    error_body,
    error_for,
    make_tokens,
    plan_answer,
    usage_for,
)

__all__ = [
    "DEFAULT_TOKENS",
    "PROFILES",
    "ClientGone",
    "Profile",
    "RecordedRequest",
    "SSEStream",
    "Script",
    "ScriptedOpenAIServer",
    "main",
    "make_tokens",
    "serve_until_signalled",
    "usage_for",
]


class ClientGone(Exception):
    """The client closed the connection while we were answering."""


def _request_id() -> str:
    return f"req_{uuid.uuid4().hex}"


class SSEStream:
    """One streamed answer: ``chat.completion.chunk`` events, each its own chunk and write, in
    `profile`'s dialect."""

    def __init__(
        self,
        request: web.Request,
        body: dict[str, Any],
        model: str,
        usage: bool,
        profile: Profile = OPENAI,
    ):
        self.request = request
        self.body = body
        self.include_usage = usage
        self.profile = profile
        self.response = web.StreamResponse(
            headers={
                "content-type": profile.content_type,
                "cache-control": "no-cache",
                "x-request-id": _request_id(),
                "openai-processing-ms": "1",
            }
        )
        self.response.enable_chunked_encoding()
        self.base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            **profile.chunk_fields,
        }
        self._pinger: asyncio.Task | None = None

    async def open(self, headers: dict[str, str] | None = None) -> None:
        """Send the status line and headers, then the role chunk (if the server sends one)."""
        self.response.headers.update(headers or {})
        await self.response.prepare(self.request)
        if self.profile.ping_seconds:
            self._pinger = asyncio.create_task(self._ping(self.profile.ping_seconds))
        if self.profile.role_delta is not None:
            await self.send(self.choice(dict(self.profile.role_delta)))

    def chunk(self, choices: list[dict[str, Any]], usage: Any = None) -> dict[str, Any]:
        data = {**self.base, "choices": choices}
        if self.include_usage and (usage is not None or self.profile.usage_null_on_chunks):
            data["usage"] = usage
        return data

    def choice(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        """A chunk with one choice carrying `delta`."""
        if self.profile.role_on_every_chunk:
            delta = {"role": "assistant", **delta}
        one = {
            "index": 0,
            "delta": delta,
            **self.profile.choice_fields,
            "finish_reason": finish_reason,
        }
        return self.chunk([one])

    def encode(self, event: dict[str, Any] | str) -> bytes:
        """One ``data:`` event, as the profile's server writes it."""
        profile = self.profile
        if isinstance(event, str):
            text = event
        else:
            separators = (",", ":") if profile.compact_json else None
            text = json.dumps(event, ensure_ascii=profile.ascii_json, separators=separators)
            if profile.escape_html:
                text = text.replace("<", "\\u003c").replace(">", "\\u003e")
                text = text.replace("&", "\\u0026")
        end = profile.line_end
        return f"data: {text}{end}{end}".encode()

    async def send(self, event: dict[str, Any] | str) -> float:
        """Write one ``data:`` event as its own chunk; the monotonic time it was written."""
        transport = self.request.transport
        if transport is None or transport.is_closing():
            raise ClientGone
        at = time.monotonic()
        await self.response.write(self.encode(event))
        return at

    async def _ping(self, every: float) -> None:
        """sse-starlette's keep-alive: a comment line, then a blank line, every `every` s."""
        end = self.profile.line_end
        while True:
            await asyncio.sleep(every)
            transport = self.request.transport
            if transport is None or transport.is_closing():
                return
            stamp = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
            try:
                await self.response.write(f": ping - {stamp}{end}{end}".encode())
            except (ConnectionError, RuntimeError):
                return  # the client went away; the answer's own write will see it

    def stop_pinging(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            self._pinger = None

    async def finish(self, completion_tokens: int, finish_reason: str | None, done: bool) -> None:
        """The finish chunk (unless None), the usage chunk if asked for, then ``[DONE]``."""
        if finish_reason is not None:
            await self.send(self.choice(dict(self.profile.finish_delta), finish_reason))
        await self.trailer(completion_tokens, done)

    async def trailer(self, completion_tokens: int, done: bool) -> None:
        """What follows the finish: the usage chunk if asked for, then ``[DONE]``."""
        if self.include_usage:
            usage = usage_for(self.body, completion_tokens, details=self.profile.usage_details)
            await self.send(self.chunk([], usage))
        if done:
            await self.send("[DONE]")

    async def end(self) -> None:
        """Terminate the chunked body cleanly."""
        self.stop_pinging()
        await self.response.write_eof()

    async def abort(self) -> None:
        """Reset the connection once what was written has left the buffer (no terminator)."""
        self.stop_pinging()
        transport = self.request.transport
        if transport is None:
            return
        for _ in range(200):
            if transport.get_write_buffer_size() == 0:
                break
            await asyncio.sleep(0.001)
        transport.abort()


class ScriptedOpenAIServer:
    """An OpenAI-compatible server on 127.0.0.1 whose answers follow `Script`s.

    ``script`` is the default answer; ``enqueue()`` queues per-request answers used first, in
    order. Use ``async with`` (or ``start()``/``stop()``) inside an event loop, or
    ``running_in_thread()`` from sync code. Subclasses may override ``stream()``.
    """

    def __init__(
        self,
        script: Script | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = "gpt-4o-mini",
        profile: Profile | str = OPENAI,
    ) -> None:
        self.default_script = script or Script()
        self.profile = PROFILES[profile] if isinstance(profile, str) else profile
        self.host = host
        self.port = port
        self.model = model
        self.requests: list[RecordedRequest] = []
        self.connections = 0  # TCP connections seen (keep-alive reuses one)
        self._queue: deque[Script] = deque()
        self._transports: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()
        self._runner: web.AppRunner | None = None
        self._stopping = False

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

    def _ended(self, index: int) -> bool:
        try:
            return self.requests[index].ended
        except IndexError:
            return False

    async def wait_for(self, predicate: Any, timeout: float = 2.0) -> bool:
        """Poll `predicate()` until true or `timeout` (works whichever thread runs the server)."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.005)
        return True

    async def wait_ended(self, index: int = -1, timeout: float = 2.0) -> RecordedRequest:
        """Wait until request `index` has been fully handled (answered or client gone)."""
        if not await self.wait_for(lambda: self._ended(index), timeout):
            raise TimeoutError(f"request {index} did not end within {timeout} s")
        return self.requests[index]

    def wait_ended_sync(self, index: int = -1, timeout: float = 2.0) -> RecordedRequest:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ended(index):
                return self.requests[index]
            time.sleep(0.005)
        raise TimeoutError(f"request {index} did not end within {timeout} s")

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> ScriptedOpenAIServer:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._stopping = False
        return self

    async def stop(self) -> None:
        if self._runner is None:
            return
        self._stopping = True
        for transport in list(self._transports):
            transport.abort()
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> ScriptedOpenAIServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @contextlib.contextmanager
    def running_in_thread(self) -> Iterator[ScriptedOpenAIServer]:
        """Run the server on its own event loop in a daemon thread for the `with` block."""
        ready = threading.Event()
        holder: dict[str, Any] = {}

        async def run() -> None:
            try:
                await self.start()
            except BaseException as exc:  # report bind errors to the caller
                holder["error"] = exc
                ready.set()
                return
            holder["loop"], holder["stop"] = asyncio.get_running_loop(), asyncio.Event()
            ready.set()
            await holder["stop"].wait()
            await self.stop()

        thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
        thread.start()
        ready.wait(10)
        if "error" in holder:
            raise holder["error"]
        try:
            yield self
        finally:
            if "stop" in holder:
                holder["loop"].call_soon_threadsafe(holder["stop"].set)
            thread.join(10)

    # ----------------------------------------------------------------- HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None and transport not in self._transports:
            self._transports.add(transport)
            self.connections += 1
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        route = request.path.rstrip("/")
        is_chat = route in ("/v1/chat/completions", "/chat/completions")
        record = RecordedRequest(
            method=request.method,
            path=request.raw_path,
            headers={name.lower(): value for name, value in request.headers.items()},
            body=body,
            raw_body=raw,
            script=self._next_script() if is_chat else Script(status=404),
        )
        self.requests.append(record)
        try:
            if not is_chat:
                message = f"Invalid URL ({request.method} {request.raw_path})"
                return self._error(record, 404, error_body(message, "invalid_request_error", None))
            if request.method != "POST":
                payload = error_body("Method not allowed", "invalid_request_error", None)
                return self._error(record, 405, payload)
            return await self._answer(request, record)
        except (ClientGone, ConnectionError):
            record.client_disconnected = True
            return web.Response(status=499)  # nobody reads it; aiohttp closes the connection
        except asyncio.CancelledError:
            record.client_disconnected = not self._stopping
            raise
        finally:
            record.ended = True
            record.ended_at = time.monotonic()

    def _next_script(self) -> Script:
        try:
            return self._queue.popleft()
        except IndexError:
            return self.default_script

    async def _answer(self, request: web.Request, record: RecordedRequest) -> web.StreamResponse:
        script = record.script
        body = record.body if isinstance(record.body, dict) else {}
        model = script.model or body.get("model") or self.model
        if script.ttfb > 0:
            await asyncio.sleep(script.ttfb)
        if script.status != 200:
            return self._error(
                record, script.status, error_for(script, record, model), script.headers
            )
        if not body.get("stream"):
            return self._completion(record, body, model)
        return await self.stream(request, record, body, model)

    def _error(
        self,
        record: RecordedRequest,
        status: int,
        payload: dict[str, Any],
        extra: dict[str, str] | None = None,
    ) -> web.Response:
        record.status = status
        record.completed = True
        headers = {"x-request-id": _request_id(), **(extra or {})}
        return web.json_response(payload, status=status, headers=headers)

    def _completion(
        self, record: RecordedRequest, body: dict[str, Any], model: str
    ) -> web.Response:
        script = record.script
        plan = plan_answer(script, body, self.profile)
        tokens = list(plan.tokens) if plan.tokens is not None else list(script.tokens)
        text = "".join(tokens)
        finish = plan.finish_reason or "stop"
        message = {"role": "assistant", "content": text, "refusal": None}
        payload = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": usage_for(body, len(tokens), details=self.profile.usage_details),
        }
        record.status = 200
        record.chunks_sent = len(tokens)
        record.text_sent = text
        record.completed = True
        headers = {"x-request-id": _request_id(), **script.headers}
        return web.json_response(payload, headers=headers)

    async def stream(
        self, request: web.Request, record: RecordedRequest, body: dict[str, Any], model: str
    ) -> web.StreamResponse:
        """A streamed answer as ``record.script`` says, in the profile's dialect."""
        script = record.script
        profile = self.profile
        plan = plan_answer(script, body, profile)
        asked = bool((body.get("stream_options") or {}).get("include_usage"))
        if profile.usage == "never":
            asked = False
        sse = SSEStream(
            request, body, model, asked if script.usage is None else script.usage, profile
        )
        if script.stream_error is not None:
            sse.response.force_close()
        record.status = 200
        try:
            await sse.open(script.headers)
            if script.ttft > 0:
                await asyncio.sleep(script.ttft)
            pieces = (
                "".join(group)
                for group in itertools.batched(plan.stream(script), max(1, script.chunk_size))
            )
            piece = next(pieces, None)
            n = 0
            while True:
                if script.stream_error is not None and (
                    n == script.stream_error_after or piece is None
                ):
                    return await self._stream_error(sse, record)
                if script.cut_after is not None and (n == script.cut_after or piece is None):
                    await sse.abort()
                    record.completed = True
                    return sse.response
                if piece is None:
                    break
                if n and script.interval > 0:
                    await asyncio.sleep(script.interval)
                following = next(pieces, None)
                last = following is None
                finish_here = (
                    plan.finish_reason if last and profile.finish_on_last_content else None
                )
                await sse.send(sse.choice({"content": piece}, finish_here))
                record.chunks_sent += 1
                record.text_sent += piece
                piece, n = following, n + 1
            if plan.cut:
                await sse.abort()
                record.completed = True
                return sse.response
            finish = plan.finish_reason
            if finish is not None and profile.finish_on_last_content and n:
                await sse.trailer(len(plan.tokens or ()), script.done)
            else:
                await sse.finish(len(plan.tokens or ()), finish, script.done)
            if script.abort_at_end:
                await sse.abort()
            else:
                await sse.end()
            record.completed = True
            return sse.response
        finally:
            sse.stop_pinging()

    async def _stream_error(self, sse: SSEStream, record: RecordedRequest) -> web.StreamResponse:
        error = dict(record.script.stream_error or {})
        error.setdefault("message", "The server had an error while processing your request.")
        error.setdefault("type", "server_error")
        error.setdefault("param", None)
        error.setdefault("code", None)
        await sse.send({"error": error})
        await sse.end()
        record.completed = True
        return sse.response


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
    p.add_argument(
        "--profile", default="openai", choices=sorted(PROFILES), help="which server to act as"
    )
    p.add_argument(
        "--runaway", action="store_true", help="a model that never stops by itself (see Script)"
    )
    return p.parse_args(argv)


def script_from_args(args: argparse.Namespace) -> Script:
    if args.text:
        words = args.text.split(" ")
        tokens: Sequence[str] = [words[0]] + [" " + w for w in words[1:]]
    else:
        tokens = DEFAULT_TOKENS
    if args.tokens is not None:
        tokens = make_tokens(args.tokens, tokens)
    return Script(
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
        runaway=args.runaway,
    )


async def serve_until_signalled(server: ScriptedOpenAIServer) -> None:
    """Start, print the address, and serve until SIGINT or SIGTERM."""
    await server.start()
    print(f"listening on {server.base_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()


async def _amain(args: argparse.Namespace) -> None:
    server = ScriptedOpenAIServer(
        script_from_args(args),
        host=args.host,
        port=args.port,
        model=args.model,
        profile=args.profile,
    )
    await serve_until_signalled(server)
    done = sum(1 for r in server.requests if r.completed)
    gone = server.disconnect_count
    print(f"served {server.request_count} requests ({done} completed, {gone} disconnected)")


def main(argv: Sequence[str] | None = None) -> None:
    asyncio.run(_amain(_parse_args(argv)))


if __name__ == "__main__":
    main()
