"""Writing a checked file's entries: sealed like any other, marked with their source, skipped
when already imported, a batch at a time.

An imported entry is finished text (`status` as exported, or `edited` with `writer="owner"` for
words from Day One or a text file): nothing sends it to a model unless its owner asks for a new
version on its page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import connections, router, transaction

from .. import search_index
from ..models import DiaryEntry, EntryEdit, EntrySource, Generation, Profile
from . import keys
from .formats import ImportedEntry, Parsed, nikki_identity

BATCH = 500


@dataclass
class ImportResult:
    total: int
    imported: int = 0
    skipped: int = 0

    @property
    def processed(self) -> int:
        return self.imported + self.skipped


# Called inside each batch's transaction, after its rows are written.
Progress = Callable[[ImportResult], None]


def entries_import(
    *,
    user,
    parsed: Parsed,
    progress: Progress | None = None,
    batch: int = BATCH,
    one_transaction: bool = True,
) -> ImportResult:
    """Import every entry of `parsed` not imported before. In one transaction by default; with
    `one_transaction=False` each batch commits with `progress` (a job's counts), and running it
    again after an interruption goes on where it stopped, since what is written is skipped."""
    with transaction.atomic() if one_transaction else _nothing():
        return _import(user=user, parsed=parsed, progress=progress, batch=batch)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> None:
        return None


def _import(*, user, parsed: Parsed, progress: Progress | None, batch: int) -> ImportResult:
    fingerprint = keys.fingerprinter(owner_id=user.pk)
    existing = set(
        DiaryEntry.objects.owned_by(user)
        .exclude(import_key="")
        .values_list("import_key", flat=True)
    )
    if parsed.source == EntrySource.NIKKI_EXPORT:
        # Every entry of the account as its own export would name it.
        rows = DiaryEntry.objects.owned_by(user).values_list("pk", "created_at", "date")
        existing.update(
            fingerprint(nikki_identity(pk, created.isoformat(), day.isoformat()))
            for pk, created, day in rows.iterator()
        )
    result = ImportResult(total=len(parsed.entries))
    for start in range(0, len(parsed.entries), batch):
        with transaction.atomic():
            fresh = []
            for item in parsed.entries[start : start + batch]:
                key = fingerprint(item.key)
                if key in existing:
                    result.skipped += 1
                    continue
                existing.add(key)
                fresh.append((item, key))
            _write(user=user, items=fresh)
            result.imported += len(fresh)
            if parsed.settings is not None and start + batch >= len(parsed.entries):
                _settings_restore(user=user, settings=parsed.settings)
            if progress is not None:
                progress(result)
    if not parsed.entries and parsed.settings is not None:
        with transaction.atomic():
            _settings_restore(user=user, settings=parsed.settings)
    return result


def _write(*, user, items: list[tuple[ImportedEntry, str]]) -> None:
    if not items:
        return
    rows = DiaryEntry.objects.bulk_create(
        [
            DiaryEntry(
                owner=user,
                date=item.date,
                morning=item.morning,
                afternoon=item.afternoon,
                evening=item.evening,
                notes=item.notes,
                tone=item.tone,
                language=item.language,
                text=item.text,
                status=item.status,
                writer=item.writer,
                model_name=item.model_name,
                source=item.source,
                import_key=key,
            )
            for item, key in items
        ]
    )
    # bulk_create stamps created_at/updated_at with now (auto_now): the source's times are set
    # after, in one statement run for every row.
    _times_set(
        DiaryEntry,
        [
            (row.pk, item.created_at, item.updated_at or item.created_at)
            for row, (item, _key) in zip(rows, items, strict=True)
            if item.created_at is not None
        ],
    )
    generations = [
        Generation(entry=row, **fields)
        for row, (item, _key) in zip(rows, items, strict=True)
        for fields in item.generations
    ]
    Generation.objects.bulk_create(generations)
    edits, times = [], []
    for row, (item, _key) in zip(rows, items, strict=True):
        for fields in item.edits:
            edits.append(
                EntryEdit(entry=row, text=fields["text"], previous_text=fields["previous_text"])
            )
            times.append(fields["created_at"])
    edits = EntryEdit.objects.bulk_create(edits)
    _times_set(
        EntryEdit,
        [(edit.pk, when) for edit, when in zip(edits, times, strict=True) if when is not None],
    )
    # Search would build these months' blocks at its next use; building them now keeps it fast.
    search_index.blocks_build(user.pk, {search_index.month_of(row.date) for row in rows})


def _times_set(model: type, rows: list[tuple]) -> None:
    """Set `created_at` (and `updated_at`, when the rows carry it) of `model`'s rows by id."""
    if not rows:
        return
    connection = connections[router.db_for_write(model)]
    names = ["created_at", "updated_at"][: len(rows[0]) - 1]
    fields = [model._meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    # Only the model's own table and column names, quoted, go into the statement.
    sql = "UPDATE {} SET {} WHERE {} = %s".format(  # noqa: S608
        quote(model._meta.db_table),
        ", ".join(f"{quote(f.column)} = %s" for f in fields),
        quote(model._meta.pk.column),
    )
    params = [
        [f.get_db_prep_value(v, connection) for f, v in zip(fields, values, strict=True)] + [pk]
        for pk, *values in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _settings_restore(*, user, settings: dict) -> None:
    """A Nikki export's settings (checked when the file was read)."""
    profile, _created = Profile.objects.get_or_create(user=user)
    for name, value in settings.items():
        setattr(profile, name, value)
    profile.save()
