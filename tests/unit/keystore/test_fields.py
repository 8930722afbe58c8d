"""keystore.fields: text is sealed for its owner on every way into the database, and a plain
text whose owner is unknown is refused rather than stored."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.exceptions import FieldError
from django.db import transaction
from django.db.models import BinaryField, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from diaries.models import DiaryEntry, EntryEdit, Generation, SearchBlock
from keystore import crypto, store
from keystore.fields import (
    EncryptionOwnerUnknown,
    Sealed,
    Unreadable,
    opened_text,
    seal,
    sealed_text,
)
from keystore.models import DataKey
from tests.support.factories import make_entry

pytestmark = pytest.mark.django_db


def stored(model, pk: int, field: str) -> str:
    """The value as the database holds it: read through a plain TextField of the same column."""
    return model.objects.filter(pk=pk).values_list(Cast(field, TextField()), flat=True).get()


def test_a_saved_text_is_sealed_for_its_owner_and_reads_back(user):
    entry = make_entry(user, notes="a quiet note")

    raw = stored(DiaryEntry, entry.pk, "notes")
    assert crypto.is_sealed(raw) and "quiet" not in raw
    assert crypto.owner_of(raw) == user.pk
    assert DiaryEntry.objects.get(pk=entry.pk).notes == "a quiet note"
    assert DataKey.objects.filter(owner_id=user.pk).count() == 1


def test_the_same_text_is_sealed_differently_each_time(user):
    first, second = make_entry(user, notes="same"), make_entry(user, notes="same")

    assert stored(DiaryEntry, first.pk, "notes") != stored(DiaryEntry, second.pk, "notes")


def test_empty_text_stays_empty_and_makes_no_key(user):
    entry = make_entry(user, morning="", afternoon="", evening="")

    assert stored(DiaryEntry, entry.pk, "evening") == ""
    assert not DataKey.objects.exists()


def test_a_text_reached_through_a_relation_is_sealed_for_the_entrys_owner(user, entry):
    edit = EntryEdit.objects.create(entry=entry, text="an edit", previous_text="before")

    assert crypto.owner_of(stored(EntryEdit, edit.pk, "previous_text")) == user.pk
    assert EntryEdit.objects.get(pk=edit.pk).previous_text == "before"


def test_update_takes_a_sealed_text_and_refuses_a_plain_one(user, entry):
    DiaryEntry.objects.filter(pk=entry.pk).update(text=seal(user.pk, "updated"))
    assert DiaryEntry.objects.get(pk=entry.pk).text == "updated"

    with pytest.raises(EncryptionOwnerUnknown), transaction.atomic():
        DiaryEntry.objects.filter(pk=entry.pk).update(text="plain")
    assert DiaryEntry.objects.get(pk=entry.pk).text == "updated"


def test_the_database_cannot_match_an_encrypted_text(user, entry):
    with pytest.raises(FieldError, match="Unsupported lookup 'icontains'"):
        list(DiaryEntry.objects.filter(notes__icontains="river"))
    with pytest.raises(EncryptionOwnerUnknown):
        list(DiaryEntry.objects.filter(notes="river"))
    # Empty or not is still a question the database can answer.
    assert list(Generation.objects.exclude(text="")) == []


def test_a_text_moved_under_another_owner_does_not_open(user, other_user):
    sealed = sealed_text(user.pk, "mine")
    sealed_text(other_user.pk, "theirs")  # the other owner has a key too
    forged = crypto.PREFIX + _with_owner(sealed, other_user.pk)

    assert opened_text(sealed) == "mine"
    assert isinstance(opened_text(forged), Unreadable)


def _with_owner(sealed: str, owner_id: int) -> str:
    raw = base64.urlsafe_b64decode(sealed[len(crypto.PREFIX) :])
    return base64.urlsafe_b64encode(owner_id.to_bytes(8, "big") + raw[8:]).decode()


def test_a_sealed_value_never_shows_its_text_in_a_traceback():
    assert "secret" not in repr(Sealed(1, "secret words"))


# --- EncryptedTextBlobField: the same, in a binary column (the search blocks) -----------------


def block(user, text) -> SearchBlock:
    return SearchBlock.objects.create(
        owner=user,
        month=dt.date(2026, 5, 1),
        text=text,
        entries=1,
        changed=timezone.now(),
        id_sum=1,
        version=1,
    )


def stored_bytes(pk: int) -> bytes:
    """A search block as the database holds it: read through a plain BinaryField."""
    raw = SearchBlock.objects.filter(pk=pk).values_list(Cast("text", BinaryField()), flat=True)
    return bytes(raw.get())


def test_a_text_in_a_binary_column_is_sealed_without_base64_and_reads_back(user, entry):
    made = block(user, "a quiet note")

    raw = stored_bytes(made.pk)
    assert raw.startswith(crypto.PREFIX_COMPRESSED) and b"quiet" not in raw
    # The owner's id, the nonce, then AES-GCM's ciphertext (of the LZ4 block: a few bytes more
    # than so short a text) and tag: no base64 around them.
    header = len(crypto.PREFIX_COMPRESSED) + 8 + crypto.NONCE_BYTES
    assert header + len("a quiet note") + 16 < len(raw) < header + len("a quiet note") + 16 + 10
    assert SearchBlock.objects.get(pk=made.pk).text == "a quiet note"


def test_a_long_text_in_a_binary_column_is_compressed_before_it_is_sealed(user, entry):
    text = " ".join(f"walked along the river, day {day}" for day in range(120))
    made = block(user, text)

    raw = stored_bytes(made.pk)
    assert len(raw) < len(text.encode()) / 2 and b"river" not in raw
    assert SearchBlock.objects.get(pk=made.pk).text == text


def test_a_binary_text_sealed_before_compression_still_opens(user, entry):
    # What an earlier version stored: the text's bytes sealed as they are, under "nk1.".
    key = store.data_key_get_or_create(owner_id=user.pk)
    owner, nonce = user.pk.to_bytes(8, "big"), b"\x01" * crypto.NONCE_BYTES
    body = AESGCM(key).encrypt(nonce, b"an older note", crypto.PREFIX.encode() + owner)
    old = crypto.PREFIX.encode() + owner + nonce + body
    made = block(user, Unreadable(old))

    assert stored_bytes(made.pk) == old
    assert SearchBlock.objects.get(pk=made.pk).text == "an older note"


def test_a_compressed_text_relabelled_as_uncompressed_does_not_open(user, entry):
    made = block(user, "a quiet note")
    raw = stored_bytes(made.pk)
    relabelled = crypto.PREFIX.encode() + raw[len(crypto.PREFIX_COMPRESSED) :]
    SearchBlock.objects.filter(pk=made.pk).update(text=Unreadable(relabelled))

    assert isinstance(SearchBlock.objects.get(pk=made.pk).text, Unreadable)


def test_a_binary_sealed_text_whose_key_is_gone_reads_as_unreadable_and_saves_back(user, entry):
    made = block(user, "a quiet note")
    before = stored_bytes(made.pk)
    DataKey.objects.filter(owner_id=user.pk).delete()
    store.cache_clear()

    document = SearchBlock.objects.get(pk=made.pk)
    assert isinstance(document.text, Unreadable)
    document.save()
    assert stored_bytes(made.pk) == before


def test_the_database_cannot_match_a_binary_sealed_text(user, entry):
    with pytest.raises((EncryptionOwnerUnknown, FieldError)):
        list(SearchBlock.objects.filter(text="a quiet note"))
    with pytest.raises(FieldError):
        list(SearchBlock.objects.filter(text__contains="quiet"))
