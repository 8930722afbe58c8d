from django.core.management.base import BaseCommand

from diaries.services.generations import generations_sweep_stale
from diaries.services.trash import trash_sweep_expired


class Command(BaseCommand):
    help = (
        "Mark running generations whose heartbeat is stale (their server crashed) as "
        "interrupted, keeping their last checkpoint, and delete for good the entries that have "
        "been in a trash DIARY_TRASH_DAYS days. Every server also sweeps by itself."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--stale-after",
            type=float,
            default=None,
            help="Seconds without a heartbeat (default: DIARY_HEARTBEAT_STALE_SECONDS).",
        )

    def handle(self, *args, stale_after: float | None = None, **options) -> None:
        swept = generations_sweep_stale(stale_after=stale_after)
        self.stdout.write(f"{swept} generation(s) marked interrupted")
        deleted = trash_sweep_expired()
        self.stdout.write(f"{deleted} entr{'y' if deleted == 1 else 'ies'} deleted from the trash")
