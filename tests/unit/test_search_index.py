"""Each entry's search document (diaries/search_index.py): built sealed on the first search,
reused while the entry is unchanged, rebuilt when the entry was written since by any path."""

from __future__ import annotations

import re

import pytest
from django.db.models import BinaryField
from django.db.models.functions import Cast
from django.utils import timezone

from diaries import search_index
from diaries.models import DiaryEntry, EntrySearchText
from keystore import crypto
from keystore.fields import seal
from tests.support.factories import make_entry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_kept_diary(settings):
    settings.DIARY_SEARCH_CACHE_SECONDS = 0  # every search reads the documents again


def written(user, text: str, **notes) -> DiaryEntry:
    entry = make_entry(user, **notes)
    entry.text = text
    entry.save()
    return entry


def found(client, query: str) -> list[int]:
    """The entries a search page lists, in its order."""
    html = client.get("/search/", {"q": query}).text
    return [int(pk) for pk in re.findall(r'class="entry-link" href="/entries/(\d+)/"', html)]


def test_a_search_stores_each_entrys_document_sealed_and_reads_it_back_unbuilt(
    signed_in, user, monkeypatch
):
    rain = written(user, "A wet day.", morning="Rain on the Shinkansen")
    sun = make_entry(user, morning="", afternoon="晴れた午後")

    assert found(signed_in, "shinkansen") == [rain.pk]

    raw = dict(EntrySearchText.objects.values_list("entry_id", Cast("text", BinaryField())))
    assert set(raw) == {rain.pk, sun.pk}
    assert all(bytes(value).startswith(crypto.PREFIX_COMPRESSED) for value in raw.values())
    assert b"shinkansen" not in b"".join(bytes(value).lower() for value in raw.values())
    # The next search opens the documents and builds none: no entry is normalized again.
    built = []
    monkeypatch.setattr(search_index.search, "document", lambda values: built.append(values))
    assert found(signed_in, "晴れ") == [sun.pk] and built == []


def test_an_entry_written_by_a_path_that_knows_nothing_of_the_index_is_found_by_its_new_words(
    signed_in, user
):
    entry = written(user, "A day of rain.", morning="")
    assert found(signed_in, "rain") == [entry.pk]

    # An UPDATE as an import or another process would send it: the text and updated_at only.
    DiaryEntry.objects.filter(pk=entry.pk).update(
        text=seal(user.pk, "A day of snow."), updated_at=timezone.now()
    )

    assert found(signed_in, "rain") == []
    assert found(signed_in, "snow") == [entry.pk]


def test_a_document_of_an_older_normalized_form_is_rebuilt(signed_in, user):
    entry = make_entry(user, morning="Kites at the beach")
    assert found(signed_in, "kites") == [entry.pk]
    EntrySearchText.objects.filter(entry=entry).update(
        text=seal(user.pk, "nothing of the kind"), version=search_index.VERSION - 1
    )

    assert found(signed_in, "kites") == [entry.pk]
    assert EntrySearchText.objects.get(entry=entry).version == search_index.VERSION


@pytest.mark.django_db(transaction=True)  # the deleted entry's key is checked at commit
def test_an_entry_deleted_while_documents_are_built_fails_no_search(signed_in, user, monkeypatch):
    kept = make_entry(user, morning="Lanterns by the river")
    gone = make_entry(user, morning="Lanterns in the rain")
    document = search_index.search.document

    def deleting(values):
        DiaryEntry.objects.filter(pk=gone.pk).delete()  # another request, meanwhile
        return document(values)

    monkeypatch.setattr(search_index.search, "document", deleting)
    assert found(signed_in, "lanterns") == [kept.pk]  # the deleted entry is not shown
    monkeypatch.setattr(search_index.search, "document", document)

    assert found(signed_in, "lanterns") == [kept.pk]
    assert list(EntrySearchText.objects.values_list("entry_id", flat=True)) == [kept.pk]
