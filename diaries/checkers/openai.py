"""OpenAI's moderation endpoint as a checker (or a compatible server that has one)."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import httpx2
import openai

from .base import CheckerError, Verdict

# OpenAI-compatible servers ignore the key but the client refuses an empty one.
PLACEHOLDER_API_KEY = "no-key-required"


# event loop -> configuration -> client: building a client loads the CA bundle (~60 ms of CPU
# that would block the event loop), so checks on one loop share one. A closed loop's go with it.
_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, openai.AsyncOpenAI]] = (
    weakref.WeakKeyDictionary()
)


class OpenAIModerationChecker:
    """OpenAI's moderation endpoint, `POST {base_url}/moderations`, through the `openai` client."""

    name = "openai"

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None = None,
        model: str = "omni-moderation-latest",
        timeout: float = 10.0,
        max_retries: int = 1,
        client: openai.AsyncOpenAI | None = None,
    ) -> None:
        if client is None and not api_key and not base_url:
            raise ValueError(
                "The OpenAI moderation check needs OPENAI_API_KEY, or a base URL of a compatible "
                "server with a /moderations endpoint."
            )
        self.api_key = api_key or PLACEHOLDER_API_KEY
        self.base_url = base_url or None
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self._client = client

    def __repr__(self) -> str:
        return f"OpenAIModerationChecker(model={self.model!r}, base_url={self.base_url!r})"

    def _client_for_this_loop(self) -> openai.AsyncOpenAI:
        if self._client is not None:
            return self._client
        key = (self.api_key, self.base_url, self.timeout, self.max_retries)
        clients = _CLIENTS.setdefault(asyncio.get_running_loop(), {})
        client = clients.get(key)
        if client is None or client.is_closed():
            kwargs: dict[str, Any] = {
                "api_key": self.api_key,
                "timeout": httpx2.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
                "max_retries": self.max_retries,
            }
            if self.base_url:
                kwargs["base_url"] = self.base_url
            client = clients[key] = openai.AsyncOpenAI(**kwargs)
        return client

    async def check(self, text: str) -> Verdict:
        try:
            response = await self._client_for_this_loop().moderations.create(
                model=self.model, input=text
            )
        except openai.APITimeoutError:
            raise CheckerError("timeout", self.name) from None
        except openai.APIConnectionError:
            raise CheckerError("unavailable", self.name) from None
        except openai.APIStatusError as exc:
            raise CheckerError(f"http_{exc.status_code}", self.name) from None
        except (openai.APIError, httpx2.HTTPError, ValueError):
            # A body that is not JSON, a transport error openai did not wrap.
            raise CheckerError("bad_response", self.name) from None
        results = getattr(response, "results", None)
        result = results[0] if isinstance(results, list) and results else None
        flagged = getattr(result, "flagged", None)
        if not isinstance(flagged, bool):
            raise CheckerError("bad_response", self.name)
        categories = getattr(result, "categories", None)
        names = categories.to_dict() if hasattr(categories, "to_dict") else {}
        return Verdict(
            flagged=flagged,
            checker=self.name,
            categories=tuple(sorted(name for name, hit in names.items() if hit is True)),
            model=str(getattr(response, "model", "") or self.model),
        )
