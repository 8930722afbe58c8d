"""The OpenAI writer: streams a chat completion from OpenAI or any OpenAI-compatible server.

Knows nothing of Django. openai 3.x speaks through httpx2; see /work/shared/PITFALLS.md.

Guarantees:
- every upstream failure becomes a `WriterError` with a protocol code and a message a person can
  act on, which never contains the API key nor any text the upstream sent (`map_error`);
- the upstream HTTP stream is always closed when the generator ends, is closed (`aclose()`) or the
  task iterating it is cancelled — a `break` alone would leave it open (openai-python #969);
- a stream that ends without a `finish_reason` (cut mid-way) is a failure, while one that ends
  right after its `finish_reason` without `[DONE]` is a normal finish.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
import openai

from .base import Finish, Usage, WriterError, WriterRequest

__all__ = ["PLACEHOLDER_API_KEY", "OpenAIWriter", "map_error"]

logger = logging.getLogger("diaries.writers.openai")

# OpenAI-compatible servers (Ollama, vLLM, llama.cpp, LM Studio) ignore the key but the client
# refuses an empty one.
PLACEHOLDER_API_KEY = "no-key-required"

MAX_TOKENS_PARAMS = ("max_completion_tokens", "max_tokens")
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


def map_error(exc: BaseException, *, model: str = "") -> WriterError:
    """The `WriterError` a person sees for an exception raised while streaming from the model.

    Messages are ours: the upstream's own message may quote the API key or the model's text.
    """
    if isinstance(exc, WriterError):
        return exc
    code = _error_code(exc)

    # Failures before or during the transfer, without an HTTP status.
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


class OpenAIWriter:
    """Streams a diary entry from `client.chat.completions.create(stream=True)`."""

    name = "openai"

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        model: str,
        max_tokens_param: str = "max_completion_tokens",
        temperature: float | None = None,
    ) -> None:
        if max_tokens_param not in MAX_TOKENS_PARAMS:
            raise ValueError(
                f"max_tokens_param must be one of {', '.join(MAX_TOKENS_PARAMS)}, "
                f"not {max_tokens_param!r}"
            )
        if not model:
            raise ValueError(
                "The OpenAI writer needs a model name (e.g. OPENAI_MODEL=gpt-4o-mini)."
            )
        self.client = client
        self.model = model
        self.max_tokens_param = max_tokens_param
        self.temperature = temperature

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
        max_tokens_param: str = "max_completion_tokens",
        temperature: float | None = None,
        http_client: httpx2.AsyncClient | None = None,
        client: openai.AsyncOpenAI | None = None,
    ) -> OpenAIWriter:
        """Build the writer and its `AsyncOpenAI` client (or use the `client` given, for tests)."""
        if client is None:
            if not api_key:
                if not base_url:
                    raise ValueError(
                        "The OpenAI writer needs OPENAI_API_KEY, or OPENAI_BASE_URL pointing at an "
                        "OpenAI-compatible server (Ollama, vLLM, llama.cpp, LM Studio)."
                    )
                api_key = PLACEHOLDER_API_KEY
            kwargs: dict[str, Any] = {
                "api_key": api_key,
                "timeout": httpx2.Timeout(timeout, connect=connect_timeout),
                "max_retries": max_retries,
            }
            if base_url:
                kwargs["base_url"] = base_url
            if http_client is not None:
                kwargs["http_client"] = http_client
            client = openai.AsyncOpenAI(**kwargs)
        return cls(client, model=model, max_tokens_param=max_tokens_param, temperature=temperature)

    def __repr__(self) -> str:
        return f"OpenAIWriter(model={self.model!r}, base_url={str(self.client.base_url)!r})"

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
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

    async def stream(self, request: WriterRequest) -> AsyncIterator[str | Finish]:
        """Yield the text pieces as they arrive, then one `Finish`; raise `WriterError`."""
        upstream: Any = None
        finish_reason: str | None = None
        usage: Usage | None = None
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
                            yield content
                        if choice.finish_reason:
                            finish_reason = choice.finish_reason
            except Exception as exc:
                if finish_reason is not None and _is_transport_failure(exc):
                    # The whole answer arrived; only `[DONE]` (or the usage chunk) is missing.
                    logger.info(
                        "openai stream ended after finish_reason without [DONE]: %s",
                        type(exc).__name__,
                    )
                else:
                    err = map_error(exc, model=self.model)
                    _log_failure(exc, err)
                    raise err from None
        finally:
            if upstream is not None:
                try:
                    # Shielded: a second cancellation must not leave the response open.
                    await asyncio.shield(upstream.close())
                except Exception as exc:  # closing must not hide what happened
                    logger.debug("closing the openai stream failed: %s", type(exc).__name__)

        if finish_reason is None:
            logger.warning("openai stream ended without a finish_reason")
            raise WriterError("upstream_unavailable", MSG_CUT + _KEPT)
        if finish_reason == "content_filter":
            logger.warning("openai stream stopped by the content filter")
            raise WriterError("filtered", MSG_FILTERED, status="filtered")
        yield Finish(reason="length" if finish_reason == "length" else "stop", usage=usage)
