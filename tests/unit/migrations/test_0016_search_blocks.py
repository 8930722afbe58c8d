"""Migration 0016 puts search blocks (a month of documents a value) in place of the documents of
one entry each and their dictionaries: derived data dropped, no entry touched; the first search
builds the blocks. Reversed, the old tables come back empty, every entry kept."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test import Client

from tests.support.factories import make_entry
from tests.support.migrations import migrate

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("diaries", "0015_search_dictionary")]
AFTER = [("diaries", "0016_search_blocks")]
OLD_TABLES = {"diaries_entrysearchtext", "diaries_searchdictionary"}


def entries(apps) -> list[tuple]:
    return list(
        apps.get_model("diaries", "DiaryEntry")
        .objects.order_by("pk")
        .values_list("pk", "date", "updated_at", "morning", "text")
    )


def test_the_documents_give_way_to_blocks_and_come_back_empty_every_entry_kept(user, settings):
    settings.DIARY_SEARCH_CACHE_SECONDS = 0
    apps = migrate(BEFORE)
    for day in (1, 2, 40):
        make_entry(
            user, morning=f"Quinces, day {day}", date=dt.date(2026, 5, 1) + dt.timedelta(day)
        )
    index = apps.get_model("diaries", "EntrySearchText")
    for entry in apps.get_model("diaries", "DiaryEntry").objects.all():
        index.objects.create(
            entry=entry, text="an old document", source_changed_at=entry.updated_at, version=3
        )
    before = entries(apps)

    apps = migrate(AFTER)

    assert entries(apps) == before
    assert not OLD_TABLES & set(connection.introspection.table_names())
    blocks = apps.get_model("diaries", "SearchBlock").objects
    assert not blocks.exists()
    client = Client()
    client.force_login(user)
    assert "3 entries match" in client.get("/search/", {"q": "quinces"}).text
    assert sorted(blocks.values_list("month", "entries")) == [
        (dt.date(2026, 5, 1), 2),
        (dt.date(2026, 6, 1), 1),
    ]

    apps = migrate(BEFORE)

    assert entries(apps) == before
    assert OLD_TABLES <= set(connection.introspection.table_names())
    assert not apps.get_model("diaries", "EntrySearchText").objects.exists()
    assert "diaries_searchblock" not in connection.introspection.table_names()
