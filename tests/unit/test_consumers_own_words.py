"""The socket and the person's own words: never replaced without `replace_edit`, written (or
polished) from when there are no notes, and refused notes named field by field."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from diaries.models import DiaryEntry, Generation
from diaries.services.entries import entry_update_text, entry_write_by_hand
from tests.support.factories import make_entry, make_user

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

MY_WORDS = "My own words about the day, chosen with care."


async def db(fn, *args, **kwargs):
    return await database_sync_to_async(fn)(*args, **kwargs)


def edited_entry(user) -> DiaryEntry:
    entry = make_entry(user)
    return entry_update_text(entry=entry, text=MY_WORDS)


def entry_row(entry_id: int) -> DiaryEntry:
    return DiaryEntry.objects.get(pk=entry_id)


def generation_count(entry_id: int) -> int:
    return Generation.objects.filter(entry_id=entry_id).count()


async def test_an_edited_entry_is_rewritten_only_with_replace_edit(scripted, socket_for):
    writer = scripted(pieces=["The model's ", "words."])
    user = await db(make_user)
    entry = await db(edited_entry, user)
    ws = await socket_for(user)
    await ws.send({"action": "generate", "entry": entry.pk, "request_id": "r-1"})
    error = await ws.until("error")
    assert error["code"] == "bad_request" and error["entry"] == entry.pk
    assert "your own" in error["message"] and "replace_edit" in error["message"]
    # Nothing started, nothing paid for, the words untouched; the socket stays usable.
    assert not writer.calls and await db(generation_count, entry.pk) == 0
    saved = await db(entry_row, entry.pk)
    assert (saved.text, saved.writer, saved.status) == (MY_WORDS, "owner", "edited")
    await ws.send({"action": "watch", "entry": entry.pk})
    assert (await ws.until("snapshot"))["text"] == MY_WORDS

    # With the owner's yes it is written, and the edit stays in the versions.
    await ws.send({"action": "generate", "entry": entry.pk, "replace_edit": True})
    await ws.until("started", entry=entry.pk)
    done = await ws.until("done", entry=entry.pk)
    assert done["text"] == "The model's words."
    saved = await db(entry_row, entry.pk)
    assert saved.text == "The model's words." and saved.writer == "scripted"
    assert await db(lambda: list(saved.edits.values_list("text", flat=True))) == [MY_WORDS]


@pytest.mark.parametrize("value", ["yes", 1, None])
async def test_replace_edit_must_be_a_boolean(scripted, socket_for, value):
    scripted(pieces=["x"])
    user = await db(make_user)
    entry = await db(make_entry, user)
    ws = await socket_for(user)
    await ws.send({"action": "generate", "entry": entry.pk, "replace_edit": value})
    error = await ws.until("error")
    assert error["code"] == "bad_request" and "replace_edit" in error["message"]
    assert await db(generation_count, entry.pk) == 0


async def test_the_model_writes_a_hand_written_entry_from_its_words(scripted, socket_for):
    writer = scripted(pieces=["Polished."])
    user = await db(make_user)
    entry = await db(
        entry_write_by_hand,
        user=user,
        text="Walked to the lighthouse; the fog horn kept time.",
        date=timezone.localdate(),
    )
    ws = await socket_for(user)
    await ws.send({"action": "generate", "entry": entry.pk, "replace_edit": True})
    assert (await ws.until("done", entry=entry.pk))["text"] == "Polished."
    assert "the fog horn kept time" in json.dumps(writer.calls[0].messages)


async def test_refused_notes_are_named_field_by_field(scripted, socket_for):
    writer = scripted(pieces=["x"])
    user = await db(make_user)
    ws = await socket_for(user)
    await ws.send({"action": "generate", "morning": " ", "afternoon": "", "tone": "loud"})
    error = await ws.until("error")
    assert error["code"] == "bad_request" and "entry" not in error
    assert error["fields"]["morning"] == [
        "Write at least a few words about your morning, afternoon or evening."
    ]
    assert set(error["fields"]) == {"morning", "tone"}
    assert "morning:" in error["message"]  # still readable by a client that ignores `fields`
    assert not writer.calls
