"""The socket answers in the language it is asked in, and a regeneration reads differently."""

from __future__ import annotations

import re

import pytest
from channels.db import database_sync_to_async

from diaries.models import DiaryEntry, Profile
from diaries.writers.offline import OfflineWriter
from tests.support.factories import make_entry, make_user

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def db(fn, *args, **kwargs):
    return await database_sync_to_async(fn)(*args, **kwargs)


def english_speaker():
    user = make_user()
    Profile.objects.update_or_create(user=user, defaults={"default_language": "en"})
    return user


@pytest.mark.parametrize(("data", "language"), [("こんにちは", "ja"), ("a walk by the sea", "en")])
async def test_sendmessage_writes_in_the_language_of_the_message(
    scripted, socket_for, settings, data, language
):
    settings.LANGUAGE_CODE = "en"
    scripted(OfflineWriter(delay=0))
    user = await db(english_speaker)
    ws = await socket_for(user)
    await ws.send({"action": "sendmessage", "data": data})
    started = await ws.until("started")
    done = await ws.until("done")
    entry = await db(DiaryEntry.objects.get, pk=started["entry"])
    assert entry.language == language
    assert data in done["text"]
    template_words = done["text"].replace(data, "")
    if language == "ja":
        assert not re.search(r"[A-Za-z]", template_words), done["text"]
    else:
        assert not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", template_words), done["text"]


async def test_each_generation_of_an_entry_is_its_own_variant(scripted, socket_for):
    writer = scripted(pieces=["Dear ", "diary."])
    user = await db(make_user)
    entry = await db(make_entry, user)
    ws = await socket_for(user)
    for _ in range(2):
        await ws.send({"action": "generate", "entry": entry.pk})
        await ws.until("started")
        await ws.until("done")
    first, second = writer.calls
    assert first.variant and second.variant and first.variant != second.variant
