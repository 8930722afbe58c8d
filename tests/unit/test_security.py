"""Security and abuse resistance: headers, login throttling, the socket's limits, sockets closed
when a session goes stale, and nothing secret in the logs. Deploy settings:
tests/unit/test_settings.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from django.urls import reverse

from diaries.models import Generation
from tests.support.factories import make_entry, make_user
from tests.support.paths import ROOT
from tests.support.sockets import connect, entry_being_written, session_cookie_for

PASSWORD = "a-long-diary-passphrase-42"


@pytest.mark.django_db
def test_pages_carry_a_same_origin_csp_and_deny_framing(client, user):
    client.force_login(user)
    response = client.get(reverse("diaries:entry_new"))
    csp = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";") if part.strip())
    assert directives["default-src"] == "'self'"
    assert directives["connect-src"] == "'self'"  # the same-origin WebSocket, nothing else
    assert directives["script-src"] == "'self'" and directives["frame-ancestors"] == "'none'"
    assert "http" not in csp and "*" not in csp
    assert response["X-Frame-Options"] == "DENY"
    # No inline script for the CSP to allow.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.content.decode())


@pytest.mark.django_db
def test_session_and_csrf_cookies_are_httponly_and_samesite(client, user):
    client.get(reverse("account_login"))
    response = client.post(reverse("account_login"), {"login": user.username, "password": PASSWORD})
    session = response.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"
    assert client.cookies["csrftoken"]["httponly"]


# --- login throttling ------------------------------------------------------------------------


def _login(client: Client, username: str, password: str, address: str = "203.0.113.7"):
    return client.post(
        reverse("account_login"), {"login": username, "password": password}, REMOTE_ADDR=address
    )


@pytest.mark.django_db
def test_repeated_failed_logins_lock_out_then_unlock_after_the_cool_off(settings):
    settings.AXES_FAILURE_LIMIT = 3
    user = make_user("locked")
    client = Client()
    for _ in range(2):
        assert _login(client, "locked", "wrong-password").status_code == 200
    assert _login(client, "locked", "wrong-password").status_code == 429  # the third locks
    locked = _login(client, "locked", PASSWORD)  # even the right password, for now
    assert locked.status_code == 429 and "Too many failed attempts" in locked.content.decode()
    # Another address is not locked out of this account by someone else's failures.
    assert _login(Client(), "locked", PASSWORD, address="198.51.100.9").status_code == 302
    # After the cool-off the right password works again.
    settings.AXES_COOLOFF_TIME = dt.timedelta(seconds=0)
    assert _login(client, "locked", PASSWORD).status_code == 302
    assert user.is_active


@pytest.mark.django_db
def test_password_validators_refuse_a_weak_password(client):
    response = client.post(
        reverse("account_signup"),
        {"username": "weak", "password1": "password", "password2": "password"},
    )
    assert response.status_code == 200
    assert "too common" in response.content.decode()


# --- the socket ------------------------------------------------------------------------------

socket_tests = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def _signed_in_client(user) -> Client:
    client = Client()
    await database_sync_to_async(client.force_login)(user)
    return client


def _cookie(client: Client) -> str:
    return f"sessionid={client.cookies['sessionid'].value}"


async def _closed(communicator, timeout: float = 2) -> dict:
    while True:
        output = await communicator.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            return output


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_logout_closes_the_sockets_of_that_session_only(socket_for):
    user = await database_sync_to_async(make_user)()
    laptop, phone = await _signed_in_client(user), await _signed_in_client(user)
    laptop_ws, ok1 = await connect(cookie=_cookie(laptop))
    phone_ws, ok2 = await connect(cookie=_cookie(phone))
    assert ok1 and ok2
    await database_sync_to_async(laptop.post)(reverse("account_logout"))
    assert (await _closed(laptop_ws))["code"] == 4401
    assert await phone_ws.receive_nothing(timeout=0.3)
    await laptop_ws.disconnect()
    await phone_ws.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_password_change_closes_all_the_users_sockets():
    user = await database_sync_to_async(make_user)()
    laptop, phone = await _signed_in_client(user), await _signed_in_client(user)
    laptop_ws, _ = await connect(cookie=_cookie(laptop))
    phone_ws, _ = await connect(cookie=_cookie(phone))
    response = await database_sync_to_async(laptop.post)(
        reverse("account_change_password"),
        {
            "oldpassword": PASSWORD,
            "password1": "another-long-passphrase-77",
            "password2": "another-long-passphrase-77",
        },
    )
    assert response.status_code == 302
    assert (await _closed(laptop_ws))["code"] == 4401
    assert (await _closed(phone_ws))["code"] == 4401
    # The phone's old session no longer opens a socket.
    again, connected = await connect(cookie=_cookie(phone))
    assert not connected
    await again.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_deactivation_closes_sockets_and_stops_running_generations(scripted, socket_for):
    writer = scripted(pieces=[f"w{i} " for i in range(400)], delay=0.01)
    user, entry, ws = await entry_being_written(socket_for)
    user.is_active = False
    await database_sync_to_async(user.save)()
    assert (await _closed(ws.c))["code"] == 4401
    for _ in range(50):
        generation = await Generation.objects.aget(entry=entry)
        if generation.status != "generating":
            break
        await asyncio.sleep(0.05)
    assert generation.status == "cancelled" and generation.text
    assert writer.closed_early == 1


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_open_sockets_per_user_are_capped(settings, socket_for):
    settings.DIARY_MAX_SOCKETS_PER_USER = 2
    user = await database_sync_to_async(make_user)()
    await socket_for(user)
    await socket_for(user)
    third, connected = await connect(user)
    assert not connected
    await third.disconnect()
    other, connected = await connect(await database_sync_to_async(make_user)())
    assert connected
    await other.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_socket_whose_handler_fails_gives_back_its_place(settings, monkeypatch):
    """A handler that raises ends the consumer without `disconnect()`; its place in the
    per-user socket count must come back all the same, or the user is locked out."""
    from diaries.consumers import DiaryConsumer

    settings.DIARY_MAX_SOCKETS_PER_USER = 1
    user = await database_sync_to_async(make_user)()

    async def broken(self, text_data=None, bytes_data=None):
        raise RuntimeError("a handler failed")

    first, connected = await connect(user)
    assert connected
    monkeypatch.setattr(DiaryConsumer, "receive", broken)
    await first.send_to(text_data="{}")
    with pytest.raises(RuntimeError, match="a handler failed"):
        await first.receive_output(timeout=2)
    monkeypatch.undo()
    second, connected = await connect(user)
    assert connected
    await second.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_messages_are_rate_limited_per_user_across_sockets(settings, socket_for):
    settings.DIARY_USER_MESSAGES_PER_SECOND = 4
    user = await database_sync_to_async(make_user)()
    entry = await database_sync_to_async(make_entry)(user)
    sockets = [await socket_for(user) for _ in range(3)]
    for socket in sockets:
        for _ in range(3):
            await socket.send({"action": "watch", "entry": entry.pk})
    codes = []
    for socket in sockets:
        for _ in range(3):
            frame = await socket.recv()
            codes.append(frame.get("code") or frame["type"])
    # 9 messages within a second: at most 4 (+4 if the second ticked over) are answered.
    assert codes.count("rate_limited") >= 1
    assert codes.count("snapshot") <= 8


# --- logs ------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_diary_text_never_reaches_the_logs(scripted, socket_for, caplog):
    caplog.set_level(logging.DEBUG)
    secret_note = "met my therapist about the divorce"
    scripted(
        pieces=["I ", "talked ", "about ", "the ", "private ", "matter."],
        error=RuntimeError("upstream exploded"),
        error_after=6,
    )
    user = await database_sync_to_async(make_user)()
    ws = await socket_for(user)
    await ws.send({"action": "generate", "morning": secret_note, "request_id": "r-log"})
    await ws.until("done")
    assert caplog.records, "the generation logged nothing at all"
    assert secret_note not in caplog.text and "private matter" not in caplog.text


def test_streamed_text_is_inserted_as_text_never_html():
    script = (ROOT / "diaries/static/diaries/diary.js").read_text()
    assert "textContent" in script
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink


# --- fuzz: 1,000+ hostile frames --------------------------------------------------------------

FUZZ_STATS = {"frames": 0, "errors": 0, "closes": 0, "internal": 0}


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(240)
async def test_fuzzed_frames_never_crash_the_socket(scripted, settings, caplog):
    """At least 1,000 malformed or hostile frames: every one gets an error frame, a normal
    answer or a proper close (4009 for oversize); never a traceback; the socket (or a new
    one) still works afterwards."""
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hsettings
    from hypothesis import strategies as st

    settings.DIARY_MESSAGE_BURST = 10_000
    settings.DIARY_MESSAGES_PER_SECOND = 10_000
    settings.DIARY_USER_MESSAGES_PER_SECOND = 10_000
    settings.DIARY_MAX_MESSAGE_BYTES = 4096
    scripted(pieces=["ok."])
    owner = await database_sync_to_async(make_user)()
    victim = await database_sync_to_async(make_user)()
    own = await database_sync_to_async(make_entry)(owner)
    theirs = await database_sync_to_async(make_entry)(victim, morning="victim's secret")
    cookie = await database_sync_to_async(session_cookie_for)(owner)

    json_values = st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text(max_size=30),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=10,
    )
    ids = st.sampled_from([own.pk, theirs.pk, 0, -1, 2**63, 10**40, True, "1", 1.5, None, []])
    actions = st.sampled_from(
        [
            "generate",
            "sendmessage",
            "watch",
            "cancel",
            "",
            "GENERATE",
            "__init__",
            "dispatch",
            "receive",
            "websocket_connect",
        ]
    )
    messages = st.fixed_dictionaries(
        {"action": actions | json_values},
        optional={
            "entry": ids | json_values,
            "data": st.text(max_size=50) | json_values,
            "morning": st.text(max_size=40) | json_values,
            "tone": st.sampled_from(["warm", "angry", ""]) | json_values,
            "language": st.sampled_from(["en", "ja", "xx"]) | json_values,
            "date": st.sampled_from(["2026-01-01", "tomorrow", "9999-99-99"]) | json_values,
            "request_id": st.text(max_size=80) | json_values,
        },
    ).map(json.dumps)
    frames = st.one_of(
        messages,
        json_values.map(json.dumps),
        st.text(max_size=200),
        st.binary(min_size=1, max_size=200),
        st.integers(5000, 20000).map(
            lambda n: json.dumps({"action": "sendmessage", "data": "x" * n})
        ),
    )
    state = {"ws": None}

    async def fresh_socket():
        if state["ws"] is not None:
            await state["ws"].disconnect()
        communicator, connected = await connect(cookie=cookie)
        assert connected
        state["ws"] = communicator

    async def run_batch(batch):
        for frame in batch:
            ws = state["ws"]
            FUZZ_STATS["frames"] += 1
            kind = "bytes" if isinstance(frame, bytes) else "text"
            await ws.send_input({"type": "websocket.receive", kind: frame})
            answered = False
            while True:
                # receive_output() cancels the application on a timeout: probe first.
                if await ws.receive_nothing(timeout=0.02 if answered else 10):
                    assert answered, f"no answer to {frame!r:.200}"
                    break
                output = await ws.receive_output(timeout=1)
                answered = True
                if output["type"] == "websocket.close":
                    FUZZ_STATS["closes"] += 1
                    assert output.get("code") in (4009, 4401), output
                    await fresh_socket()
                    break
                reply = json.loads(output["text"])
                assert reply["type"] in {"error", "snapshot", "started", "delta", "done"}
                assert "victim's secret" not in output["text"]
                if reply["type"] == "error":
                    FUZZ_STATS["errors"] += 1
                    if reply["code"] == "internal":
                        FUZZ_STATS["internal"] += 1
                    assert reply["code"] != "internal", (frame, reply)

    loop = asyncio.get_running_loop()

    @hsettings(
        max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(st.lists(frames, min_size=30, max_size=30))
    def check(batch):
        asyncio.run_coroutine_threadsafe(run_batch(batch), loop).result(timeout=120)

    await fresh_socket()
    await asyncio.to_thread(check)
    assert FUZZ_STATS["frames"] >= 1000
    assert FUZZ_STATS["internal"] == 0
    # The socket still works.
    ws = state["ws"]
    await ws.send_to(text_data=json.dumps({"action": "watch", "entry": own.pk}))
    while True:
        reply = json.loads(await ws.receive_from(timeout=3))
        if reply["type"] == "snapshot":
            break
    await ws.disconnect()
    assert "Traceback" not in caplog.text
    print(f"\nfuzz: {FUZZ_STATS}")
