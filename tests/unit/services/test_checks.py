"""The automatic check: the checkers alone, the factory, and the path from a finished generation
(flagged, clean, checker down) — including the real openai client against a moderation server on
loopback."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
from tests.support.factories import make_entry, make_user
from tests.support.paths import ROOT

TEXT = "Dear diary, today was good."  # what the scripted writer writes


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- a moderation endpoint on loopback --------------------------------------------------------


def moderation_body(*, flagged: bool, categories: dict[str, bool] | None = None) -> dict:
    """OpenAI's moderation response shape."""
    names = ("harassment", "harassment/threatening", "hate", "self-harm", "sexual", "violence")
    cats = {name: False for name in names} | (categories or {})
    return {
        "id": "modr-test-1",
        "model": "omni-moderation-2024-09-26",
        "results": [
            {
                "flagged": flagged,
                "categories": cats,
                "category_scores": {name: (0.9 if hit else 0.001) for name, hit in cats.items()},
                "category_applied_input_types": {name: ["text"] for name in cats},
            }
        ],
    }


class ModerationServer:
    """Answers POST /v1/moderations with the queued (status, body) pairs, then the default."""

    def __init__(self) -> None:
        self.default: tuple[int, Any] = (200, moderation_body(flagged=False))
        self.queue: list[tuple[int, Any]] = []
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(
                    {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                )
                status, answer = server.queue.pop(0) if server.queue else server.default
                if self.path.rstrip("/") != "/v1/moderations":
                    status, answer = 404, {"error": {"message": "no such route", "code": None}}
                payload = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def answer(self, status: int, body: Any) -> None:
        self.default = (status, body)

    def __enter__(self) -> ModerationServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def moderation_server() -> Iterator[ModerationServer]:
    with ModerationServer() as server:
        yield server


def openai_checker(server: ModerationServer, **kwargs: Any) -> OpenAIModerationChecker:
    return OpenAIModerationChecker(
        api_key="sk-test-moderation-key",
        base_url=server.base_url,
        model="omni-moderation-latest",
        timeout=kwargs.pop("timeout", 2.0),
        max_retries=kwargs.pop("max_retries", 0),
        **kwargs,
    )


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


# --- the word list ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_word_list_matches_whole_latin_words_ignoring_case():
    checker = WordListChecker(["Stupid", "kill"])

    assert (await checker.check("That was a STUPID idea.")).flagged
    verdict = await checker.check("I will kill the weeds.")
    assert verdict.flagged and verdict.categories == ("kill",) and verdict.checker == "wordlist"
    assert not (await checker.check("My skills improved; stupidity aside.")).flagged


@pytest.mark.asyncio
async def test_word_list_matches_japanese_anywhere():
    checker = WordListChecker(["ばか"])

    assert (await checker.check("今日はばかみたいに暑かった。")).flagged
    assert not (await checker.check("今日は暑かった。")).flagged


@pytest.mark.asyncio
async def test_an_empty_word_list_and_the_null_checker_pass_everything():
    assert not (await WordListChecker(["", "  "]).check("anything at all")).flagged
    assert (await NullChecker().check("anything")) == Verdict(flagged=False, checker="off")


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


def _settings_import(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DIARY_", "OPENAI_"))}
    return subprocess.run(
        [sys.executable, "-c", "import diary_project.settings"],
        cwd=ROOT,
        env={**clean, "DJANGO_DEBUG": "true", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_settings_refuse_an_unknown_checker_or_openai_without_a_key():
    assert "DIARY_MODERATION must be" in _settings_import(DIARY_MODERATION="maybe").stderr
    assert "needs OPENAI_API_KEY" in _settings_import(DIARY_MODERATION="openai").stderr
    assert _settings_import(DIARY_MODERATION="wordlist").returncode == 0


# --- OpenAI's endpoint, over the wire -----------------------------------------------------------


@pytest.mark.wire
@pytest.mark.asyncio
async def test_openai_checker_reads_a_flagged_answer(moderation_server):
    moderation_server.answer(
        200, moderation_body(flagged=True, categories={"violence": True, "harassment": True})
    )

    verdict = await openai_checker(moderation_server).check("a text")

    assert verdict.flagged and verdict.checker == "openai"
    assert verdict.categories == ("harassment", "violence")
    assert verdict.model == "omni-moderation-2024-09-26"
    [request] = moderation_server.requests
    assert request["path"] == "/v1/moderations"
    assert request["body"] == {"model": "omni-moderation-latest", "input": "a text"}
    assert request["auth"] == "Bearer sk-test-moderation-key"


@pytest.mark.wire
@pytest.mark.asyncio
async def test_openai_checker_reads_a_clean_answer(moderation_server):
    verdict = await openai_checker(moderation_server).check("a kind text")

    assert verdict == Verdict(flagged=False, checker="openai", model="omni-moderation-2024-09-26")


@pytest.mark.wire
@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (500, {"error": {"message": "boom", "type": "server_error", "code": None}}, "http_500"),
        (401, {"error": {"message": "bad key", "type": "invalid_request_error"}}, "http_401"),
        (200, {"id": "x", "model": "m", "results": []}, "bad_response"),
        (200, b"<html>not json</html>", "bad_response"),
    ],
)
async def test_openai_checker_failures_are_checker_errors(moderation_server, status, body, code):
    moderation_server.answer(status, body)

    with pytest.raises(CheckerError) as caught:
        await openai_checker(moderation_server).check("text")

    assert caught.value.code == code and caught.value.checker == "openai"
    assert "sk-test" not in str(caught.value)


@pytest.mark.wire
@pytest.mark.asyncio
async def test_openai_checker_unreachable_is_unavailable():
    with ModerationServer() as server:
        url = server.base_url
    checker = OpenAIModerationChecker(api_key="sk-x", base_url=url, timeout=1.0, max_retries=0)

    with pytest.raises(CheckerError) as caught:
        await checker.check("text")

    assert caught.value.code == "unavailable"


@pytest.mark.wire
@pytest.mark.asyncio
async def test_openai_checker_reuses_one_client_per_event_loop(moderation_server):
    checker = openai_checker(moderation_server)

    await checker.check("one")
    await checker.check("two")

    other = openai_checker(moderation_server)
    assert checker._client_for_this_loop() is other._client_for_this_loop()
    assert len(moderation_server.requests) == 2


# --- what a verdict does to an entry (services) --------------------------------------------------


def written_entry(user, text: str = TEXT, **fields: Any) -> DiaryEntry:
    """An entry whose text a model wrote (as generation_finish leaves it), not checked yet."""
    entry = make_entry(user)
    DiaryEntry.objects.filter(pk=entry.pk).update(
        text=text, writer="scripted", model_name="scripted-1", status="done", **fields
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
    user = await database_sync_to_async(make_user)()
    entry = await database_sync_to_async(make_entry)(user)
    ws = await socket_for(user)
    await ws.send({"action": "generate", "entry": entry.pk})
    await ws.until("delta")
    await ws.until("delta")
    await ws.send({"action": "cancel", "entry": entry.pk})
    done = await ws.until("done")

    flagged = await entry_when(entry.pk, lambda e: e.moderation_state == "flagged")

    assert done["status"] == "cancelled" and flagged.text == done["text"]
    assert checker.texts == [done["text"]]
