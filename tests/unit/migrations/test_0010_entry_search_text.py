"""Migration 0010 builds every existing entry's search document, sealed, in batches; reversing
it drops them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.models import BinaryField
from django.db.models.functions import Cast

from diaries import search, search_index
from keystore import crypto
from tests.support.migrations import migrate

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("diaries", "0009_encrypt_diary_text")]
AFTER = [("diaries", "0010_entry_search_text")]


def test_every_existing_entry_gets_its_document_and_loses_it_when_reversed(monkeypatch):
    monkeypatch.setattr(search_index, "BATCH", 2)  # several batches
    apps = migrate(BEFORE)
    User = apps.get_model("auth", "User")
    DiaryEntry = apps.get_model("diaries", "DiaryEntry")
    for n in range(2):
        owner = User.objects.create(username=f"before-0010-{n}")
        for day in range(1, 4):
            DiaryEntry.objects.create(
                owner=owner,
                date=dt.date(2026, 5, day),
                morning=f"Ｒａｍｅｎ {n}/{day}",  # noqa: RUF001 (full-width, folded)
                notes="川沿いを散歩" if day == 2 else "",
                text=f"Dear diary, Walking {n}/{day}." if day != 3 else "",
            )

    apps = migrate(AFTER)

    entries = apps.get_model("diaries", "DiaryEntry").objects.order_by("pk")
    index = apps.get_model("diaries", "EntrySearchText").objects
    documents = dict(index.values_list("entry_id", "text"))
    assert documents == {
        pk: search.document(values) for pk, *values in entries.values_list("pk", *search.FIELDS)
    }
    assert "ramen 1/2\0" in documents[entries.filter(owner__username="before-0010-1")[1].pk]
    # Built from the entries as they are: a search after the migration rebuilds none of them.
    assert sorted(index.values_list("entry_id", "source_changed_at", "version")) == [
        (pk, changed, search_index.VERSION)
        for pk, changed in entries.values_list("pk", "updated_at")
    ]
    raw = index.values_list(Cast("text", BinaryField()), flat=True)
    assert all(bytes(value).startswith(crypto.PREFIX_COMPRESSED) for value in raw)

    migrate(BEFORE)

    assert "diaries_entrysearchtext" not in connection.introspection.table_names()
