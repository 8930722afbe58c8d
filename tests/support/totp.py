"""Authenticator-app codes computed the way a phone does (RFC 6238), with `cryptography`'s own
TOTP, independent of the code under test."""

from __future__ import annotations

import base64
import time

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP


def totp_code(secret: str, at: float | None = None) -> str:
    """The six-digit code for a base32 secret (as an app shows it) at a moment (now)."""
    key = base64.b32decode(secret.replace(" ", "").upper())
    # RFC 6238 and every authenticator app use HMAC-SHA1 here.
    totp = TOTP(key, 6, SHA1(), 30, enforce_key_length=False)  # noqa: S303
    return totp.generate(int(time.time() if at is None else at)).decode()
