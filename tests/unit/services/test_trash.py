"""The trash (issue 17): a deleted entry is kept DIARY_TRASH_DAYS days, restorable with all it
had; it is in no list, search, calendar, export, share link nor socket action meanwhile; the
sweeper and "Empty trash" delete it for good; its running generation is stopped first and what
it used stays counted."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command
from django.utils import timezone

from diaries import generation, search, selectors
from diaries.exceptions import NotFound
from diaries.models import (
    DiaryEntry,
    EntryEdit,
    Generation,
    ModerationAction,
    ModerationEvent,
    SearchBlock,
    Sharing,
)
from diaries.services import accounts, entries, sharing, trash
from diaries.services.generations import generation_finish, generation_start
from tests.support.factories import make_entry, make_user


async def db(fn, *args, **kwargs):
    return await database_sync_to_async(fn)(*args, **kwargs)


def written_and_edited(user, **fields) -> DiaryEntry:
    """An entry with a finished generation and an edit of its text."""
    entry = make_entry(user, **fields)
    started = generation_start(user=user, entry=entry, writer_name="w", model_name="m")
    generation_finish(generation_id=started.generation.pk, status="done", text="Written.", seq=1)
    entry.refresh_from_db()
    return entries.entry_update_text(entry=entry, text="Edited by me.")


@pytest.mark.django_db
def test_a_trashed_entry_is_restored_with_its_versions_and_stays_private(user):
    entry = written_and_edited(user)
    entry.sharing, entry.share_token = Sharing.LINK, "tok-trash"
    entry.save()

    trash.entry_trash(user=user, entry=entry)
    assert not selectors.entries_for_user(user=user).exists()
    assert list(selectors.entries_in_trash(user=user)) == [entry]
    assert selectors.entry_published_by_token(token="tok-trash") is None
    assert ModerationEvent.objects.filter(
        entry=entry, action=ModerationAction.ENTRY_UNSHARED
    ).exists()

    restored = trash.entry_trash_restore(user=user, entry_id=entry.pk)

    assert restored.trashed_at is None
    assert list(selectors.entries_for_user(user=user)) == [entry]
    assert restored.text == "Edited by me."
    assert [g.text for g in Generation.objects.filter(entry=entry)] == ["Written."]
    assert [e.text for e in EntryEdit.objects.filter(entry=entry)] == ["Edited by me."]
    assert (restored.sharing, restored.share_token) == (Sharing.PRIVATE, None)


@pytest.mark.django_db
def test_no_one_else_can_trash_or_restore_an_entry(user, other_user):
    entry = make_entry(user)

    with pytest.raises(NotFound):
        trash.entry_trash(user=other_user, entry=entry)
    trash.entry_trash(user=user, entry=entry)
    with pytest.raises(NotFound):
        trash.entry_trash_restore(user=other_user, entry_id=entry.pk)
    assert DiaryEntry.objects.get(pk=entry.pk).trashed_at is not None


@pytest.mark.django_db
def test_a_trashed_entry_cannot_be_written_nor_shared(user):
    entry = written_and_edited(user)
    trash.entry_trash(user=user, entry=entry)

    with pytest.raises(DiaryEntry.DoesNotExist):
        generation_start(user=user, entry=entry, writer_name="w", model_name="m")
    with pytest.raises(NotFound):
        sharing.entry_share(user=user, entry=entry)
    assert not Generation.objects.filter(entry=entry, status="generating").exists()


@pytest.mark.django_db
def test_a_trashed_entry_is_in_no_search_calendar_nor_export(user):
    entry = make_entry(user, notes="ramen in the snow")
    search.CorpusCache.clear(selectors._corpora)
    assert len(selectors.entries_search(user=user, query="ramen")) == 1  # kept in the cache

    trash.entry_trash(user=user, entry=entry)

    assert len(selectors.entries_search(user=user, query="ramen")) == 0
    assert not selectors.entries_for_month(user=user, year=entry.date.year, month=entry.date.month)
    assert not selectors.entries_for_export(user=user)
    trash.entry_trash_restore(user=user, entry_id=entry.pk)
    assert list(selectors.entries_search(user=user, query="ramen")) == [entry]


@pytest.mark.django_db
def test_search_sees_an_older_entry_restored_while_another_is_trashed(user):
    """The same number of entries, the same last change: the cached diary is not reused."""
    older, newer = make_entry(user, notes="older miso"), make_entry(user, notes="newer miso")
    trash.entry_trash(user=user, entry=older)
    search.CorpusCache.clear(selectors._corpora)
    assert list(selectors.entries_search(user=user, query="miso")) == [newer]

    trash.entry_trash(user=user, entry=newer)
    trash.entry_trash_restore(user=user, entry_id=older.pk)

    assert list(selectors.entries_search(user=user, query="miso")) == [older]


@pytest.mark.django_db
def test_the_sweeper_deletes_only_what_has_been_in_the_trash_long_enough(user, settings):
    settings.DIARY_TRASH_DAYS = 30
    old, recent, kept = make_entry(user), make_entry(user), make_entry(user)
    trash.entry_trash(user=user, entry=old)
    trash.entry_trash(user=user, entry=recent)
    DiaryEntry.objects.filter(pk=old.pk).update(
        trashed_at=timezone.now() - dt.timedelta(days=30, minutes=1)
    )
    DiaryEntry.objects.filter(pk=recent.pk).update(
        trashed_at=timezone.now() - dt.timedelta(days=29)
    )

    call_command("sweep_generations", stdout=open("/dev/null", "w"))

    assert set(DiaryEntry.objects.values_list("pk", flat=True)) == {recent.pk, kept.pk}


@pytest.mark.django_db
def test_emptying_the_trash_deletes_only_ones_own_trash(user, other_user):
    mine, theirs, kept = make_entry(user), make_entry(other_user), make_entry(user)
    written = written_and_edited(user)
    for entry, owner in ((mine, user), (theirs, other_user), (written, user)):
        trash.entry_trash(user=owner, entry=entry)

    assert trash.trash_empty(user=user) == 2

    assert set(DiaryEntry.objects.values_list("pk", flat=True)) == {theirs.pk, kept.pk}
    assert not Generation.objects.filter(entry_id=written.pk).exists()
    assert selectors.generations_today_count(user=user) == 1  # what it used stays counted


@pytest.mark.django_db
def test_one_entry_of_ones_trash_is_deleted_for_good_its_words_forgotten(user, other_user):
    gone = written_and_edited(user, morning="Quokkas on the ferry")
    kept = make_entry(user, morning="Quokkas again", date=gone.date)
    theirs = make_entry(other_user)
    assert len(selectors.entries_search(user=user, query="quokkas").ids) == 2  # blocks built
    trash.entry_trash(user=user, entry=gone)
    trash.entry_trash(user=other_user, entry=theirs)

    with pytest.raises(NotFound):
        trash.trash_entry_delete(user=user, entry_id=theirs.pk)
    with pytest.raises(NotFound):
        trash.trash_entry_delete(user=user, entry_id=kept.pk)  # not in the trash
    trash.trash_entry_delete(user=user, entry_id=gone.pk)

    assert set(DiaryEntry.objects.values_list("pk", flat=True)) == {kept.pk, theirs.pk}
    assert not Generation.objects.filter(entry_id=gone.pk).exists()
    assert not SearchBlock.objects.filter(owner=user).exists()  # its month's block, at once
    assert selectors.entries_search(user=user, query="ferry").ids == []


@pytest.mark.django_db
def test_deleting_the_account_deletes_its_trash_too(user):
    entry = written_and_edited(user)
    trash.entry_trash(user=user, entry=entry)

    accounts.account_delete(user=user)

    assert not DiaryEntry.objects.filter(pk=entry.pk).exists()
    assert not Generation.objects.filter(entry_id=entry.pk).exists()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_trashing_an_entry_being_written_stops_it_and_it_stays_counted(
    scripted, socket_for, settings
):
    settings.DIARY_DAILY_GENERATIONS = 1
    hold = asyncio.Event()
    writer = scripted(pieces=["Dear ", "diary."], hold=hold)
    user = await db(make_user)
    entry = await db(make_entry, user)
    ws = await socket_for(user)
    try:
        await ws.send({"action": "generate", "entry": entry.pk})
        await ws.until("delta")

        await db(trash.entry_trash, user=user, entry=entry)

        done = await ws.until("done", entry=entry.pk)
        assert done["status"] == "cancelled"
        assert writer.closed_early == 1
        # Neither a watch nor a new start reaches it; restoring does not give a start back.
        await ws.send({"action": "watch", "entry": entry.pk})
        assert (await ws.until("error"))["code"] == "not_found"
        await ws.send({"action": "generate", "entry": entry.pk})
        assert (await ws.until("error"))["code"] == "not_found"
        await db(trash.entry_trash_restore, user=user, entry_id=entry.pk)
        await ws.send({"action": "generate", "entry": entry.pk})
        assert (await ws.until("error"))["code"] == "quota_exceeded"
    finally:
        hold.set()
    assert await db(selectors.generations_today_count, user=user) == 1


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_repeated_request_id_does_not_reach_a_trashed_entry(scripted, socket_for):
    scripted(pieces=["Dear ", "diary."])
    user = await db(make_user)
    entry = await db(make_entry, user)
    ws = await socket_for(user)
    await ws.send({"action": "generate", "entry": entry.pk, "request_id": "once"})
    await ws.until("done", entry=entry.pk)
    await db(trash.entry_trash, user=user, entry=entry)

    await ws.send({"action": "generate", "entry": entry.pk, "request_id": "once"})

    assert (await ws.until("error"))["code"] == "not_found"
    assert [f["type"] for f in ws.frames[-1:]] == ["error"]  # no snapshot of its text


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_every_server_sweeps_the_expired_trash(settings):
    settings.DIARY_SWEEP_SECONDS = 0.05
    user = await db(make_user)
    entry = await db(make_entry, user)
    await db(trash.entry_trash, user=user, entry=entry)
    expired = timezone.now() - dt.timedelta(days=settings.DIARY_TRASH_DAYS + 1)
    await db(DiaryEntry.objects.filter(pk=entry.pk).update, trashed_at=expired)
    hub = generation.get_hub()
    try:
        await hub.ensure_started()
        async with asyncio.timeout(3):
            while await db(DiaryEntry.objects.filter(pk=entry.pk).exists):
                await asyncio.sleep(0.05)
    finally:
        await hub.shutdown()
