"""An imported entry's fingerprint, so importing the same file again adds nothing twice.

The fingerprint covers what identifies the entry in its source (an id, a date, and for plain
text the words themselves), so it is an HMAC under a key derived from the owner's data key: the
words cannot be guessed from it, a fingerprint means nothing in another account, and deleting
the account (its data key) unlinks them all.
"""

from __future__ import annotations

import hashlib
import hmac

from keystore.store import data_key_get_or_create

PURPOSE = b"nikki import fingerprint v1"


def fingerprinter(*, owner_id: int):
    """A function from an entry's source identity to its stored fingerprint (64 hex digits)."""
    key = hmac.new(data_key_get_or_create(owner_id=owner_id), PURPOSE, hashlib.sha256).digest()

    def fingerprint(identity: str) -> str:
        return hmac.new(key, identity.encode(), hashlib.sha256).hexdigest()

    return fingerprint
