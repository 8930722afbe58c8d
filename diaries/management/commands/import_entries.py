from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from diaries.exceptions import DiaryError
from diaries.imports import formats
from diaries.imports.service import ImportResult, entries_import
from diaries.services.accounts import profile_get


class Command(BaseCommand):
    help = (
        "Import a file into a person's diary: a Nikki JSON export (entries, versions and "
        "settings), a Day One JSON export (the zip or Journal.json), or Markdown/text files "
        "dated in their name or first line. The format is told from the content. In one "
        "transaction: a bad file imports nothing; entries imported before are skipped."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--user", required=True, help="The username to import into.")
        parser.add_argument("file", type=Path)

    def handle(self, *args, user: str, file: Path, **options) -> None:
        try:
            owner = get_user_model().objects.get_by_natural_key(user)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {user!r}.") from None
        language = profile_get(user=owner).default_language or "en"
        try:
            with file.open("rb") as data:
                upload = formats.upload_read(file.name, data)
            parsed = formats.upload_parse(upload, language=language)
            result = entries_import(user=owner, parsed=parsed, progress=self._progress)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from None
        except DiaryError as exc:
            raise CommandError(f"{exc.message} Nothing was imported.") from None
        attachments = parsed.photos_skipped
        self.stdout.write(
            f"{result.imported} entr{'y' if result.imported == 1 else 'ies'} imported, "
            f"{result.skipped} already there ({parsed.source} format"
            + (f", {attachments} attached file(s) (photos…) not imported" if attachments else "")
            + ")."
        )

    def _progress(self, result: ImportResult) -> None:
        self.stderr.write(f"{result.processed}/{result.total}")
