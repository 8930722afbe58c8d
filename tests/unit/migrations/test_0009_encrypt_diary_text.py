"""Migration 0009 encrypts the diary's existing texts in place, in batches, without losing a row,
and decrypts them back when reversed."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest

from keystore import migration as keystore_migration
from keystore.fields import sealed_text
from tests.support import backups
from tests.support.migrations import migrate

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("diaries", "0008_entry_owner_changed_index")]
AFTER = [("diaries", "0009_encrypt_diary_text")]


def rows(apps) -> dict[str, list[tuple]]:
    """Every text of every row, by model, in primary-key order."""
    return {
        "entries": list(
            apps.get_model("diaries", "DiaryEntry")
            .objects.order_by("pk")
            .values_list("pk", "morning", "afternoon", "evening", "notes", "text")
        ),
        "generations": list(
            apps.get_model("diaries", "Generation").objects.order_by("pk").values_list("pk", "text")
        ),
        "edits": list(
            apps.get_model("diaries", "EntryEdit")
            .objects.order_by("pk")
            .values_list("pk", "text", "previous_text")
        ),
        "profiles": list(
            apps.get_model("diaries", "Profile")
            .objects.order_by("pk")
            .values_list("pk", "private_names")
        ),
    }


def test_existing_texts_are_encrypted_in_batches_and_decrypted_back(monkeypatch):
    monkeypatch.setattr(keystore_migration, "BATCH", 2)  # several batches per table
    word = "Migrat" + secrets.token_hex(6)
    apps = migrate(BEFORE)
    User = apps.get_model("auth", "User")
    DiaryEntry = apps.get_model("diaries", "DiaryEntry")
    Generation = apps.get_model("diaries", "Generation")
    EntryEdit = apps.get_model("diaries", "EntryEdit")
    Profile = apps.get_model("diaries", "Profile")
    for n in range(3):
        owner = User.objects.create(username=f"before-0009-{n}")
        Profile.objects.create(user=owner, private_names=f"{word}\nAiko {n}" if n else "")
        for day in range(1, 4):
            entry = DiaryEntry.objects.create(
                owner=owner,
                date=dt.date(2026, 5, day),
                morning=f"{word} morning {n}/{day}",
                afternoon="",  # empty stays empty
                notes=f"日記 {word} {n}",
                text=f"Dear diary, {word} {n}/{day}.",
            )
            Generation.objects.create(
                entry=entry,
                status="done",
                writer="offline",
                tone="plain",
                language="en",
                text=f"Generated {word} {n}/{day}",
            )
            EntryEdit.objects.create(entry=entry, text=f"Edited {word}", previous_text="")
    # A row sealed by an earlier run that stopped half-way is left as it is.
    half_done = DiaryEntry.objects.order_by("pk").first()
    DiaryEntry.objects.filter(pk=half_done.pk).update(
        evening=sealed_text(half_done.owner_id, f"{word} sealed before")
    )
    plain = rows(apps)
    assert word.encode() in backups.raw_bytes()

    apps = migrate(AFTER)

    assert word.encode() not in backups.raw_bytes()
    encrypted = rows(apps)  # the EncryptedTextFields read them back as text
    counts = {"entries": 9, "generations": 9, "edits": 9, "profiles": 3}
    assert {k: len(v) for k, v in encrypted.items()} == counts
    expected = dict(plain)
    expected["entries"] = [
        (*row[:3], f"{word} sealed before" if row[0] == half_done.pk else row[3], *row[4:])
        for row in plain["entries"]
    ]
    assert encrypted == expected
    assert all(row[2] == "" for row in encrypted["entries"])

    apps = migrate(BEFORE)

    assert rows(apps) == expected  # plain TextFields again, holding the same words
    assert word.encode() in backups.raw_bytes()
