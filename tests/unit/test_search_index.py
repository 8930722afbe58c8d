"""A diary's search blocks, a month of documents each (diaries/search_index.py): built sealed on
the first search, reused while the month is unchanged, rebuilt when an entry of it was written,
came, went or moved since, by any path; a deleted entry's words forgotten."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db.models import BinaryField
from django.db.models.functions import Cast
from django.utils import timezone

from diaries import search_index
from diaries.models import DiaryEntry, SearchBlock
from diaries.services.entries import entry_delete
from diaries.services.trash import entry_trash, trash_empty
from keystore import crypto
from keystore.fields import Sealed, opened_texts, seal
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


MARCH, APRIL = dt.date(2026, 3, 1), dt.date(2026, 4, 1)


def raw_blocks() -> dict[dt.date, bytes]:
    return {
        month: bytes(raw)
        for month, raw in SearchBlock.objects.values_list("month", Cast("text", BinaryField()))
    }


def block_texts() -> str:
    """Every block of every diary, opened, as one text."""
    return "".join(opened_texts(raw_blocks().values()))


def test_a_search_stores_each_months_block_sealed_and_reads_it_back_unbuilt(
    signed_in, user, monkeypatch
):
    rain = written(user, "A wet day.", morning="Rain on the Shinkansen", date=MARCH)
    sun = make_entry(user, morning="", afternoon="晴れた午後", date=APRIL)
    dusk = make_entry(user, morning="Dusk", date=APRIL + dt.timedelta(days=3))

    assert found(signed_in, "shinkansen") == [rain.pk]

    raw = raw_blocks()
    assert set(raw) == {MARCH, APRIL}
    assert all(value.startswith(crypto.PREFIX_COMPRESSED) for value in raw.values())
    assert b"shinkansen" not in b"".join(value.lower() for value in raw.values())
    april = SearchBlock.objects.get(owner=user, month=APRIL)
    assert (april.entries, april.id_sum, april.version) == (
        2,
        sun.pk + dusk.pk,
        search_index.VERSION,
    )
    # The next search opens the blocks and builds none: no entry is normalized again.
    built = []
    monkeypatch.setattr(search_index.search, "document", lambda values: built.append(values))
    assert found(signed_in, "晴れ") == [sun.pk] and built == []
    assert found(signed_in, "dusk") == [dusk.pk] and built == []


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


def test_only_the_month_written_since_is_built_again(signed_in, user, monkeypatch):
    march = written(user, "Crocus in the park.", date=MARCH)
    april = written(user, "Crocus wilted.", date=APRIL)
    assert sorted(found(signed_in, "crocus")) == sorted([march.pk, april.pk])

    built = []
    document = search_index.search.document
    monkeypatch.setattr(
        search_index.search, "document", lambda values: built.append(values) or document(values)
    )
    april.text = "Tulips instead."
    april.save()

    assert found(signed_in, "crocus") == [march.pk]
    assert [values[0] for values in built] == ["Tulips instead."]


def test_an_entry_moved_to_another_month_is_found_there_and_only_there(signed_in, user):
    entry = written(user, "Hail at noon.", date=MARCH)
    other = written(user, "A calm day.", date=APRIL)
    assert found(signed_in, "hail") == [entry.pk]

    entry.date = APRIL + dt.timedelta(days=1)
    entry.save()

    assert found(signed_in, "hail") == [entry.pk]
    assert not SearchBlock.objects.filter(month=MARCH).exists()  # the month left empty
    april = SearchBlock.objects.get(month=APRIL)
    assert (april.entries, april.id_sum) == (2, entry.pk + other.pk)


def test_an_entry_gone_and_another_come_in_its_place_is_seen(signed_in, user):
    gone = written(user, "Moths at the lamp.", date=MARCH)
    assert found(signed_in, "moths") == [gone.pk]
    changed = SearchBlock.objects.get(month=MARCH).changed
    # Another way than the services (a shell), and an import that keeps a source's older time:
    # as many entries, the same latest change; only the ids tell.
    DiaryEntry.objects.filter(pk=gone.pk).delete()
    come = written(user, "Owls in the oak.", date=MARCH)
    DiaryEntry.objects.filter(pk=come.pk).update(updated_at=changed)

    assert found(signed_in, "moths") == []
    assert found(signed_in, "owls") == [come.pk]


def test_a_block_of_an_older_version_is_rebuilt(signed_in, user):
    entry = make_entry(user, morning="Kites at the beach")
    assert found(signed_in, "kites") == [entry.pk]
    SearchBlock.objects.filter(owner=user).update(
        text=Sealed(user.pk, "nothing of the kind"), version=search_index.VERSION - 1
    )

    assert found(signed_in, "kites") == [entry.pk]
    assert SearchBlock.objects.get(owner=user).version == search_index.VERSION


def test_a_block_that_does_not_open_is_rebuilt(signed_in, user, caplog):
    entry = make_entry(user, morning="Kites at the beach")
    assert found(signed_in, "kites") == [entry.pk]
    raw = raw_blocks()[entry.date.replace(day=1)]
    damaged = raw[:-1] + bytes([raw[-1] ^ 1])
    SearchBlock.objects.filter(owner=user).update(text=damaged)

    assert found(signed_in, "kites") == [entry.pk]
    assert "kites" in block_texts()
    assert "does not open" in caplog.text


@pytest.mark.django_db(transaction=True)  # the deleted entry's key is checked at commit
def test_an_entry_deleted_while_blocks_are_built_fails_no_search(signed_in, user, monkeypatch):
    kept = make_entry(user, morning="Lanterns by the river")
    gone = make_entry(user, morning="Lanterns in the rain")
    document = search_index.search.document

    def deleting(values):
        DiaryEntry.objects.filter(pk=gone.pk).delete()  # another request, meanwhile
        return document(values)

    monkeypatch.setattr(search_index.search, "document", deleting)
    assert found(signed_in, "lanterns") == [kept.pk]  # the deleted entry is not shown
    monkeypatch.setattr(search_index.search, "document", document)

    # The block built meanwhile holds the deleted entry: the next search sees it is one short.
    assert found(signed_in, "lanterns") == [kept.pk]
    assert SearchBlock.objects.get(owner=user).entries == 1
    assert "rain" not in block_texts()


@pytest.mark.parametrize("how", ["delete", "empty trash", "another way"])
def test_deleting_an_entry_forgets_its_words(signed_in, user, how):
    entries = [
        written(user, f"Plums, basket {n}.", morning=f"secret{n}word", date=MARCH.replace(day=n))
        for n in range(1, 5)
    ]
    april = written(user, "Plums again.", date=APRIL)
    assert len(found(signed_in, "plums")) == 5
    gone = entries[1]

    if how == "delete":
        entry_delete(entry=gone)
    elif how == "empty trash":
        entry_trash(user=user, entry=gone)
        trash_empty(user=user)
    else:  # a deletion no service saw (a shell's): the next search finds out
        DiaryEntry.objects.filter(pk=gone.pk).delete()
    if how != "another way":
        # Forgotten at once: its month's block is gone, the other month's kept.
        assert set(raw_blocks()) == {APRIL}

    assert sorted(found(signed_in, "plums")) == sorted(e.pk for e in [*entries, april] if e != gone)
    assert gone.morning not in block_texts() and "secret3word" in block_texts()
    assert found(signed_in, gone.morning) == []


def test_a_month_emptied_another_way_loses_its_block_at_the_next_search(signed_in, user):
    gone = written(user, "Fog on the bay.", morning="", date=MARCH)
    kept = written(user, "Clear skies.", morning="", date=APRIL)
    assert found(signed_in, "fog") == [gone.pk]

    DiaryEntry.objects.filter(pk=gone.pk).delete()

    assert found(signed_in, "skies") == [kept.pk]
    assert set(raw_blocks()) == {APRIL} and "fog" not in block_texts()
