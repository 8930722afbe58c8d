"""The ciphers, and nothing of Django: AES-GCM under a person's data key for text, Fernet
(MultiFernet, for rotation) under the server's keys for the data keys themselves.

A sealed text is ``nk1.`` followed by URL-safe base64 of: the owner's id (8 bytes, big-endian),
a random 96-bit nonce, and AES-256-GCM's ciphertext and tag. The prefix and the owner's id are
the associated data, so a ciphertext moved under another owner's id does not open. For a binary
column (`seal_bytes`), the text is compressed with LZ4 first (its high-compression mode: such a
value is written once and read at every search) and sealed under its own prefix, ``nk1z``, then
stored without base64: large values read many at once (the search blocks) are then far fewer
bytes to fetch and to decrypt, and there is no decoding to pay. A binary value sealed before
compression (``nk1.`` and the bytes) still opens. Either prefix is part of the associated data,
so a value relabelled from one to the other does not open.
"""

from __future__ import annotations

import base64
import os
import struct
from collections.abc import Callable
from functools import lru_cache

import lz4.block
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "nk1."
_PREFIX_BYTES = PREFIX.encode()
PREFIX_COMPRESSED = b"nk1z"  # a binary value: LZ4 block (its size first), then sealed
# LZ4's high-compression level for binary values: measured in bench/ (docs/benchmark.md).
COMPRESSION_LEVEL = 6
_OWNER = struct.Struct(">Q")
NONCE_BYTES = 12


class KeyRingError(ValueError):
    """The server's keys are missing or malformed."""


class CannotOpen(ValueError):
    """A sealed text that does not open: a wrong or destroyed key, or a damaged text."""


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(key: bytes, owner_id: int, text: str) -> str:
    """`text` encrypted under the owner's data key `key`."""
    return PREFIX + base64.urlsafe_b64encode(_seal_raw(key, owner_id, text.encode())).decode(
        "ascii"
    )


def seal_bytes(key: bytes, owner_id: int, text: str) -> bytes:
    """`text` compressed, then encrypted under the owner's data key `key`, for a binary
    column."""
    plain = lz4.block.compress(
        text.encode(), mode="high_compression", compression=COMPRESSION_LEVEL, store_size=True
    )
    return PREFIX_COMPRESSED + _seal_raw(key, owner_id, plain, PREFIX_COMPRESSED)


def _seal_raw(key: bytes, owner_id: int, plain: bytes, prefix: bytes = _PREFIX_BYTES) -> bytes:
    owner = _OWNER.pack(owner_id)
    nonce = os.urandom(NONCE_BYTES)
    return owner + nonce + _cipher(key).encrypt(nonce, plain, prefix + owner)


def owner_of(sealed: str) -> int:
    """The owner's id a sealed text names (CannotOpen when it is not a sealed text)."""
    raw = _unpack(sealed)
    return _OWNER.unpack_from(raw)[0]


def open_sealed(key: bytes, sealed: str) -> str:
    return _open_raw(key, _unpack(sealed))


def open_sealed_with(
    key_of: Callable[[int], bytes | None], sealed: str | bytes
) -> tuple[int, str | None]:
    """The owner's id a sealed text (`seal`'s, or `seal_bytes`') names and the text, opened with
    `key_of(owner_id)` (None when that owner has no key): one decoding of the text, not one to
    find the owner and another to open it."""
    if isinstance(sealed, str):
        prefix, raw = _PREFIX_BYTES, _unpack(sealed)
    else:
        prefix, raw = _unpack_bytes(sealed)
    owner_id = _OWNER.unpack_from(raw)[0]
    key = key_of(owner_id)
    return owner_id, None if key is None else _open_raw(key, raw, prefix)


def _open_raw(key: bytes, raw: bytes, prefix: bytes = _PREFIX_BYTES) -> str:
    owner, nonce, body = raw[:8], raw[8 : 8 + NONCE_BYTES], raw[8 + NONCE_BYTES :]
    try:
        plain = _cipher(key).decrypt(nonce, body, prefix + owner)
        if prefix == PREFIX_COMPRESSED:
            plain = lz4.block.decompress(plain)
        return plain.decode()
    except Exception as exc:  # InvalidTag, or a damaged body
        raise CannotOpen("the text does not open with this key") from exc


@lru_cache(maxsize=512)
def _cipher(key: bytes) -> AESGCM:
    """One AESGCM object per data key, kept: building it costs about as much as opening a
    short note (a search opens every note of a diary)."""
    return AESGCM(key)


def _unpack_bytes(sealed: bytes) -> tuple[bytes, bytes]:
    """The prefix of a binary sealed value (compressed or not) and what follows it."""
    prefix = sealed[: len(PREFIX_COMPRESSED)]
    if (
        prefix not in (PREFIX_COMPRESSED, _PREFIX_BYTES)
        or len(sealed) < len(prefix) + 8 + NONCE_BYTES + 16
    ):
        raise CannotOpen("not a sealed text")
    return prefix, sealed[len(prefix) :]


def _unpack(sealed: str) -> bytes:
    if not is_sealed(sealed):
        raise CannotOpen("not a sealed text")
    try:
        raw = base64.urlsafe_b64decode(sealed[len(PREFIX) :])
    except ValueError as exc:
        raise CannotOpen("a damaged sealed text") from exc
    if len(raw) < 8 + NONCE_BYTES + 16:
        raise CannotOpen("a damaged sealed text")
    return raw


# --- The server's keys ---------------------------------------------------------------------


def key_ring(keys: list[str] | tuple[str, ...]) -> MultiFernet:
    """The server's keys, newest first: wraps with the first, unwraps with any."""
    if not keys:
        raise KeyRingError("no server encryption key (NIKKI_ENCRYPTION_KEYS)")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError) as exc:
        raise KeyRingError(
            "NIKKI_ENCRYPTION_KEYS holds a malformed key: each must be 32 bytes of URL-safe "
            "base64 (Fernet.generate_key())"
        ) from exc


def new_server_key() -> str:
    return Fernet.generate_key().decode("ascii")


def wrap(ring: MultiFernet, data_key: bytes) -> bytes:
    return ring.encrypt(data_key)


def unwrap(ring: MultiFernet, wrapped: bytes) -> bytes:
    try:
        return ring.decrypt(wrapped)
    except InvalidToken as exc:
        raise KeyRingError("a data key that none of the server's keys opens") from exc


def rewrap(ring: MultiFernet, wrapped: bytes) -> bytes:
    """The same data key, wrapped under the ring's first key."""
    try:
        return ring.rotate(wrapped)
    except InvalidToken as exc:
        raise KeyRingError("a data key that none of the server's keys opens") from exc
