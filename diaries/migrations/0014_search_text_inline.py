"""The search documents stay in their table's rows on PostgreSQL (storage MAIN), not in its
TOAST table: a search reads every document of a diary, and following each one into TOAST (an
index lookup and a chunk per value) cost about a quarter of reading them. The documents are
sealed, so PostgreSQL's own compression finds nothing to do; a document too long for a page
still goes to TOAST. Django has no operation for a column's storage, hence the statement; other
databases have no such thing and are left as they are."""

from django.db import migrations

TABLE, COLUMN = "diaries_entrysearchtext", "text"


def storage(kind: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        quote = schema_editor.quote_name
        schema_editor.execute(
            f"ALTER TABLE {quote(TABLE)} ALTER COLUMN {quote(COLUMN)} SET STORAGE {kind}"
        )

    return run


class Migration(migrations.Migration):
    dependencies = [("diaries", "0013_entry_trash")]

    operations = [migrations.RunPython(storage("MAIN"), storage("EXTENDED"))]
