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
from django.db.models import BooleanField, Case, F, Q, QuerySet, When

from . import search
from .models import DiaryEntry, EntrySearchText

# The normalized form's version (diaries/search.py): a document of another version is rebuilt.
VERSION = 1
BATCH = 500


def documents(entries: QuerySet[DiaryEntry]) -> list[tuple[int, str]]:
    """(id, document) of every entry of `entries`, in its order; the missing or stale
    documents built and stored first. One query reads each document and whether it is
    current (built from the entry as it is now, in this version's form)."""
    rows = list(
        entries.values_list(
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
            "search_text__text",
        )
    )
    stale = [pk for pk, current, _text in rows if not current]
    fresh: dict[int, str] = {}
    for start in range(0, len(stale), BATCH):
        batch = stale[start : start + BATCH]
        fresh.update(documents_build(DiaryEntry.objects.filter(pk__in=batch)))
    # An entry deleted since the first query has no document: it is left out.
    return [
        (pk, text if current else fresh[pk]) for pk, current, text in rows if current or pk in fresh
    ]


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
