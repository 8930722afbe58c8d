"""The automatic check as the services run it: the checker the settings choose, what a verdict
does to an entry, and the check after a finished generation (flagged, clean, checker down) —
including the real openai client against a moderation server on loopback. The checkers alone:
tests/unit/checkers/."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async

from diaries import selectors
from diaries.checkers.base import CheckerError, NullChecker, Verdict
from diaries.checkers.openai import OpenAIModerationChecker
from diaries.checkers.wordlist import WordListChecker
from diaries.exceptions import DiaryError
from diaries.models import (
    DiaryEntry,
    GenerationStatus,
    ModerationAction,
    ModerationEvent,
    ModerationState,
    text_digest,
)
from diaries.services import checks
from diaries.services.checks import entry_check_record, entry_text_check
from diaries.services.entries import entry_update_text
from diaries.services.moderation import entry_hide
from diaries.services.sharing import entry_share
from keystore.fields import seal
from tests.support.factories import make_entry, make_user
from tests.support.moderation_server import moderation_body
from tests.support.sockets import entry_being_written

TEXT = "Dear diary, today was good."  # what the scripted writer writes


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class FakeChecker:
    """A checker with a fixed answer: a verdict, or an exception to raise."""

    name = "fake"

    def __init__(self, answer: Verdict | Exception) -> None:
        self.answer = answer
        self.texts: list[str] = []

    async def check(self, text: str) -> Verdict:
        self.texts.append(text)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


CLEAN = Verdict(flagged=False, checker="fake")
FLAGGED = Verdict(flagged=True, checker="fake", categories=("violence",))
DOWN = CheckerError("unavailable", "fake")


@pytest.fixture
def use_checker(monkeypatch):
    """Make every check (the runner's and the services') use the given checker."""

    def use(checker: Any) -> Any:
        monkeypatch.setattr(checks, "checker_from_settings", lambda: checker)
        return checker

    return use


# --- the factory --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "key", "base_url", "expected"),
    [
        ("auto", "", "", WordListChecker),
        ("auto", "sk-x", "", OpenAIModerationChecker),
        # Compatible servers (Ollama, llama.cpp) rarely have /moderations: auto keeps the list.
        ("auto", "", "http://127.0.0.1:11434/v1", WordListChecker),
        ("openai", "", "http://127.0.0.1:11434/v1", OpenAIModerationChecker),
        ("wordlist", "sk-x", "", WordListChecker),
        ("off", "sk-x", "", NullChecker),
    ],
)
def test_checker_from_settings(settings, choice, key, base_url, expected):
    settings.DIARY_MODERATION = choice
    settings.OPENAI_API_KEY = key
    settings.OPENAI_BASE_URL = base_url

    assert isinstance(checks.checker_from_settings(), expected)


def test_the_moderation_base_url_overrides_the_writers(settings):
    settings.DIARY_MODERATION = "openai"
    settings.OPENAI_API_KEY = "sk-x"
    settings.DIARY_MODERATION_BASE_URL = "http://127.0.0.1:9/v1"

    checker = checks.checker_from_settings()

    assert checker.base_url == "http://127.0.0.1:9/v1"


# --- what a verdict does to an entry (services) --------------------------------------------------


def written_entry(user, text: str = TEXT, **fields: Any) -> DiaryEntry:
    """An entry whose text a model wrote (as generation_finish leaves it), not checked yet."""
    entry = make_entry(user)
    DiaryEntry.objects.filter(pk=entry.pk).update(
        text=seal(user.pk, text),
        writer="scripted",
        model_name="scripted-1",
        status="done",
        **fields,
    )
    entry.refresh_from_db()
    return entry


@pytest.mark.django_db
def test_model_written_text_needs_a_check_and_owner_text_does_not(user):
    entry = written_entry(user)
    assert entry.text_needs_check

    entry_check_record(entry_id=entry.pk, text=entry.text, verdict=CLEAN)
    entry.refresh_from_db()
    assert not entry.text_needs_check
    assert entry.moderation_checked_digest == text_digest(TEXT)

    entry_update_text(entry=entry, text="My own words.")
    entry.refresh_from_db()
    assert not entry.text_needs_check  # the owner's own text


@pytest.mark.django_db
def test_a_flagged_verdict_flags_the_entry_and_writes_the_audit_trail(user):
    entry = written_entry(user)

    entry_check_record(entry_id=entry.pk, text=entry.text, verdict=FLAGGED, generation_id=7)

    entry.refresh_from_db()
    assert entry.moderation_state == ModerationState.FLAGGED
    assert "violence" in entry.moderation_reason
    assert entry.text == TEXT  # the text is never touched
    event = ModerationEvent.objects.get(entry=entry)
    assert event.action == ModerationAction.CHECK_FLAGGED and event.actor is None
    assert event.details["categories"] == ["violence"] and event.details["generation"] == 7
    assert event.subject == user


@pytest.mark.django_db
def test_a_flag_never_overrides_a_hidden_entry_and_a_clean_check_never_clears_a_flag(user):
    moderator = make_user()
    hidden = written_entry(user)
    entry_hide(actor=moderator, entry=hidden, reason="spam")
    entry_check_record(entry_id=hidden.pk, text=hidden.text, verdict=FLAGGED)
    hidden.refresh_from_db()
    assert hidden.moderation_state == ModerationState.HIDDEN

    flagged = written_entry(user, moderation_state=ModerationState.FLAGGED)
    entry_check_record(entry_id=flagged.pk, text=flagged.text, verdict=CLEAN)
    flagged.refresh_from_db()
    assert flagged.moderation_state == ModerationState.FLAGGED  # a moderator clears it


@pytest.mark.django_db
def test_checker_down_marks_the_text_not_checked_and_keeps_it(user):
    entry = written_entry(user)

    entry_check_record(entry_id=entry.pk, text=entry.text, verdict=None, error=DOWN)

    entry.refresh_from_db()
    assert entry.moderation_state == ModerationState.UNCHECKED
    assert entry.text == TEXT
    event = ModerationEvent.objects.get(entry=entry)
    assert event.action == ModerationAction.CHECK_FAILED
    assert event.details["code"] == "unavailable"


@pytest.mark.django_db
def test_a_failure_about_text_already_replaced_changes_nothing(user):
    entry = written_entry(user)

    entry_check_record(entry_id=entry.pk, text="an older text", verdict=None, error=DOWN)

    entry.refresh_from_db()
    assert entry.moderation_state == ModerationState.OK
    assert not ModerationEvent.objects.exists()


@pytest.mark.django_db
def test_sharing_retries_a_failed_check(user, use_checker):
    entry = written_entry(user)
    use_checker(FakeChecker(DOWN))

    with pytest.raises(DiaryError, match="could not run"):
        entry_share(user=user, entry=entry)
    entry.refresh_from_db()
    assert not entry.is_shared and entry.moderation_state == ModerationState.UNCHECKED

    checker = use_checker(FakeChecker(CLEAN))
    shared = entry_share(user=user, entry=entry)

    assert checker.texts == [TEXT]
    assert shared.is_shared and shared.moderation_state == ModerationState.OK
    assert selectors.entry_published_by_token(token=shared.share_token) == shared
    actions = list(ModerationEvent.objects.order_by("pk").values_list("action", flat=True))
    assert actions == ["check_failed", "check_passed", "entry_shared"]


@pytest.mark.django_db
def test_sharing_refuses_what_the_check_flags(user, use_checker):
    entry = written_entry(user)
    use_checker(FakeChecker(FLAGGED))

    with pytest.raises(DiaryError, match="flagged"):
        entry_share(user=user, entry=entry)

    entry.refresh_from_db()
    assert not entry.is_shared and entry.moderation_state == ModerationState.FLAGGED


@pytest.mark.django_db
def test_a_crashing_checker_is_a_failed_check(user, use_checker):
    entry = written_entry(user)
    use_checker(FakeChecker(RuntimeError("bug")))

    assert entry_text_check(entry=entry) is None

    entry.refresh_from_db()
    assert entry.moderation_state == ModerationState.UNCHECKED
    assert "internal" in entry.moderation_reason


# --- the check after a generation (the runner's hook) -------------------------------------------


async def entry_when(entry_id: int, predicate, timeout: float = 5.0) -> DiaryEntry:
    async with asyncio.timeout(timeout):
        while True:
            entry = await DiaryEntry.objects.aget(pk=entry_id)
            if predicate(entry):
                return entry
            await asyncio.sleep(0.02)


async def write(user, socket_for) -> tuple[DiaryEntry, dict]:
    entry = await database_sync_to_async(make_entry)(user)
    ws = await socket_for(user)
    await ws.send({"action": "generate", "entry": entry.pk})
    done = await ws.until("done")
    return entry, done


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_clean_generation_passes_and_can_be_shared(scripted, socket_for, settings):
    settings.DIARY_MODERATION = "wordlist"
    settings.DIARY_MODERATION_WORDS = ["awful"]
    user = await database_sync_to_async(make_user)()

    entry, done = await write(user, socket_for)

    assert done["status"] == "done"
    checked = await entry_when(entry.pk, lambda e: not e.text_needs_check)
    assert checked.text == TEXT and checked.moderation_state == ModerationState.OK
    shared = await database_sync_to_async(entry_share)(user=user, entry=checked)
    assert await database_sync_to_async(selectors.entry_published_by_token)(
        token=shared.share_token
    )


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_flagged_generation_is_saved_flagged_and_not_shareable(
    scripted, socket_for, settings
):
    settings.DIARY_MODERATION = "wordlist"
    settings.DIARY_MODERATION_WORDS = ["good"]
    user = await database_sync_to_async(make_user)()

    entry, done = await write(user, socket_for)

    assert done["status"] == "done" and done["text"] == TEXT
    flagged = await entry_when(entry.pk, lambda e: e.moderation_state == "flagged")
    assert flagged.text == TEXT and flagged.status == GenerationStatus.DONE
    event = await ModerationEvent.objects.aget(entry_id=entry.pk)
    assert event.action == "check_flagged" and event.details["categories"] == ["good"]
    with pytest.raises(DiaryError, match="flagged"):
        await database_sync_to_async(entry_share)(user=user, entry=flagged)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_word_list_verdict_is_saved_with_the_end(
    scripted, socket_for, settings, monkeypatch
):
    """An in-process checker is asked before the end is saved and its verdict goes in the same
    transaction: when `done` arrives the entry can already be shared, and no second database
    call follows."""
    settings.DIARY_MODERATION = "wordlist"
    settings.DIARY_MODERATION_WORDS = ["awful"]
    later: list[int] = []
    monkeypatch.setattr(
        checks, "generation_check_soon", lambda **kw: later.append(kw["generation_id"])
    )
    user = await database_sync_to_async(make_user)()

    entry, done = await write(user, socket_for)

    assert done["status"] == "done"
    saved = await DiaryEntry.objects.aget(pk=entry.pk)  # no waiting: checked before `done`
    assert saved.text == TEXT and not saved.text_needs_check
    assert saved.moderation_state == ModerationState.OK
    assert later == []


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_checker_down_after_a_generation_loses_nothing(scripted, socket_for, use_checker):
    use_checker(FakeChecker(DOWN))
    user = await database_sync_to_async(make_user)()

    entry, done = await write(user, socket_for)

    assert done["status"] == "done"
    unchecked = await entry_when(entry.pk, lambda e: e.moderation_state == "unchecked")
    assert unchecked.text == TEXT and unchecked.status == GenerationStatus.DONE
    with pytest.raises(DiaryError, match="could not run"):
        await database_sync_to_async(entry_share)(user=user, entry=unchecked)
    use_checker(FakeChecker(CLEAN))
    shared = await database_sync_to_async(entry_share)(user=user, entry=unchecked)
    assert shared.is_shared and shared.moderation_state == ModerationState.OK


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_regenerated_shared_entry_is_hidden_from_its_link_until_checked(
    scripted, socket_for, use_checker
):
    checker = use_checker(FakeChecker(CLEAN))
    user = await database_sync_to_async(make_user)()
    entry, _ = await write(user, socket_for)
    entry = await entry_when(entry.pk, lambda e: not e.text_needs_check)
    shared = await database_sync_to_async(entry_share)(user=user, entry=entry)
    token = shared.share_token
    hold = asyncio.Event()
    checker.answer = FLAGGED
    scripted(pieces=["Something ", "else."], hold=hold)
    ws = await socket_for(user)
    await ws.send({"action": "generate", "entry": entry.pk})
    await ws.until("delta")
    hold.set()
    await ws.until("done")

    flagged = await entry_when(entry.pk, lambda e: e.moderation_state == "flagged")

    assert flagged.text == "Something else." and flagged.is_shared
    published = database_sync_to_async(selectors.entry_published_by_token)
    assert await published(token=token) is None


@pytest.mark.wire
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_wire_generation_checked_by_the_openai_endpoint(
    scripted, socket_for, settings, moderation_server
):
    settings.DIARY_MODERATION = "openai"
    settings.OPENAI_API_KEY = "sk-test-moderation-key"
    settings.DIARY_MODERATION_BASE_URL = moderation_server.base_url
    settings.DIARY_MODERATION_TIMEOUT = 2.0
    moderation_server.answer(200, moderation_body(flagged=True, categories={"hate": True}))
    user = await database_sync_to_async(make_user)()

    entry, _ = await write(user, socket_for)

    flagged = await entry_when(entry.pk, lambda e: e.moderation_state == "flagged")
    assert "hate" in flagged.moderation_reason and flagged.text == TEXT
    assert moderation_server.requests[0]["body"]["input"] == TEXT


@pytest.mark.wire
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_wire_moderation_endpoint_down_keeps_the_entry_unpublished(
    scripted, socket_for, settings, moderation_server
):
    settings.DIARY_MODERATION = "openai"
    settings.OPENAI_API_KEY = "sk-test-moderation-key"
    settings.DIARY_MODERATION_BASE_URL = moderation_server.base_url
    settings.DIARY_MODERATION_TIMEOUT = 2.0
    moderation_server.answer(500, {"error": {"message": "down", "type": "server_error"}})
    user = await database_sync_to_async(make_user)()

    entry, done = await write(user, socket_for)

    unchecked = await entry_when(entry.pk, lambda e: e.moderation_state == "unchecked", 10)
    assert done["status"] == "done" and unchecked.text == TEXT
    assert "http_500" in unchecked.moderation_reason
    # Back up: sharing checks again, and the entry is published.
    moderation_server.answer(200, moderation_body(flagged=False))
    shared = await database_sync_to_async(entry_share)(user=user, entry=unchecked)
    assert shared.is_shared and shared.moderation_state == ModerationState.OK


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_check_runs_on_stopped_text_too(scripted, socket_for, use_checker):
    checker = use_checker(FakeChecker(FLAGGED))
    scripted(pieces=[f"w{i} " for i in range(300)], delay=0.01)
    _user, entry, ws = await entry_being_written(socket_for)
    await ws.send({"action": "cancel", "entry": entry.pk})
    done = await ws.until("done")

    flagged = await entry_when(entry.pk, lambda e: e.moderation_state == "flagged")

    assert done["status"] == "cancelled" and flagged.text == done["text"]
    assert checker.texts == [done["text"]]
