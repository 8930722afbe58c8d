"""Each entry's search document (diaries/search_index.py): built sealed on the first search,
reused while the entry is unchanged, rebuilt when the entry was written since by any path."""

from __future__ import annotations

import re

import pytest
from django.db.models import BinaryField
from django.db.models.functions import Cast
from django.utils import timezone

from diaries import search_index
from diaries.models import DiaryEntry, EntrySearchText, SearchDictionary
from diaries.services.entries import entry_delete
from diaries.services.trash import entry_trash, trash_empty
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


@pytest.fixture
def short_dictionary(monkeypatch):
    """A dictionary from a diary of four entries, sampled from two, made again at twice that."""
    monkeypatch.setattr(search_index, "DICTIONARY_MIN_ENTRIES", 4)
    monkeypatch.setattr(search_index, "DICTIONARY_SAMPLE", 2)
    monkeypatch.setattr(search_index, "DICTIONARY_GROWTH", 2)


def raw_documents() -> dict[int, bytes]:
    return {
        pk: bytes(raw)
        for pk, raw in EntrySearchText.objects.values_list("entry_id", Cast("text", BinaryField()))
    }


def test_a_long_diarys_documents_are_compressed_against_its_sealed_dictionary(
    signed_in, user, short_dictionary
):
    entries = [written(user, f"Quince jam, jar {n}, by the window.", morning="") for n in range(4)]

    assert sorted(found(signed_in, "quince")) == sorted(entry.pk for entry in entries)

    made = SearchDictionary.objects.get(owner=user)
    raw = bytes(
        SearchDictionary.objects.filter(pk=made.pk).values_list(
            Cast("text", BinaryField()), flat=True
        )[0]
    )
    assert b"quince" not in raw.lower() and "quince" in made.text
    assert made.entries == 4 and len(made.sampled) == 2
    documents = raw_documents()
    assert all(value.startswith(crypto.PREFIX_DICTIONARY) for value in documents.values())
    assert set(EntrySearchText.objects.values_list("dictionary", flat=True)) == {made.pk}
    assert found(signed_in, "window jar") != []


def test_a_diary_grown_past_its_dictionary_gets_a_new_one_and_every_document_again(
    signed_in, user, short_dictionary
):
    first = [written(user, f"Heron on the pond, day {n}.", morning="") for n in range(4)]
    assert len(found(signed_in, "heron")) == 4
    old = SearchDictionary.objects.get(owner=user)

    more = [written(user, f"Heron at dusk, day {n}.", morning="") for n in range(4)]

    assert sorted(found(signed_in, "heron")) == sorted(e.pk for e in first + more)
    new = SearchDictionary.objects.get(owner=user)
    assert new.pk != old.pk and new.entries == 8
    assert set(EntrySearchText.objects.values_list("dictionary", flat=True)) == {new.pk}


@pytest.mark.parametrize("how", ["delete", "empty trash", "another way"])
def test_deleting_an_entry_the_dictionary_was_sampled_from_forgets_its_words(
    signed_in, user, short_dictionary, how
):
    entries = [written(user, f"Plums, basket {n}.", morning=f"secret{n}word") for n in range(5)]
    assert len(found(signed_in, "plums")) == 5
    sampled = SearchDictionary.objects.get(owner=user).sampled
    gone = next(entry for entry in entries if entry.pk in sampled)
    secret = gone.morning

    if how == "delete":
        entry_delete(entry=gone)
    elif how == "empty trash":
        entry_trash(user=user, entry=gone)
        trash_empty(user=user)
    else:  # a deletion no service saw (the admin's, a shell's): the next search finds out
        DiaryEntry.objects.filter(pk=gone.pk).delete()
    if how != "another way":
        # Forgotten at once, with the documents compressed against it.
        assert not SearchDictionary.objects.filter(owner=user).exists()
        assert not EntrySearchText.objects.exists()

    assert sorted(found(signed_in, "plums")) == sorted(e.pk for e in entries if e != gone)
    made = SearchDictionary.objects.get(owner=user)
    assert gone.pk not in made.sampled and secret not in made.text
    assert found(signed_in, secret) == []
