"""A generation with names kept from the model (scripted writer, in process): the writer is
asked with placeholders, and everything after it — frames, checkpoints, the saved text, the
moderation check — sees the names."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from diaries.models import DiaryEntry, Generation, ModerationState, Profile
from tests.support.factories import checkpoints_recorded, make_entry, make_user

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

ANSWER = "Tea with [P1] by the [P2] river; [P3]さんも来た。"
RESTORED = "Tea with Alice by the Kamo river; 田中さんも来た。"


async def person(*, keep: bool = True, names: str = "Alice\nKamo\n田中"):
    user = await database_sync_to_async(make_user)()
    await Profile.objects.aupdate_or_create(
        user=user, defaults={"keep_names_from_model": keep, "private_names": names}
    )
    return user


async def start(socket_for, user, **notes):
    notes = {"morning": "tea with Alice by the Kamo", "afternoon": "田中さんも", **notes}
    entry = await database_sync_to_async(make_entry)(user, **notes)
    ws = await socket_for(user)
    await ws.send({"action": "generate", "entry": entry.pk})
    return entry, ws


async def test_the_writer_gets_placeholders_and_every_later_step_sees_names(
    scripted, socket_for, settings, monkeypatch
):
    settings.DIARY_CHECKPOINT_SECONDS = 0.1
    settings.DIARY_MODERATION = "wordlist"
    settings.DIARY_MODERATION_WORDS = ["Kamo"]  # flags the text only if the check sees names
    checkpoints = checkpoints_recorded(monkeypatch)
    writer = scripted(pieces=list(ANSWER), delay=0.01)  # one character per piece
    user = await person()

    entry, ws = await start(socket_for, user)
    done = await ws.until("done", timeout=10)

    [request] = writer.calls
    asked = repr(request)
    assert not any(name in asked for name in ("Alice", "Kamo", "田中"))
    assert request.morning == "tea with [P1] by the [P2]" and request.afternoon == "[P3]さんも"
    deltas = [f["text"] for f in ws.frames if f["type"] == "delta"]
    assert "".join(deltas) == done["text"] == RESTORED
    assert checkpoints and all("[P" not in text for text in checkpoints)
    assert any("Alice" in text for text in checkpoints)
    saved = await DiaryEntry.objects.aget(pk=entry.pk)
    generation = await Generation.objects.aget(entry=entry)
    assert saved.text == generation.text == RESTORED
    assert saved.moderation_state == ModerationState.FLAGGED


async def test_a_placeholder_cut_off_by_a_stop_is_kept_as_written(scripted, socket_for):
    hold = asyncio.Event()
    scripted(pieces=["Tea with [P1] and [P", "2"], hold=hold)
    user = await person()

    entry, ws = await start(socket_for, user)
    first = await ws.until("delta")
    await ws.send({"action": "cancel", "entry": entry.pk})
    done = await ws.until("done")

    assert first["text"] == "Tea with Alice and "
    assert done["status"] == "cancelled" and done["text"] == "Tea with Alice and [P2"
    assert (await Generation.objects.aget(entry=entry)).text == done["text"]


async def test_names_are_left_in_place_when_the_option_is_off(scripted, socket_for):
    writer = scripted(pieces=["Tea with Alice."])
    user = await person(keep=False)

    _entry, ws = await start(socket_for, user)
    done = await ws.until("done")

    assert writer.calls[0].morning == "tea with Alice by the Kamo"
    assert "placeholder" not in writer.calls[0].messages[0]["content"]
    assert done["text"] == "Tea with Alice."


async def test_a_writer_that_keeps_everything_local_gets_the_names(scripted, socket_for):
    writer = scripted(pieces=["Tea with Alice."])
    writer.local = True  # as the offline writer: nothing leaves the process
    user = await person()

    _entry, ws = await start(socket_for, user)
    await ws.until("done")

    assert writer.calls[0].morning == "tea with Alice by the Kamo"
