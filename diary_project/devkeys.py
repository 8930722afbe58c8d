"""The server encryption key of a development install (`make run`, DJANGO_DEBUG=true with no
NIKKI_ENCRYPTION_KEYS): made once under var/ and read back on every later start."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cryptography.fernet import Fernet


def development_encryption_keys(path: Path) -> list[str]:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # O_EXCL: two processes starting at once never write two different keys.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as file:
                file.write(Fernet.generate_key().decode("ascii") + "\n")
            # Settings are read before logging is configured: say it on stderr, never the key.
            print(
                f"nikki: made a development encryption key in {path} (DJANGO_DEBUG=true and no "
                "NIKKI_ENCRYPTION_KEYS); the diaries in var/ cannot be read without it",
                file=sys.stderr,
            )
    return path.read_text().split()
