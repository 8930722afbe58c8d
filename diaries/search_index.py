"""Each entry's words as search compares them, kept sealed beside it (`EntrySearchText`).

A search used to open the five encrypted fields of every entry and normalize them; now it opens
one value per entry, normalized when it was built. A document remembers the entry's
`updated_at` it was built from and the version of the normalized form: a search first rebuilds
the documents that are missing or older than their entry (written since, by any path: a form, a
generation's end, the admin, an import), so no write path has to remember the index, and the
first search after some writes pays for those entries only. The migration that made the table
built every existing entry's document.
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

from keystore.fields import opened_texts

from . import search
from .models import DiaryEntry, EntrySearchText

# The document's version: a document of another version is rebuilt. 1: the normalized form
# (diaries/search.py), sealed as it is; 2: the same, compressed before it is sealed.
VERSION = 2
BATCH = 500


def documents(entries: QuerySet[DiaryEntry]) -> list[tuple[int, str]]:
    """(id, document) of every entry of `entries`, in its order; the missing or stale
    documents built and stored first. One query reads the order, another each document and
    whether it is current (built from the entry as it is now, in this version's form)."""
    # The order on its own: sorting the rows that carry the documents (kilobytes each) made
    # PostgreSQL sort megabytes, on disk past its work_mem.
    order = list(entries.values_list("pk", flat=True))
    found = {
        pk: (current, sealed)
        for pk, current, sealed in entries.order_by().values_list(
            "pk",
            Case(
                When(
                    Q(search_text__version=VERSION)
                    & Q(search_text__source_changed_at=F("updated_at")),
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
    current = [pk for pk in order if pk in found and found[pk][0]]
    texts = dict(zip(current, opened_texts(found[pk][1] for pk in current), strict=True))
    stale = [pk for pk in order if pk not in texts]
    for start in range(0, len(stale), BATCH):
        batch = stale[start : start + BATCH]
        texts.update(documents_build(DiaryEntry.objects.filter(pk__in=batch)))
    # An entry deleted since the first query has no document: it is left out.
    return [(pk, texts[pk]) for pk in order if pk in texts]


def documents_build(entries: QuerySet, *, index: type = EntrySearchText) -> dict[int, str]:
    """Build and store the documents of `entries` (a queryset of diary entries; `index` the
    document model, a historical one in a migration), a batch at a time; returns them by entry
    id."""
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
                text=text,
                source_changed_at=changed,
                version=VERSION,
            )
        )
        if len(rows) == BATCH:
            _store(index, rows)
            rows = []
    _store(index, rows)
    return built


def _store(index: type, rows: list) -> None:
    if not rows:
        return
    try:
        with transaction.atomic():
            index.objects.bulk_create(
                rows,
                batch_size=BATCH,
                update_conflicts=True,
                unique_fields=["entry"],
                update_fields=["text", "source_changed_at", "version"],
            )
    except IntegrityError:
        # An entry deleted meanwhile: the documents are built and returned all the same, and
        # the next search stores those still missing.
        pass
