"""The server's encryption keys as settings.py reads them: checked at start, and, for a
development install (`make run`, DJANGO_DEBUG=true with no NIKKI_ENCRYPTION_KEYS), made once
under var/ and read back on every later start."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured


def encryption_keys_check(keys: list[str]) -> list[str]:
    """`keys`, each a Fernet key (32 bytes of URL-safe base64), or a clear error at start."""
    for number, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"NIKKI_ENCRYPTION_KEYS: key {number} is not a Fernet key (32 bytes of URL-safe "
                "base64, as Fernet.generate_key() makes)."
            ) from None
    return keys


def development_encryption_keys(path: Path) -> list[str]:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole to a file of its own, then linked into place: a process starting at the
        # same moment sees no file or the whole key, and a link never replaces a key made first.
        fd, made = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w") as file:
                file.write(Fernet.generate_key().decode("ascii") + "\n")
            os.link(made, path)
        except FileExistsError:
            pass
        else:
            # Settings are read before logging is configured: say it on stderr, never the key.
            print(
                f"nikki: made a development encryption key in {path} (DJANGO_DEBUG=true and no "
                "NIKKI_ENCRYPTION_KEYS); the diaries in var/ cannot be read without it",
                file=sys.stderr,
            )
        finally:
            os.unlink(made)
    return path.read_text().split()
