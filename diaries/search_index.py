"""A diary's words as search compares them, kept sealed a month at a time (`SearchBlock`).

A search used to open the five encrypted fields of every entry and normalize them; then one
value per entry, normalized when it was built; now one value per month of the diary, holding
every entry of that month (the trash's too) normalized, compressed as one: a month's entries
share most of their words, so there are far fewer bytes to fetch, and a few hundred values to
open instead of thousands.

A block remembers what its month held when it was built: how many entries, their latest
`updated_at` and the sum of their ids. A search first asks the database the same of every month
of the diary (one grouped query), rebuilds the blocks of the months it reads that no longer
answer so (an entry written since by any path: a form, a generation's end, the admin, an import;
an entry come, gone or moved to another month) and deletes any other such block, so no write
path has to remember the index, and the first search after some writes pays for those months
only. Deleting an entry deletes its month's block at once (`entries_forgotten`), so that its
words do not live on in it; a deletion that came another way (a shell; the admin deletes no
entry) is seen at the next search.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from functools import reduce
from operator import or_

from django.db import IntegrityError, transaction
from django.db.models import BinaryField, Case, Count, F, Max, Q, QuerySet, Sum, When
from django.db.models.functions import TruncMonth

from keystore.fields import Sealed, Unreadable, opened_texts

from . import search
from .models import DiaryEntry, SearchBlock

# The block's version: a block of another version is rebuilt. 4: a month of documents (each
# the normalized form of diaries/search.py), after a header of their ids and lengths.
VERSION = 4
MONTHS_A_QUERY = 100  # months whose entries one query reads when blocks are built


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def documents(entries: QuerySet[DiaryEntry], *, owner) -> list[tuple[int, str]]:
    """(id, document) of every entry of `entries` (entries of `owner`), in its order; the
    blocks of their months built first where missing or stale. One query reads the order, one
    what each month of the diary holds now, one the blocks (the text of those it may need).

    A stale block of a month not searched (one left with entries in the trash only, or none)
    is deleted: an entry moved out of it, then deleted, must not live on there."""
    order = list(entries.values_list("pk", "date"))
    if not order:
        return []
    months = {month_of(day) for _pk, day in order}
    first = min(months)
    now = {
        month: (count, changed, id_sum)
        for month, count, changed, id_sum in DiaryEntry.objects.filter(owner=owner)
        .order_by()
        .values(month=TruncMonth("date"))
        .annotate(count=Count("pk"), changed=Max("updated_at"), id_sum=Sum("pk"))
        .values_list("month", "count", "changed", "id_sum")
    }
    kept: dict[dt.date, bytes] = {}
    doomed = []
    for month, count, changed, id_sum, version, sealed in SearchBlock.objects.filter(
        owner=owner
    ).values_list(
        "month",
        "entries",
        "changed",
        "id_sum",
        "version",
        # The sealed bytes as they are (not through the field, which opens a value at a time),
        # of the months this search may read: opened below together, the key looked up once.
        Case(When(month__gte=first, then=F("text")), default=None, output_field=BinaryField()),
    ):
        if version != VERSION or now.get(month) != (count, changed, id_sum):
            if month not in months:
                doomed.append(month)  # stale, and not searched now: forgotten
        elif month in months:
            kept[month] = sealed
    _blocks_delete(owner.pk, doomed)
    texts: dict[int, str] = {}
    opened = set()
    for month, block in zip(kept, opened_texts(kept.values()), strict=True):
        unpacked = _unpacked(block)
        if unpacked is not None:  # else it does not open (damaged): built again
            texts.update(unpacked)
            opened.add(month)
    texts.update(blocks_build(owner.pk, months - opened))
    # An entry deleted since the first query is in no block: it is left out.
    return [(pk, texts[pk]) for pk, _day in order if pk in texts]


def blocks_build(owner_id: int, months: Iterable[dt.date]) -> dict[int, str]:
    """Build and store the blocks of these months of `owner_id`'s diary (a month with no entry
    left loses its block); returns the documents by entry id."""
    built: dict[int, str] = {}
    months = sorted(months)
    for start in range(0, len(months), MONTHS_A_QUERY):
        some = months[start : start + MONTHS_A_QUERY]
        spans = reduce(or_, (Q(date__gte=month, date__lt=_next(month)) for month in some))
        by_month: dict[dt.date, list[tuple[int, dt.datetime, str]]] = defaultdict(list)
        for pk, day, changed, *values in (
            DiaryEntry.objects.filter(spans, owner_id=owner_id)
            .order_by("pk")
            .values_list("pk", "date", "updated_at", *search.FIELDS)
            .iterator(chunk_size=500)
        ):
            by_month[month_of(day)].append((pk, changed, search.document(values)))
        blocks = []
        for month, items in by_month.items():
            blocks.append(
                SearchBlock(
                    owner_id=owner_id,
                    month=month,
                    text=Sealed(owner_id, _packed(items)),
                    entries=len(items),
                    changed=max(changed for _pk, changed, _text in items),
                    id_sum=sum(pk for pk, _changed, _text in items),
                    version=VERSION,
                )
            )
            built.update((pk, text) for pk, _changed, text in items)
        _store(owner_id, blocks, [month for month in some if month not in by_month])
    return built


def _store(owner_id: int, blocks: list[SearchBlock], emptied: list[dt.date]) -> None:
    try:
        with transaction.atomic():
            _blocks_delete(owner_id, emptied)
            SearchBlock.objects.bulk_create(
                blocks,
                update_conflicts=True,
                unique_fields=["owner", "month"],
                update_fields=["text", "entries", "changed", "id_sum", "version"],
            )
    except IntegrityError:
        # The account deleted meanwhile: the documents are returned all the same.
        pass


def entries_forgotten(entries: Iterable[tuple[int, dt.date]]) -> None:
    """Entries, as (owner id, date) pairs, are being deleted for good: their months' blocks are
    deleted now, so that their words do not live on in them (built again at the next search)."""
    by_owner: dict[int, set[dt.date]] = defaultdict(set)
    for owner_id, day in entries:
        by_owner[owner_id].add(month_of(day))
    for owner_id, months in by_owner.items():
        _blocks_delete(owner_id, months)


def _blocks_delete(owner_id: int, months: Iterable[dt.date]) -> None:
    months = list(months)
    if months:
        SearchBlock.objects.filter(owner_id=owner_id, month__in=months).delete()


def _next(month: dt.date) -> dt.date:
    return (month + dt.timedelta(days=32)).replace(day=1)


def _packed(items: list[tuple[int, dt.datetime, str]]) -> str:
    """A month's documents as one text: a line of "id:length" pairs, then the documents."""
    header = " ".join(f"{pk}:{len(text)}" for pk, _changed, text in items)
    return "\n".join((header, "".join(text for _pk, _changed, text in items)))


def _unpacked(block: str) -> list[tuple[int, str]] | None:
    """The (id, document) pairs of a block's text; None when it is not one (it did not open)."""
    header, newline, body = block.partition("\n")
    if isinstance(block, Unreadable) or not newline:
        return None
    numbers = [int(number) for number in header.replace(":", " ").split()]
    pairs, at = [], 0
    for index in range(0, len(numbers), 2):
        pk, length = numbers[index], numbers[index + 1]
        pairs.append((pk, body[at : at + length]))
        at += length
    return pairs
