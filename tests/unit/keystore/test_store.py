"""keystore.store and `manage.py rotate_keys`: data keys wrapped by the server's keys, which
rotate: new wraps use the first, any opens, and a rotation rewraps every data key under the
first so the old server key can go."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from diaries.models import DiaryEntry
from keystore import crypto, store
from keystore.models import DataKey
from tests.support.factories import make_entry

pytestmark = pytest.mark.django_db


def read_notes(entry_id: int) -> str:
    store.cache_clear()  # as a freshly started process reads it
    return DiaryEntry.objects.get(pk=entry_id).notes


def test_rotating_keys_lets_the_old_server_key_go(user, settings, capsys):
    old, new = settings.NIKKI_ENCRYPTION_KEYS[0], Fernet.generate_key().decode()
    entry = make_entry(user, notes="written under the old key")

    settings.NIKKI_ENCRYPTION_KEYS = [new]
    with pytest.raises(crypto.KeyRingError):  # the old key is needed until the rotation
        read_notes(entry.pk)

    settings.NIKKI_ENCRYPTION_KEYS = [new, old]
    assert read_notes(entry.pk) == "written under the old key"
    call_command("rotate_keys")
    assert "Rewrapped 1 data key(s)" in capsys.readouterr().out
    assert DataKey.objects.get(owner_id=user.pk).rotated_at is not None

    settings.NIKKI_ENCRYPTION_KEYS = [new]
    assert read_notes(entry.pk) == "written under the old key"


def test_a_new_data_key_is_wrapped_with_the_first_server_key(user, settings):
    first = Fernet.generate_key().decode()
    settings.NIKKI_ENCRYPTION_KEYS = [first, *settings.NIKKI_ENCRYPTION_KEYS]

    make_entry(user, notes="a note")

    wrapped = bytes(DataKey.objects.get(owner_id=user.pk).wrapped)
    assert len(Fernet(first).decrypt(wrapped)) == 32  # an AES-256 key, never stored in plain


def test_destroying_a_data_key_forgets_it_in_this_process_too(user):
    entry = make_entry(user, notes="soon unreadable")
    assert DiaryEntry.objects.get(pk=entry.pk).notes == "soon unreadable"  # cached now

    assert store.data_key_destroy(owner_id=user.pk)

    assert "cannot be read" in DiaryEntry.objects.get(pk=entry.pk).notes
    assert not store.data_key_destroy(owner_id=user.pk)
