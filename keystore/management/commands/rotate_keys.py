from django.core.management.base import BaseCommand

from keystore import store


class Command(BaseCommand):
    help = (
        "Wrap every person's data key under the first of NIKKI_ENCRYPTION_KEYS. Run it after "
        "putting a new key first; once it has finished, the old keys may be removed."
    )

    def handle(self, *args, **options) -> None:
        count = store.data_keys_rotate()
        store.cache_clear()
        self.stdout.write(f"Rewrapped {count} data key(s) under the first server key.")
