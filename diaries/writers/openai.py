"""The OpenAI writer: streams a chat completion from OpenAI or any OpenAI-compatible server.

Knows nothing of Django. The `openai` client (3.x, over httpx2 or its aiohttp transport) makes
the request — authentication, retries, timeouts and the HTTP error statuses are its own — and
the body is read raw (`with_streaming_response`) by `sse.py`, which raises in-stream errors as
the stock stream would, so `map_error` sees the same exceptions either way. `parser="stock"`
keeps the client's own stream (pydantic models per chunk), for comparison (docs/benchmark.md).

Guarantees:
- every upstream failure becomes a `WriterError` with a protocol code and a message a person can
  act on, which never contains the API key nor any text the upstream sent (`map_error`);
- the upstream HTTP stream is always closed when the generator ends, is closed (`aclose()`) or the
  task iterating it is cancelled — a `break` alone would leave it open (openai-python #969);
- a stream that ends without a `finish_reason` (cut mid-way) is a failure, while one that ends
  right after its `finish_reason` without `[DONE]` is a normal finish;
- an answer never runs past the request's `max_tokens` content chunks nor its `max_chars`
  characters, whether or not the server honours the limit it was sent (`limits.py`): past it,
  the stream is closed and the answer finishes with "length".

One `AsyncOpenAI` client (and so one connection pool and one TLS context) is shared by the
writers of the same configuration on the same event loop: building a client loads the CA bundle,
a CPU cost per generation that also blocks the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
import weakref
from collections.abc import AsyncIterator
from typing import Any, Literal

import anyio
import httpx2
import openai

from .base import Finish, Usage, WriterError, WriterRequest
from .limits import AUTO, OutputLimit, max_tokens_param_for
from .sse import ChunkReader, drain, sse_event_batches

__all__ = ["PLACEHOLDER_API_KEY", "OpenAIWriter", "map_error"]

logger = logging.getLogger("diaries.writers.openai")

# OpenAI-compatible servers (Ollama, vLLM, llama.cpp, LM Studio) ignore the key but the client
# refuses an empty one.
PLACEHOLDER_API_KEY = "no-key-required"

FILTER_CODES = frozenset({"content_filter", "content_policy_violation"})
_CODE_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")

_KEPT = "The text written so far is kept; you can try again."

MSG_AUTH = (
    "The language model service rejected our credentials, so the entry could not be written. "
    "The site's administrator needs to check the API key; your notes are saved."
)
MSG_QUOTA = (
    "The language model account has run out of credit, so retrying won't help until the site's "
    "administrator adds credit. Your notes are saved."
)
MSG_RATE_LIMITED = (
    "The language model service is receiving too many requests right now. "
    "Please wait a minute and try again. " + _KEPT
)
MSG_TIMEOUT = "The language model service took too long to answer. " + _KEPT
MSG_UNAVAILABLE = "The language model service is unavailable right now. " + _KEPT
MSG_CUT = "The connection to the language model service was cut before the entry was finished. "
MSG_FILTERED = (
    "The language model service's content filter stopped this entry. "
    "The text written so far is kept; you can reword your notes and try again."
)
MSG_INTERNAL = (
    "Something went wrong on our side while asking the language model to write. "
    "Your notes are saved; please try again later."
)


def _not_found_message(model: str) -> str:
    return (
        f"The language model service does not know the model {model!r} (or this account cannot "
        "use it). The site's administrator needs to check the model setting. " + _KEPT
    )


def _error_field(exc: BaseException, name: str) -> str | None:
    """`code` or `type` of an openai error (from the `error` object of the response body)."""
    value = getattr(exc, name, None)
    if value is None:
        body = getattr(exc, "body", None)
        if isinstance(body, dict):
            value = body.get(name)
    return str(value) if value is not None else None


def _error_code(exc: BaseException) -> str | None:
    return _error_field(exc, "code")


def _loggable(value: str | None) -> str | None:
    """An error code is an identifier; anything else from the upstream stays out of the logs."""
    if value is None or _CODE_RE.fullmatch(value):
        return value
    return "<unexpected>"


def _status_code(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _is_transport_failure(exc: BaseException) -> bool:
    """The connection failed or timed out (as opposed to the service answering with an error)."""
    return isinstance(
        exc,
        openai.APIConnectionError
        | httpx2.TransportError
        | ssl.SSLError
        | anyio.EndOfStream
        | ConnectionError,
    )


try:
    from aiohttp import ClientConnectorError as _AiohttpConnectError
except ImportError:  # openai without its aiohttp extra: only OPENAI_HTTP_CLIENT=httpx works
    _CONNECT_ERRORS: tuple[type[BaseException], ...] = (ConnectionRefusedError,)
else:
    _CONNECT_ERRORS = (ConnectionRefusedError, _AiohttpConnectError)


def _refused(exc: BaseException) -> bool:
    """A connection that could not be made (refused, unreachable, no such host).

    openai's aiohttp transport raises aiohttp's connector error as httpx's `ConnectTimeout`,
    which the client reports as `APITimeoutError`; the cause tells the truth."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, _CONNECT_ERRORS):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def map_error(exc: BaseException, *, model: str = "") -> WriterError:
    """The `WriterError` a person sees for an exception raised while streaming from the model.

    Messages are ours: the upstream's own message may quote the API key or the model's text.
    """
    if isinstance(exc, WriterError):
        return exc
    code = _error_code(exc)

    # Failures before or during the transfer, without an HTTP status.
    if _refused(exc):
        return WriterError("upstream_unavailable", MSG_UNAVAILABLE)
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException | TimeoutError):
        return WriterError("upstream_timeout", MSG_TIMEOUT)
    if isinstance(exc, openai.APIConnectionError):
        return WriterError("upstream_unavailable", MSG_UNAVAILABLE)

    # The service answered with an HTTP error status.
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return WriterError("upstream_auth", MSG_AUTH)
    if isinstance(exc, openai.RateLimitError):
        if "insufficient_quota" in (code, _error_field(exc, "type")):
            return WriterError("quota_exceeded", MSG_QUOTA)
        return WriterError("upstream_rate_limited", MSG_RATE_LIMITED)
    if isinstance(exc, openai.NotFoundError):
        return WriterError("upstream_unavailable", _not_found_message(model))
    if isinstance(exc, openai.APIStatusError):
        if code in FILTER_CODES:
            return WriterError("filtered", MSG_FILTERED, status="filtered")
        if exc.status_code == 408:
            return WriterError("upstream_timeout", MSG_TIMEOUT)
        if exc.status_code >= 500:
            return WriterError("upstream_unavailable", MSG_UNAVAILABLE)
        return WriterError("internal", MSG_INTERNAL)
    if isinstance(exc, openai.APIResponseValidationError):
        return WriterError("internal", MSG_INTERNAL)
    if isinstance(exc, openai.APIError):
        # An error event inside the stream (`data: {"error": {...}}`).
        return WriterError("upstream_unavailable", MSG_UNAVAILABLE)

    # httpx2 / socket errors that openai did not wrap (openai-python #2356, #2065).
    if isinstance(exc, httpx2.TransportError | ssl.SSLError | anyio.EndOfStream | ConnectionError):
        return WriterError("upstream_unavailable", MSG_CUT + _KEPT)
    if isinstance(exc, httpx2.DecodingError | json.JSONDecodeError):
        # The service sent something that is not a chat-completion stream.
        return WriterError("upstream_unavailable", MSG_UNAVAILABLE)
    return WriterError("internal", MSG_INTERNAL)


def _log_failure(exc: BaseException, err: WriterError) -> None:
    # Only the class name, HTTP status and error code: never the key, never upstream text.
    logger.warning(
        "openai stream failed: %s status=%s code=%s -> %s",
        type(exc).__name__,
        _status_code(exc),
        _loggable(_error_code(exc)),
        err.code,
    )


# --- shared clients ---------------------------------------------------------------------------


# A shared client outlives its last writer by this many seconds, so that generations one after
# another (a quiet server: one at a time) reuse it and its open connection: building a client
# (TLS context, pool) and connecting cost more than the rest of a generation's start.
SHARED_IDLE_SECONDS = 60.0


class _Shared:
    __slots__ = ("client", "idle", "users")

    def __init__(self, client: openai.AsyncOpenAI) -> None:
        self.client = client
        self.users = 0
        self.idle: asyncio.Task | None = None


async def _close_when_idle(clients: dict[tuple, _Shared], key: tuple, entry: _Shared) -> None:
    try:
        await asyncio.sleep(SHARED_IDLE_SECONDS)
    finally:  # slept out, or the loop is shutting down: either way the client is closed
        if entry.users == 0 and clients.get(key) is entry:
            del clients[key]
            await entry.client.close()


# event loop -> configuration -> client. A client's connections belong to the loop that opened
# them, so clients are shared per loop; a closed loop's clients go with it.
_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, _Shared]] = (
    weakref.WeakKeyDictionary()
)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


async def _close_quietly(closing) -> None:
    """Close an upstream response: shielded, so that a second cancellation cannot leave it open,
    and quietly, so that a failure to close does not hide what happened."""
    try:
        await asyncio.shield(closing)
    except Exception as exc:
        logger.debug("closing the openai stream failed: %s", type(exc).__name__)


class OpenAIWriter:
    """Streams a diary entry from `client.chat.completions.create(stream=True)`."""

    name = "openai"
    local = False

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        model: str,
        max_tokens_param: str = AUTO,
        temperature: float | None = None,
        parser: Literal["raw", "stock"] = "raw",
    ) -> None:
        # "auto": by the client's base URL (which the client may take from OPENAI_BASE_URL).
        max_tokens_param = max_tokens_param_for(str(client.base_url), max_tokens_param)
        if not model:
            raise ValueError(
                "The OpenAI writer needs a model name (e.g. OPENAI_MODEL=gpt-4o-mini)."
            )
        if parser not in ("raw", "stock"):
            raise ValueError(f"parser must be 'raw' or 'stock', not {parser!r}")
        self.client = client
        self.model = model
        self.max_tokens_param = max_tokens_param
        self.temperature = temperature
        self.parser = parser
        self._shared: tuple[asyncio.AbstractEventLoop, tuple] | None = None

    @classmethod
    def from_config(
        cls,
        *,
        api_key: str | None,
        base_url: str | None = None,
        model: str,
        timeout: float | None = 60.0,
        connect_timeout: float | None = 5.0,
        max_retries: int = 2,
        max_tokens_param: str = AUTO,
        temperature: float | None = None,
        http_client: httpx2.AsyncClient | None = None,
        client: openai.AsyncOpenAI | None = None,
        parser: Literal["raw", "stock"] = "raw",
        http: Literal["aiohttp", "httpx"] = "aiohttp",
    ) -> OpenAIWriter:
        """Build the writer and its `AsyncOpenAI` client (or use the `client` given, for tests).

        Inside a running event loop, writers of the same configuration share one client (one
        connection pool); `aclose()` closes it when the last of them is closed.
        """
        shared_key: tuple | None = None
        loop: asyncio.AbstractEventLoop | None = None
        if client is None:
            if not api_key:
                if not base_url:
                    raise ValueError(
                        "The OpenAI writer needs OPENAI_API_KEY, or OPENAI_BASE_URL pointing at an "
                        "OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio)."
                    )
                api_key = PLACEHOLDER_API_KEY
            loop = _running_loop() if http_client is None else None
            if loop is not None:
                shared_key = (api_key, base_url, timeout, connect_timeout, max_retries, http)
                entry = _SHARED.get(loop, {}).get(shared_key)
                if entry is not None and not entry.client.is_closed():
                    client = entry.client
            if client is None:
                kwargs: dict[str, Any] = {
                    "api_key": api_key,
                    "timeout": httpx2.Timeout(timeout, connect=connect_timeout),
                    "max_retries": max_retries,
                }
                if base_url:
                    kwargs["base_url"] = base_url
                if http_client is None and http == "aiohttp":
                    # openai's documented aiohttp transport (`openai[aiohttp]`): the client,
                    # its retries, timeouts and errors are unchanged; aiohttp parses the HTTP
                    # response in C and hands over everything that has arrived in one read.
                    http_client = openai.DefaultAioHttpClient()
                if http_client is not None:
                    kwargs["http_client"] = http_client
                client = openai.AsyncOpenAI(**kwargs)
                if loop is not None and shared_key is not None:
                    _SHARED.setdefault(loop, {})[shared_key] = _Shared(client)
        writer = cls(
            client,
            model=model,
            max_tokens_param=max_tokens_param,
            temperature=temperature,
            parser=parser,
        )
        if loop is not None and shared_key is not None:
            shared = _SHARED[loop][shared_key]
            shared.users += 1
            if shared.idle is not None:  # in use again: no closing (the task sees users > 0)
                shared.idle.cancel()
                shared.idle = None
            writer._shared = (loop, shared_key)
        return writer

    def __repr__(self) -> str:
        return f"OpenAIWriter(model={self.model!r}, base_url={str(self.client.base_url)!r})"

    async def aclose(self) -> None:
        """Close the HTTP connection pool (a shared one when its last writer is closed)."""
        if self._shared is not None:
            loop, key = self._shared
            self._shared = None
            clients = _SHARED.get(loop, {})
            entry = clients.get(key)
            if entry is not None and entry.client is self.client:
                entry.users -= 1
                if entry.users > 0:
                    return
                if SHARED_IDLE_SECONDS > 0:
                    entry.idle = loop.create_task(_close_when_idle(clients, key, entry))
                    return
                del clients[key]
        await self.client.close()

    def _params(self, request: WriterRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            self.max_tokens_param: request.max_tokens,
        }
        if self.temperature is not None:
            params["temperature"] = self.temperature
        return params

    def stream(self, request: WriterRequest) -> AsyncIterator[str | Finish]:
        """Yield the text pieces as they arrive, then one `Finish`; raise `WriterError`.

        Returns the async generator itself (no wrapper generator), so that closing it closes
        the upstream response at once."""
        if self.parser == "stock":
            return self._stream_stock(request)
        return self._stream_raw(request)

    async def _stream_raw(self, request: WriterRequest) -> AsyncIterator[str | Finish]:
        """The request through the client; the body read raw and parsed by `sse`."""
        response: httpx2.Response | None = None
        reader = ChunkReader()
        limit = self._limit(request)
        try:
            try:
                manager = self.client.chat.completions.with_streaming_response.create(
                    **self._params(request)
                )
                response = (await manager.__aenter__()).http_response
                async for batch in sse_event_batches(response):
                    pieces, error = reader.read(batch, response.request)
                    # The pieces of one read go out as one piece: under load several chunks
                    # arrive together, and each piece costs the relay a step.
                    if pieces:
                        text = limit.take(pieces)
                        if text:
                            yield text
                        if limit.reached:
                            break  # the server is not stopping: closed below
                    if error is not None:
                        raise error
                    if reader.done:
                        if response.http_version == "HTTP/1.1":
                            await drain(response)
                        break
            except Exception as exc:
                self._raise_unless_finished(exc, reader.finish_reason)
        finally:
            if response is not None:
                await _close_quietly(response.aclose())
        yield self._end(limit, reader.finish_reason, reader.usage)

    async def _stream_stock(self, request: WriterRequest) -> AsyncIterator[str | Finish]:
        """The stock stream: the client parses every chunk into pydantic models (slower)."""
        upstream: Any = None
        finish_reason: str | None = None
        usage: Usage | None = None
        limit = self._limit(request)
        try:
            try:
                upstream = await self.client.chat.completions.create(**self._params(request))
                async for chunk in upstream:
                    if chunk.usage is not None:
                        usage = Usage(
                            prompt_tokens=chunk.usage.prompt_tokens,
                            completion_tokens=chunk.usage.completion_tokens,
                            total_tokens=chunk.usage.total_tokens,
                        )
                    for choice in chunk.choices:
                        if choice.index != 0:
                            continue
                        content = choice.delta.content if choice.delta is not None else None
                        if content:
                            text = limit.take([content])
                            if text:
                                yield text
                            if limit.reached:
                                break
                        if choice.finish_reason:
                            finish_reason = choice.finish_reason
                    if limit.reached:
                        break  # the server is not stopping: closed below
            except Exception as exc:
                self._raise_unless_finished(exc, finish_reason)
        finally:
            if upstream is not None:
                await _close_quietly(upstream.close())
        yield self._end(limit, finish_reason, usage)

    @staticmethod
    def _limit(request: WriterRequest) -> OutputLimit:
        return OutputLimit(max_chunks=request.max_tokens or None, max_chars=request.max_chars)

    def _end(self, limit: OutputLimit, finish_reason: str | None, usage: Usage | None) -> Finish:
        """The answer's finish; "length" when the writer's own count stopped it."""
        if not limit.reached:
            return self._finish(finish_reason, usage)
        # The server did not stop at the limit it was sent (or was sent none it reads).
        logger.warning(
            "openai stream ran past its limit (%d chunks, %d characters): closed it",
            limit.chunks,
            limit.chars,
        )
        return Finish(reason="length", usage=usage)

    def _raise_unless_finished(self, exc: Exception, finish_reason: str | None) -> None:
        if finish_reason is not None and _is_transport_failure(exc):
            # The whole answer arrived; only `[DONE]` (or the usage chunk) is missing.
            logger.info(
                "openai stream ended after finish_reason without [DONE]: %s",
                type(exc).__name__,
            )
            return
        err = map_error(exc, model=self.model)
        _log_failure(exc, err)
        raise err from None

    @staticmethod
    def _finish(finish_reason: str | None, usage: Usage | None) -> Finish:
        if finish_reason is None:
            logger.warning("openai stream ended without a finish_reason")
            raise WriterError("upstream_unavailable", MSG_CUT + _KEPT)
        if finish_reason == "content_filter":
            logger.warning("openai stream stopped by the content filter")
            raise WriterError("filtered", MSG_FILTERED, status="filtered")
        return Finish(reason="length" if finish_reason == "length" else "stop", usage=usage)
