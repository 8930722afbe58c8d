"""An entry whose writing was cut off (its server stopped, or crashed and was swept) shows the
text written so far with Retry, on its page and to a watching socket, even when the entry had
no text of its own yet; Retry then writes it. The in-process tier of what the compose tier
checks with a replica stopped mid-stream."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from diaries.generation import Hub
from diaries.models import DiaryEntry, Generation
from diaries.services import generations
from diaries.writers import WriterError
from keystore.fields import seal
from tests.support.factories import ScriptedWriter, make_entry, make_user
from tests.support.pages import EntryPage, entry_page

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

db = database_sync_to_async


@db
def page_of(user, entry_id: int) -> EntryPage:
    client = Client()
    client.force_login(user)
    response = client.get(f"/entries/{entry_id}/")
    assert response.status_code == 200
    return entry_page(response.content.decode())


@db
def entry_text(entry_id: int) -> str:
    return DiaryEntry.objects.get(pk=entry_id).text


async def stopped_mid_stream(user, entry) -> str:
    """Write `entry` in another hub (another server process) and stop that process mid-stream,
    as SIGTERM does; the text the stopped generation kept."""
    writer = ScriptedWriter(pieces=[f"w{i} " for i in range(200)], delay=0.01)
    other = Hub(asyncio.get_running_loop())
    started = await other.start(user=user, entry=entry, writer=writer)
    await asyncio.sleep(0.3)
    await other.shutdown()
    generation = await db(Generation.objects.get)(pk=started.generation.pk)
    assert generation.status == "interrupted" and 0 < len(generation.text) < len(writer.text)
    return generation.text


async def test_a_server_stopped_mid_stream_leaves_the_text_so_far_on_the_page_with_retry(
    scripted, socket_for
):
    user = await db(make_user)()
    entry = await db(make_entry)(user)
    ws = await socket_for(user)
    await ws.send({"action": "watch", "entry": entry.pk})
    await ws.until("snapshot")
    kept = await stopped_mid_stream(user, entry)
    done = await ws.until("done")
    assert (done["status"], done["text"]) == ("interrupted", kept)
    assert await entry_text(entry.pk) == ""  # never written whole: the entry has no text yet
    page = await page_of(user, entry.pk)
    assert (page.status, page.text, page.retry_shown) == ("interrupted", kept, True)
    # A page opened now gets the same from its socket.
    late = await socket_for(user)
    await late.send({"action": "watch", "entry": entry.pk})
    snapshot = await late.until("snapshot")
    assert (snapshot["status"], snapshot["text"]) == ("interrupted", kept)
    # Retry writes the entry.
    writer = scripted(pieces=["Dear ", "diary."])
    await ws.send({"action": "generate", "entry": entry.pk})
    assert (await ws.until("done"))["status"] == "done"
    page = await page_of(user, entry.pk)
    assert (page.status, page.text, page.retry_shown) == ("done", writer.text, False)


async def test_a_crashed_server_swept_later_leaves_its_checkpoint_on_the_page_with_retry():
    user = await db(make_user)()
    entry = await db(make_entry)(user)
    started = await db(generations.generation_start)(
        user=user, entry=entry, writer_name="scripted", model_name="scripted-1"
    )
    gid = started.generation.pk
    await db(generations.generations_checkpoint)(
        texts={gid: (seal(user.pk, "Dear diary, the "), 3)}, alive=[gid]
    )
    assert await db(generations.generations_sweep_stale)(stale_after=-1) == 1
    page = await page_of(user, entry.pk)
    assert (page.status, page.text, page.retry_shown) == ("interrupted", "Dear diary, the ", True)


async def test_a_retry_that_fails_before_writing_keeps_the_earlier_text_on_the_page(
    scripted, socket_for
):
    user = await db(make_user)()
    entry = await db(make_entry)(user)
    kept = await stopped_mid_stream(user, entry)
    scripted(pieces=[], error=WriterError("upstream_unavailable", "The model is unreachable."))
    ws = await socket_for(user)
    await ws.send({"action": "generate", "entry": entry.pk})
    done = await ws.until("done")
    assert (done["status"], done["text"]) == ("failed", "")
    page = await page_of(user, entry.pk)
    assert (page.status, page.text, page.retry_shown) == ("failed", kept, True)
    # A socket attaching now shows the same text.
    late = await socket_for(user)
    await late.send({"action": "watch", "entry": entry.pk})
    snapshot = await late.until("snapshot")
    assert (snapshot["status"], snapshot["text"]) == ("failed", kept)
