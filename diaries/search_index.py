"""Each entry's words as search compares them, kept sealed beside it (`EntrySearchText`).

A search used to open the five encrypted fields of every entry and normalize them; now it opens
one value per entry, normalized when it was built. A document remembers the entry's
`updated_at` it was built from and the version of the normalized form: a search first rebuilds
the documents that are missing or older than their entry (written since, by any path: a form, a
generation's end, the admin, an import), so no write path has to remember the index, and the
first search after some writes pays for those entries only. The migration that made the table
built every existing entry's document.

A diary of DICTIONARY_MIN_ENTRIES entries or more has a `SearchDictionary`: a sample of its
documents that each document is compressed against (keystore.crypto.Dictionary), so a search
fetches far fewer bytes. It is made again, and every document rebuilt against it, when the diary
has grown fourfold since, or when an entry it was sampled from is deleted (at once, by
`entries_forgotten`, or at the next search when the deletion came another way).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import (
    BinaryField,
    BooleanField,
    Case,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    When,
)

from keystore.crypto import DICTIONARY_BYTES, Dictionary
from keystore.fields import Sealed, opened_texts

from . import search
from .models import DiaryEntry, EntrySearchText, SearchDictionary

# The document's version: a document of another version is rebuilt. 1: the normalized form
# (diaries/search.py), sealed as it is; 2: the same, compressed before it is sealed; 3: the
# same, compressed against the diary's dictionary when it has one.
VERSION = 3
BATCH = 500
DICTIONARY_MIN_ENTRIES = 50  # a shorter diary's documents are compressed each on its own
DICTIONARY_SAMPLE = 48  # entries, spread over the diary, whose documents make its dictionary
DICTIONARY_GROWTH = 4  # made again when the diary has this many times the entries it had


def documents(entries: QuerySet[DiaryEntry], *, owner) -> list[tuple[int, str]]:
    """(id, document) of every entry of `entries` (entries of `owner`), in its order; the
    missing or stale documents built and stored first. One query reads the order, another each
    document and whether it is current (built from the entry as it is now, in this version's
    form, against the owner's dictionary as it is now); the dictionary is made first when due
    (`dictionary`)."""
    # The order on its own: sorting the rows that carry the documents (kilobytes each) made
    # PostgreSQL sort megabytes, on disk past its work_mem.
    order = list(entries.values_list("pk", flat=True))
    made = dictionary(owner, order)
    found = {
        pk: (current, sealed)
        for pk, current, sealed in entries.order_by().values_list(
            "pk",
            Case(
                When(
                    Q(search_text__version=VERSION)
                    & Q(search_text__source_changed_at=F("updated_at"))
                    & Q(search_text__dictionary=made),
                    then=True,
                ),
                default=False,
                output_field=BooleanField(),
            ),
            # The sealed bytes as they are (not through the field, which opens a value at a
            # time): opened below together, the owner's key looked up once.
            ExpressionWrapper(F("search_text__text"), output_field=BinaryField()),
        )
    }
    current = [pk for pk in order if found.get(pk, (False,))[0]]
    opened = opened_texts((found[pk][1] for pk in current), _packed(made))
    texts = dict(zip(current, opened, strict=True))
    stale = [pk for pk in order if pk not in texts]
    for start in range(0, len(stale), BATCH):
        batch = stale[start : start + BATCH]
        texts.update(documents_build(DiaryEntry.objects.filter(pk__in=batch), dictionary=made))
    # An entry deleted since the first query has no document: it is left out.
    return [(pk, texts[pk]) for pk in order if pk in texts]


def dictionary(owner, order: list[int]) -> SearchDictionary | None:
    """`owner`'s search dictionary, made (again) first when due: `order` holds the ids of
    the entries being searched (the whole diary, or the entries written lately), and a diary
    of DICTIONARY_MIN_ENTRIES is one `order` of that many. None for a shorter diary."""
    made = dictionary_kept(owner)
    if made is None:
        due = len(order) >= DICTIONARY_MIN_ENTRIES
    else:
        due = len(order) >= DICTIONARY_GROWTH * made.entries or DiaryEntry.objects.filter(
            pk__in=made.sampled
        ).count() < len(made.sampled)
    if not due:
        return made
    if len(order) < DICTIONARY_MIN_ENTRIES:
        # An entry it was sampled from is gone, in a search of a few entries: forgotten now,
        # made again at the next search of the whole diary.
        SearchDictionary.objects.filter(pk=made.pk).delete()
        return None
    step = len(order) / DICTIONARY_SAMPLE
    sampled = sorted({order[int(index * step)] for index in range(DICTIONARY_SAMPLE)})
    texts = [
        search.document(values)
        for _pk, *values in DiaryEntry.objects.filter(pk__in=sampled).values_list(
            "pk", *search.FIELDS
        )
    ]
    # LZ4 looks back DICTIONARY_BYTES: the last of them (cut at a character's start).
    data = "\0".join(texts).encode()[-DICTIONARY_BYTES:].decode(errors="ignore")
    try:
        with transaction.atomic():
            # Its documents go with it (on_delete=CASCADE): rebuilt against the new one.
            SearchDictionary.objects.filter(owner=owner).delete()
            return SearchDictionary.objects.create(
                owner=owner, text=data, entries=len(order), sampled=sampled
            )
    except IntegrityError:  # another search made it meanwhile
        return dictionary_kept(owner)


def dictionary_kept(owner) -> SearchDictionary | None:
    """`owner`'s search dictionary as it is (none is made here)."""
    return SearchDictionary.objects.filter(owner=owner).first()


def _packed(made: SearchDictionary | None) -> Dictionary | None:
    """What sealing takes of a dictionary (its text is opened already: this only hashes it)."""
    return None if made is None else Dictionary(made.text.encode())


def entries_forgotten(entry_ids: list[int], owner_ids: set[int]) -> None:
    """Entries of these owners are being deleted for good: a dictionary sampled from one of
    them is deleted now (with its documents), so that their words do not live on in it."""
    gone = set(entry_ids)
    doomed = [
        pk
        for pk, sampled in SearchDictionary.objects.filter(owner__in=owner_ids).values_list(
            "pk", "sampled"
        )
        if gone.intersection(sampled)
    ]
    if doomed:
        SearchDictionary.objects.filter(pk__in=doomed).delete()


def documents_build(
    entries: QuerySet,
    *,
    index: type = EntrySearchText,
    dictionary: SearchDictionary | None = None,
) -> dict[int, str]:
    """Build and store the documents of `entries` (a queryset of diary entries; `index` the
    document model, a historical one in a migration), compressed against `dictionary` (their
    owner's) when given, a batch at a time; returns them by entry id."""
    packed = _packed(dictionary)
    # A migration's model may have no such field: named only when there is a dictionary.
    linked = {} if dictionary is None else {"dictionary": dictionary}
    built: dict[int, str] = {}
    rows = []
    entry_model = entries.model
    for pk, owner_id, changed, *values in entries.values_list(
        "pk", "owner_id", "updated_at", *search.FIELDS
    ).iterator(chunk_size=BATCH):
        built[pk] = text = search.document(values)
        rows.append(
            index(
                # The entry as far as sealing needs it: its id and its owner's.
                entry=entry_model(pk=pk, owner_id=owner_id),
                text=Sealed(owner_id, text, packed),
                source_changed_at=changed,
                version=VERSION,
                **linked,
            )
        )
        if len(rows) == BATCH:
            _store(index, rows, tuple(linked))
            rows = []
    _store(index, rows, tuple(linked))
    return built


def _store(index: type, rows: list, extra: tuple[str, ...]) -> None:
    if not rows:
        return
    try:
        with transaction.atomic():
            index.objects.bulk_create(
                rows,
                batch_size=BATCH,
                update_conflicts=True,
                unique_fields=["entry"],
                update_fields=["text", "source_changed_at", "version", *extra],
            )
    except IntegrityError:
        # An entry deleted meanwhile: the documents are built and returned all the same, and
        # the next search stores those still missing.
        pass
