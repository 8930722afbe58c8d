"""The automatic moderation check: may a text be published on a shared page?

Checkers know nothing of Django (like `writers/`): they take their configuration as arguments and
answer `check(text)` with a `Verdict`, or raise `CheckerError` when they cannot tell.

- `OpenAIModerationChecker` — OpenAI's moderation endpoint (`client.moderations.create`), or a
  compatible server that has one;
- `WordListChecker` — flags a text containing any word of a list (the site's own list, else the
  small lists shipped per language in `wordlists/`);
- `NullChecker` — checks nothing (`DIARY_MODERATION=off`).

Only the two functions at the end touch Django, importing it lazily: `checker_from_settings()`,
the thin factory, and `generation_check_soon()`, the runner's hook.

What a verdict does (services.entry_check_record): flagged → the entry is flagged, cannot be
shared and joins the moderators' queue until one clears it; clean → its text may be published;
checker down → the entry's text stays unpublished ("not checked"), and sharing runs the check
again. The text itself is never touched: a checker failure loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import httpx2
import openai

__all__ = [
    "CheckerError",
    "NullChecker",
    "OpenAIModerationChecker",
    "Verdict",
    "WordListChecker",
    "checker_from_settings",
    "generation_check_soon",
    "shipped_words",
    "words_from_file",
]

logger = logging.getLogger("diaries.moderation")

# OpenAI-compatible servers ignore the key but the client refuses an empty one.
PLACEHOLDER_API_KEY = "no-key-required"


@dataclass(frozen=True, slots=True)
class Verdict:
    flagged: bool
    checker: str
    # What the checker found: OpenAI's category names, or the words of the list that matched.
    categories: tuple[str, ...] = ()
    model: str = ""

    def as_details(self) -> dict[str, Any]:
        return {"checker": self.checker, "categories": list(self.categories), "model": self.model}


class CheckerError(Exception):
    """The checker could not give a verdict; `code` is short and safe to log."""

    def __init__(self, code: str, checker: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.checker = checker


class Checker(Protocol):
    name: str

    async def check(self, text: str) -> Verdict: ...


class NullChecker:
    """Every text passes (DIARY_MODERATION=off)."""

    name = "off"
    local = True  # no I/O: checked as the generation's end is saved, in the same transaction

    async def check(self, text: str) -> Verdict:
        return Verdict(flagged=False, checker=self.name)


class WordListChecker:
    """Flags a text that contains any of `words`, ignoring case.

    A word written in Latin letters and digits matches as a whole word ("ass" does not flag
    "class"); any other (Japanese has no spaces between words) matches anywhere in the text.
    """

    name = "wordlist"
    local = True  # no I/O: checked as the generation's end is saved, in the same transaction

    def __init__(self, words: Iterable[str], *, shipped: bool = False) -> None:
        self.words = tuple(dict.fromkeys(w.strip().casefold() for w in words if w.strip()))
        self.shipped = shipped  # the lists that come with Nikki, not the site's own
        patterns = []
        for word in self.words:
            escaped = re.escape(word)
            if re.fullmatch(r"[a-z0-9][a-z0-9 '_-]*", word):
                escaped = rf"(?<![a-z0-9]){escaped}(?![a-z0-9])"
            patterns.append(f"(?P<w{len(patterns)}>{escaped})")
        self._regex = re.compile("|".join(patterns)) if patterns else None

    async def check(self, text: str) -> Verdict:
        if self._regex is None:
            return Verdict(flagged=False, checker=self.name)
        found = {
            self.words[int(name[1:])]
            for match in self._regex.finditer(text.casefold())
            for name, value in match.groupdict().items()
            if value is not None
        }
        return Verdict(flagged=bool(found), checker=self.name, categories=tuple(sorted(found)))


def words_from_file(path: str | Path) -> list[str]:
    """One word or phrase a line; blank lines and lines starting with # are skipped."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


@cache
def shipped_words() -> dict[str, tuple[str, ...]]:
    """The word lists that come with Nikki, by language (`wordlists/<language>.txt`)."""
    folder = resources.files(__package__) / "wordlists"
    return {
        item.name.removesuffix(".txt"): tuple(words_from_file(item))
        for item in folder.iterdir()
        if item.name.endswith(".txt")
    }


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


# --- the Django side --------------------------------------------------------------------------


def checker_from_settings() -> Checker:
    """The checker the settings ask for (DIARY_MODERATION: auto, openai, wordlist, off)."""
    from django.conf import settings

    choice = settings.DIARY_MODERATION
    base_url = settings.DIARY_MODERATION_BASE_URL or settings.OPENAI_BASE_URL
    # "auto": OpenAI's endpoint when the writer talks to OpenAI itself; most compatible servers
    # (Ollama, llama.cpp) have no /moderations, so they get the word list unless asked.
    use_openai = choice == "openai" or (
        choice == "auto" and bool(settings.OPENAI_API_KEY) and not settings.OPENAI_BASE_URL
    )
    if use_openai:
        return OpenAIModerationChecker(
            api_key=settings.OPENAI_API_KEY,
            base_url=base_url or None,
            model=settings.DIARY_MODERATION_MODEL,
            timeout=settings.DIARY_MODERATION_TIMEOUT,
        )
    if choice == "off":
        return NullChecker()
    words = list(settings.DIARY_MODERATION_WORDS)
    if settings.DIARY_MODERATION_WORDS_FILE:
        words += words_from_file(settings.DIARY_MODERATION_WORDS_FILE)
    if words:
        return WordListChecker(words)
    # No list of the site's own: an empty list would pass every text, so the shipped ones check.
    return WordListChecker(
        [word for language in shipped_words().values() for word in language], shipped=True
    )


# Strong references to the running checks (the event loop keeps only weak ones).
_checks: set[asyncio.Task] = set()


def generation_check_soon(*, entry_id: int, generation_id: int, text: str) -> None:
    """Check a finished generation's text in a task of its own; never raises.

    Called by the runner once the text is saved and `done` is sent, so the check delays nothing
    and its failure cannot reach the runner. A check lost to a shutdown leaves the text
    unpublished; sharing checks it again.
    """
    try:
        task = asyncio.get_running_loop().create_task(
            _generation_check(entry_id=entry_id, generation_id=generation_id, text=text),
            name=f"moderation-check-{generation_id}",
        )
    except Exception as exc:
        logger.warning("could not schedule the check of generation %s: %s", generation_id, exc)
        return
    _checks.add(task)
    task.add_done_callback(_checks.discard)


def local_checker() -> Checker | None:
    """The configured checker if it checks in-process (no I/O), else None; never raises."""
    try:
        checker = checker_from_settings()
    except Exception:
        return None
    return checker if getattr(checker, "local", False) else None


async def check_text(
    checker: Checker | None, *, generation_id: int, text: str
) -> tuple[Verdict | None, CheckerError | None]:
    """The checker's verdict on a generation's text, or the error that stands for it."""
    verdict: Verdict | None = None
    error: CheckerError | None = None
    try:
        checker = checker or checker_from_settings()
        verdict = await checker.check(text)
    except CheckerError as exc:
        error = exc
    except Exception as exc:
        logger.error(
            "moderation checker crashed on generation %s: %s", generation_id, type(exc).__name__
        )
        error = CheckerError("internal")
    if error is not None:
        logger.warning(
            "moderation check of generation %s failed: %s %s",
            generation_id,
            error.checker,
            error.code,
        )
    return verdict, error


async def _generation_check(*, entry_id: int, generation_id: int, text: str) -> None:
    from channels.db import database_sync_to_async

    from . import services

    verdict, error = await check_text(None, generation_id=generation_id, text=text)
    try:
        await database_sync_to_async(services.entry_check_record)(
            entry_id=entry_id,
            text=text,
            verdict=verdict,
            error=error,
            generation_id=generation_id,
        )
    except Exception as exc:
        # The text stays unpublished until a check is recorded (sharing checks again).
        logger.warning(
            "recording the check of generation %s failed: %s", generation_id, type(exc).__name__
        )
