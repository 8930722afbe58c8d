from django.core.management.base import BaseCommand

from keystore import store
from keystore.signals import server_keys_rotated


class Command(BaseCommand):
    help = (
        "Wrap every person's data key (and re-seal whatever else is sealed with the server keys) "
        "under the first of NIKKI_ENCRYPTION_KEYS. Run it after putting a new key first; once it "
        "has finished, the old keys may be removed."
    )

    def handle(self, *args, **options) -> None:
        count = store.data_keys_rotate()
        store.cache_clear()
        self.stdout.write(f"Rewrapped {count} data key(s) under the first server key.")
        for _receiver, line in server_keys_rotated.send(sender=self.__class__):
            if line:
                self.stdout.write(str(line))
