"""Encrypting an existing text column in place, for a data migration (and back, to reverse it).

Used from a `RunPython` that runs while the column is still a plain TextField in the migration's
state (before the AlterField to EncryptedTextField; in reverse, after it is undone). It walks
the table in primary-key order, a batch per transaction, so a live database keeps serving and a
run that stops half-way is simply run again: a value already sealed (or, in reverse, already
plain) is left as it is. Example, for a model whose owner is reached through `entry`:

    def forwards(apps, schema_editor):
        texts_seal(apps, schema_editor, "diaries.EntryEdit", "entry__owner_id", ["text"])
"""

from __future__ import annotations

from django.db import transaction

from . import crypto
from .fields import Unreadable, opened_text, sealed_text

BATCH = 500


def texts_seal(apps, schema_editor, model: str, owner: str, fields: list[str]) -> int:
    """Seal every plain value of `fields` under the row's owner (an ORM path); rows changed."""

    def change(owner_id: int, value: str) -> str | None:
        return sealed_text(owner_id, value) if value and not crypto.is_sealed(value) else None

    return _rewrite(apps, schema_editor, model, owner, fields, change)


def texts_open(apps, schema_editor, model: str, owner: str, fields: list[str]) -> int:
    """Decrypt every sealed value of `fields` back to plain text; rows changed. A value whose
    key is gone stays sealed (there is no text to give back)."""

    def change(owner_id: int, value: str) -> str | None:
        if not value or not crypto.is_sealed(value):
            return None
        text = opened_text(value)
        return None if isinstance(text, Unreadable) else text

    return _rewrite(apps, schema_editor, model, owner, fields, change)


def plain_copies_scrub(schema_editor) -> None:
    """After sealing: SQLite keeps the overwritten plain texts in free pages and in its
    write-ahead log until they are reused; rebuild the file and empty the log. (Django has no
    API for either.) PostgreSQL's old row versions never reach pg_dump's backups; VACUUM FULL
    removes them from its data files (README, "Encryption at rest")."""
    connection = schema_editor.connection
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        cursor.execute("VACUUM")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _rewrite(apps, schema_editor, model, owner, fields, change) -> int:
    Model = apps.get_model(model)
    alias = schema_editor.connection.alias
    rows = Model._default_manager.using(alias)
    changed, last = 0, None
    while True:
        with transaction.atomic(using=alias):
            # Locked until the batch is written: a concurrent edit waits, and is never undone.
            batch = rows.select_for_update(of=("self",)).order_by("pk")
            if last is not None:
                batch = batch.filter(pk__gt=last)
            found = list(batch.values_list("pk", owner, *fields)[:BATCH])
            if not found:
                return changed
            updates = []
            for pk, owner_id, *values in found:
                new = [change(owner_id, value) for value in values]
                if any(value is not None for value in new):
                    kept = [
                        old if value is None else value
                        for old, value in zip(values, new, strict=True)
                    ]
                    updates.append(Model(pk=pk, **dict(zip(fields, kept, strict=True))))
            if updates:
                rows.bulk_update(updates, fields)
            changed += len(updates)
            last = found[-1][0]
