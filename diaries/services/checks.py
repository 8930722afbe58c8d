"""The automatic moderation check, Django's side: which checker the settings ask for, when a
text is checked, and what a verdict does to an entry.

A generation's text is checked as its end is saved when the checker works in-process (the word
list), else in a task of its own once `done` is sent (`generation_check_soon`); sharing checks a
text that has not passed. flagged → the entry is flagged, cannot be shared and joins the
moderators' queue until one clears it; clean → its text may be published; checker down → the
entry's text stays unpublished ("not checked") and sharing runs the check again. The text itself
is never touched: a checker failure loses nothing. The checkers themselves are
`diaries.checkers`.
"""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from ..checkers.base import Checker, CheckerError, NullChecker, Verdict
from ..checkers.openai import OpenAIModerationChecker
from ..checkers.wordlist import WordListChecker, shipped_words, words_from_file
from ..models import DiaryEntry, ModerationAction, ModerationState, text_digest
from .moderation import moderation_event_record

logger = logging.getLogger(__name__)


def checker_from_settings() -> Checker:
    """The checker the settings ask for (DIARY_MODERATION: auto, openai, wordlist, off)."""
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
    return _word_list_checker(
        tuple(settings.DIARY_MODERATION_WORDS), settings.DIARY_MODERATION_WORDS_FILE
    )


@lru_cache(maxsize=8)
def _word_list_checker(words: tuple[str, ...], words_file: str) -> WordListChecker:
    """One checker per configuration: every generation's end asks for it, and reading the file
    and building the pattern each time would be work on the streaming path."""
    own = [*words, *(words_from_file(words_file) if words_file else ())]
    if own:
        return WordListChecker(own)
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
    verdict, error = await check_text(None, generation_id=generation_id, text=text)
    try:
        await database_sync_to_async(entry_check_record)(
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


def entry_text_check(*, entry: DiaryEntry, checker: Checker | None = None) -> Verdict | None:
    """Run the automatic check on an entry's current text now and record the outcome.

    Returns the verdict, or None when the checker could not give one.
    """
    text = entry.text
    verdict: Verdict | None = None
    error: CheckerError | None = None
    try:
        verdict = async_to_sync((checker or checker_from_settings()).check)(text)
    except CheckerError as exc:
        error = exc
    except Exception as exc:
        logger.error("moderation checker crashed on entry %s: %s", entry.pk, type(exc).__name__)
        error = CheckerError("internal")
    if error is not None:
        logger.warning("moderation check of entry %s failed: %s", entry.pk, error.code)
    entry_check_record(entry_id=entry.pk, text=text, verdict=verdict, error=error)
    return verdict


def _flag_reason(verdict: Verdict) -> str:
    if verdict.checker == "wordlist":
        return _("The automatic check found words this site does not publish.")
    if verdict.categories:
        return _("The automatic check flagged this text: %(categories)s.") % {
            "categories": ", ".join(verdict.categories)
        }
    return _("The automatic check flagged this text.")


@transaction.atomic
def entry_check_record(
    *,
    entry_id: int,
    text: str,
    verdict: Verdict | None,
    error: CheckerError | None = None,
    generation_id: int | None = None,
) -> DiaryEntry | None:
    """Record what the automatic check said about `text` (an entry's text, now or just now).

    flagged → the entry is flagged (unless hidden) and joins the moderators' queue; clean → the
    text may be published; no verdict → text still unchecked is marked "not checked", so it
    stays unpublished and sharing checks it again. Never touches the text itself.
    """
    entry = DiaryEntry.objects.select_for_update().filter(pk=entry_id).first()
    if entry is None:
        return None  # deleted meanwhile
    fields = entry_check_apply(
        entry, text=text, verdict=verdict, error=error, generation_id=generation_id
    )
    if fields:
        entry.save(update_fields=fields)  # not updated_at: the owner's text did not change
    return entry


def entry_check_apply(
    entry: DiaryEntry,
    *,
    text: str,
    verdict: Verdict | None,
    error: CheckerError | None,
    generation_id: int | None,
) -> list[str]:
    """entry_check_record's changes to the locked `entry` (the events are saved); the fields
    to save."""
    details: dict = {"generation": generation_id} if generation_id else {}
    digest = text_digest(text)
    is_current = entry.text == text
    fields: list[str] = []
    if verdict is not None and verdict.flagged:
        details.update(verdict.as_details())
        reason = _flag_reason(verdict)
        if entry.moderation_state in (ModerationState.OK, ModerationState.UNCHECKED):
            entry.moderation_state = ModerationState.FLAGGED
            entry.moderation_reason = reason
            fields += ["moderation_state", "moderation_reason"]
        moderation_event_record(
            action=ModerationAction.CHECK_FLAGGED, entry=entry, reason=reason, details=details
        )
    elif verdict is not None:
        if is_current:
            entry.moderation_checked_digest = digest
            fields.append("moderation_checked_digest")
            if entry.moderation_state == ModerationState.UNCHECKED:
                entry.moderation_state = ModerationState.OK
                entry.moderation_reason = ""
                fields += ["moderation_state", "moderation_reason"]
                details.update(verdict.as_details())
                moderation_event_record(
                    action=ModerationAction.CHECK_PASSED, entry=entry, details=details
                )
    elif (
        is_current
        and entry.moderation_state == ModerationState.OK
        and entry.moderation_checked_digest != digest
    ):
        code = error.code if error is not None else "unknown"
        entry.moderation_state = ModerationState.UNCHECKED
        entry.moderation_reason = _(
            "The automatic check could not run (%(code)s). The entry cannot be shared until "
            "it does; sharing tries again."
        ) % {"code": code}
        fields += ["moderation_state", "moderation_reason"]
        details.update({"checker": error.checker if error else "", "code": code})
        moderation_event_record(
            action=ModerationAction.CHECK_FAILED,
            entry=entry,
            reason=entry.moderation_reason,
            details=details,
        )
    return fields
