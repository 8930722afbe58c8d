"""Encryption at rest: the person's words are nowhere in the diary database's bytes, and
deleting an account makes its text unreadable in a backup taken before.

Run on SQLite (the file and its write-ahead log) and, in the PostgreSQL pass (DATABASE_URL),
on a pg_dump of the test database.
"""

from __future__ import annotations

import secrets

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from diaries.models import DiaryEntry, EntryEdit, Generation, Profile, SearchBlock
from diaries.services.accounts import account_delete, profile_update
from diaries.services.entries import entry_update_text
from keystore.fields import Unreadable
from keystore.models import DataKey
from tests.support import backups
from tests.support.factories import checkpoints_recorded, make_entry, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def unique_word() -> str:
    return "Quorbl" + secrets.token_hex(6)


@pytest.mark.asyncio
async def test_no_diary_word_is_in_the_database_bytes_after_writing_generating_and_editing(
    socket_for, settings, monkeypatch
):
    word = unique_word()
    settings.DIARY_OFFLINE_DELAY = 0.01  # a stream of about a second: several checkpoints
    settings.DIARY_CHECKPOINT_SECONDS = 0.1
    checkpointed = checkpoints_recorded(monkeypatch)
    user = await database_sync_to_async(make_user)()
    name = unique_word()  # a name this person keeps from the model
    await database_sync_to_async(profile_update)(
        user=user,
        display_name="",
        ui_language="",
        default_language="",
        default_tone="plain",
        time_zone="",
        keep_names_from_model=True,
        private_names=name,
    )
    entry = await database_sync_to_async(make_entry)(
        user, morning=f"walked with {word} by the river", notes=f"{word} again, later"
    )
    ws = await socket_for(user)
    await ws.send({"action": "generate", "entry": entry.pk})
    done = await ws.until("done", timeout=30)
    await database_sync_to_async(entry_update_text)(
        entry=entry, text=done["text"] + f" And {word} once more."
    )

    # The flow really carried the word through every path that writes text.
    assert done["status"] == "done" and word in done["text"]
    assert any(word in text for text in checkpointed), "no checkpoint held the word"
    saved = await DiaryEntry.objects.aget(pk=entry.pk)
    generation = await Generation.objects.aget(entry=entry)
    edit = await EntryEdit.objects.aget(entry=entry)
    assert word in saved.text and word in saved.notes and word in saved.morning
    assert word in generation.text and word in edit.text and word in edit.previous_text

    assert (await Profile.objects.aget(user=user)).private_names == name
    # A search stores the entry's month's search block (its words normalized: lower case).
    client = Client()
    await database_sync_to_async(client.force_login)(user)
    page = await database_sync_to_async(client.get)("/search/", {"q": word})
    assert f'href="/entries/{entry.pk}/"' in page.text
    assert await SearchBlock.objects.filter(owner=user).aexists()
    for alias in ("default", "keys"):
        raw = await database_sync_to_async(backups.raw_bytes)(alias)
        assert word.encode() not in raw, f"{word} is stored in plain in {alias}"
        assert word.lower().encode() not in raw, f"{word} is in plain in {alias}'s index"
        # pg_dump writes a binary column (the search documents) in hex.
        assert word.lower().encode().hex().encode() not in raw, f"{word} is in a binary column"
        assert name.encode() not in raw, f"a private name is stored in plain in {alias}"
    # The bytes read are the diary database's own: its usernames are in plain.
    assert user.username.encode() in await database_sync_to_async(backups.raw_bytes)()


def test_a_deleted_accounts_text_cannot_be_read_from_a_backup_taken_before():
    word = unique_word()
    owner = make_user()
    entry = make_entry(owner, notes=f"{word} is a secret")
    entry_update_text(entry=entry, text=f"Dear diary, {word}.")
    assert DataKey.objects.filter(owner_id=owner.pk).exists()
    before = backups.backup()

    account_delete(user=owner)
    assert not DataKey.objects.filter(owner_id=owner.pk).exists()
    backups.restore(before)

    restored = DiaryEntry.objects.get(pk=entry.pk)  # the rows are back, the key is not
    assert isinstance(restored.text, Unreadable) and isinstance(restored.notes, Unreadable)
    assert word not in restored.text and "cannot be read" in restored.text
    assert not any(word in edit.text for edit in EntryEdit.objects.filter(entry_id=entry.pk))
    # The pages of the restored account still open, and show no word of the text.
    client = Client()
    client.force_login(restored.owner)
    for url in ("/", f"/entries/{entry.pk}/", f"/entries/{entry.pk}/history/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert word not in response.text
    # Saving it again keeps the stored text as it was: nothing is sealed over it.
    stored_before = list(DiaryEntry.objects.filter(pk=entry.pk).values_list("notes", flat=True))
    restored.save()
    restored.refresh_from_db()
    assert isinstance(restored.notes, Unreadable)
    assert stored_before == list(
        DiaryEntry.objects.filter(pk=entry.pk).values_list("notes", flat=True)
    )


def test_an_account_deleted_in_the_admin_loses_its_data_key_too():
    owner = make_user()
    make_entry(owner, notes="a note")
    assert DataKey.objects.filter(owner_id=owner.pk).exists()

    owner.delete()

    assert not DataKey.objects.filter(owner_id=owner.pk).exists()
