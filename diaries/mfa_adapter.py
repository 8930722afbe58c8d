"""Second-factor secrets at rest: allauth stores each authenticator app's TOTP secret and the
recovery codes' seed in the database, through its MFA adapter's `encrypt`/`decrypt` hooks, which
store them in the clear unless overridden. Here they are sealed with the server keys
(NIKKI_ENCRYPTION_KEYS, as the people's data keys are), so that a dump of the database alone
cannot make anyone's codes; `manage.py rotate_keys` re-seals them under the first key."""

from __future__ import annotations

from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from django.db import transaction

from keystore import store

# The entries of Authenticator.data that allauth passes through encrypt(), by type.
SEALED_DATA = {
    Authenticator.Type.TOTP: "secret",
    Authenticator.Type.RECOVERY_CODES: "seed",
}


class MFAAdapter(DefaultMFAAdapter):
    def encrypt(self, text: str) -> str:
        return store.server_ring().encrypt(text.encode()).decode()

    def decrypt(self, encrypted_text: str) -> str:
        return store.server_ring().decrypt(encrypted_text.encode()).decode()


def authenticator_secrets_rotate(*, batch: int = 500) -> int:
    """Re-seal every second-factor secret under the first server key; how many were."""
    ring = store.server_ring()
    done = last = 0
    while True:
        with transaction.atomic():
            rows = list(
                Authenticator.objects.select_for_update()
                .filter(pk__gt=last, type__in=SEALED_DATA)
                .order_by("pk")[:batch]
            )
            if not rows:
                return done
            for row in rows:
                name = SEALED_DATA[row.type]
                row.data = {**row.data, name: ring.rotate(row.data[name].encode()).decode()}
            Authenticator.objects.bulk_update(rows, ["data"])
        done += len(rows)
        last = rows[-1].pk
