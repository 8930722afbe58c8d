"""Reading a sealed text as the servers would: its owner's data key from a server's key store
(a SQLite file), unwrapped with the server keys this test run gives its servers."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from keystore import crypto


def open_as_server(sealed: str, keys_db: Path) -> str:
    """The text of `sealed`, a value read from a server's diary database."""
    assert crypto.is_sealed(sealed), "a diary text stored in plain"
    with closing(sqlite3.connect(keys_db)) as db:
        [(wrapped,)] = db.execute(
            "SELECT wrapped FROM keystore_datakey WHERE owner_id = ?", (crypto.owner_of(sealed),)
        ).fetchall()
    ring = crypto.key_ring(os.environ["NIKKI_ENCRYPTION_KEYS"].split(","))
    return crypto.open_sealed(crypto.unwrap(ring, bytes(wrapped)), sealed)
