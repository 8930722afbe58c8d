"""Migration 0014 keeps the search documents in their table's rows on PostgreSQL, where a
search reads them without following each into TOAST; reversing it puts the default back."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.support.factories import make_entry
from tests.support.migrations import migrate

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL column storage"),
]

TABLE = "diaries_entrysearchtext"  # dropped by 0016
BEFORE = [("diaries", "0013_entry_trash")]
AFTER = [("diaries", "0014_search_text_inline")]


def toast_bytes() -> int:
    """What the search documents' TOAST table holds."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE relname = %s",
            [TABLE],
        )
        return cursor.fetchone()[0]


def write_documents(apps, user) -> None:
    # Sealed text does not compress: 4 KB of varied words stays about 4 KB in the row.
    index = apps.get_model("diaries", "EntrySearchText")  # the table as it was then
    for day in range(1, 6):
        entry = make_entry(user)
        text = " ".join(f"word{day}-{n}-{n * n % 97}" for n in range(400))
        index.objects.create(
            entry_id=entry.pk, text=text, source_changed_at=entry.updated_at, version=2
        )


def test_documents_stay_in_the_rows_and_go_to_toast_again_when_reversed(user):
    apps = migrate(BEFORE)
    write_documents(apps, user)
    assert toast_bytes() > 0  # the default storage moves a 4 KB sealed value out of the row
    apps.get_model("diaries", "EntrySearchText").objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM FULL {TABLE}")

    apps = migrate(AFTER)
    write_documents(apps, user)
    assert toast_bytes() == 0

    apps = migrate(BEFORE)
    apps.get_model("diaries", "EntrySearchText").objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM FULL {TABLE}")
    write_documents(apps, user)
    assert toast_bytes() > 0
