"""Names kept from the model, on the wire: the real openai client against the scripted server,
which records every request body it received."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async

from diaries.models import DiaryEntry, Profile
from tests.support.factories import make_entry, make_user
from tests.support.openai_server import Script
from tests.support.wire import openai_server  # noqa: F401

pytestmark = [pytest.mark.wire, pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

NAMES = ("Alice", "Kyoto", "田中")
NOTES = {
    "morning": "Coffee with Alice in Kyoto, then alice showed me her KYOTO photos",
    "afternoon": "田中さんとランチ",
}
# The model's answer, placeholders cut across chunks (and one the notes never had).
REPLY = ["Coffee with [", "P", "1] in [P2", "]. Lunch with [P3", "]", "さん", ". [P", "9] stays."]
RESTORED = "Coffee with Alice in Kyoto. Lunch with 田中さん. [P9] stays."


@pytest.fixture
def use_openai(settings, openai_server):  # noqa: F811
    settings.DIARY_WRITER = "openai"
    settings.OPENAI_API_KEY = "sk-test-secret-key-0123456789"
    settings.OPENAI_BASE_URL = openai_server.base_url
    settings.OPENAI_MODEL = "diary-model-1"
    settings.OPENAI_MAX_RETRIES = 0
    settings.OPENAI_TIMEOUT = 2
    return openai_server


async def person_with_names(*, keep: bool):
    user = await database_sync_to_async(make_user)()
    await Profile.objects.aupdate_or_create(
        user=user,
        defaults={"keep_names_from_model": keep, "private_names": "\n".join(NAMES)},
    )
    return user


async def write(socket_for, user) -> tuple[DiaryEntry, list[dict], dict]:
    entry = await database_sync_to_async(make_entry)(user, evening="", **NOTES)
    ws = await socket_for(user)
    await ws.send({"action": "generate", "entry": entry.pk})
    done = await ws.until("done", timeout=10)
    deltas = [f for f in ws.frames if f["type"] == "delta"]
    return entry, deltas, done


def sent(request) -> str:
    """A request as the server received it, both as raw bytes and as parsed JSON (the client
    may escape non-ASCII characters as \\uXXXX)."""
    return request.raw_body.decode() + json.dumps(request.body, ensure_ascii=False)


async def test_listed_names_never_reach_the_server_and_come_back_in_the_stream(
    use_openai, socket_for
):
    use_openai.set_script(Script(tokens=REPLY, tokens_per_second=200))
    user = await person_with_names(keep=True)

    entry, deltas, done = await write(socket_for, user)

    [request] = use_openai.chat_requests
    received = sent(request)
    for name in (*NAMES, "alice", "KYOTO", "\\u7530\\u4e2d"):
        assert name not in received
    user_message = request.body["messages"][-1]["content"]
    assert "Coffee with [P1] in [P2], then [P1] showed me her [P2] photos" in user_message
    assert "[P3]さんとランチ" in user_message
    assert "[P1], [P2], [P3]" in request.body["messages"][0]["content"]
    assert len(deltas) >= 2
    assert "".join(d["text"] for d in deltas) == RESTORED
    assert all("[P1" not in d["text"] and "[P3" not in d["text"] for d in deltas)
    assert done["status"] == "done" and done["text"] == RESTORED
    saved = await DiaryEntry.objects.aget(pk=entry.pk)
    assert saved.text == RESTORED


async def test_with_the_option_off_the_names_are_sent_as_written(use_openai, socket_for):
    use_openai.set_script(Script(tokens=["Coffee with Alice in [P1]."], tokens_per_second=200))
    user = await person_with_names(keep=False)

    entry, _deltas, done = await write(socket_for, user)

    [request] = use_openai.chat_requests
    parsed = json.dumps(request.body, ensure_ascii=False)
    assert all(name in parsed for name in NAMES)
    assert "[P" not in parsed
    assert done["text"] == "Coffee with Alice in [P1]."  # nothing is restored either
    assert (await DiaryEntry.objects.aget(pk=entry.pk)).text == done["text"]
