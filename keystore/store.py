"""Each person's data key: made on their first encrypted write, unwrapped once and kept a short
while per process, destroyed with their account.

The server's keys are `settings.NIKKI_ENCRYPTION_KEYS`, newest first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from functools import lru_cache

from cryptography.fernet import MultiFernet
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import crypto
from .models import DataKey
from .routers import KEYS_ALIAS

logger = logging.getLogger(__name__)

# Unwrapped keys kept per process: a few hundred people at once, for a few minutes (so that a
# key destroyed by another process stops opening text here soon after, too).
CACHE_SIZE = 512
CACHE_SECONDS = 300.0


class _KeyCache:
    def __init__(self, size: int, seconds: float) -> None:
        self.size, self.seconds = size, seconds
        self.keys: OrderedDict[int, tuple[bytes, float]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, owner_id: int) -> bytes | None:
        with self.lock:
            found = self.keys.get(owner_id)
            if found is None:
                return None
            if found[1] < time.monotonic():
                del self.keys[owner_id]
                return None
            self.keys.move_to_end(owner_id)
            return found[0]

    def put(self, owner_id: int, key: bytes) -> None:
        with self.lock:
            self.keys[owner_id] = (key, time.monotonic() + self.seconds)
            self.keys.move_to_end(owner_id)
            while len(self.keys) > self.size:
                self.keys.popitem(last=False)

    def drop(self, owner_id: int) -> None:
        with self.lock:
            self.keys.pop(owner_id, None)

    def clear(self) -> None:
        with self.lock:
            self.keys.clear()


_cache = _KeyCache(CACHE_SIZE, CACHE_SECONDS)


def server_ring() -> MultiFernet:
    return _ring(tuple(settings.NIKKI_ENCRYPTION_KEYS))


@lru_cache(maxsize=4)
def _ring(keys: tuple[str, ...]) -> MultiFernet:
    return crypto.key_ring(keys)


def data_key_get(*, owner_id: int) -> bytes | None:
    """The owner's data key, or None when they have none (never had, or it was destroyed)."""
    key = _cache.get(owner_id)
    if key is not None:
        return key
    row = DataKey.objects.filter(owner_id=owner_id).only("wrapped").first()
    if row is None:
        return None
    key = crypto.unwrap(server_ring(), bytes(row.wrapped))
    _cache.put(owner_id, key)
    return key


def data_key_get_or_create(*, owner_id: int) -> bytes:
    """The owner's data key, made (and saved wrapped) on first use."""
    key = data_key_get(owner_id=owner_id)
    if key is not None:
        return key
    fresh = crypto.new_data_key()
    row, created = DataKey.objects.get_or_create(
        owner_id=owner_id, defaults={"wrapped": crypto.wrap(server_ring(), fresh)}
    )
    key = fresh if created else crypto.unwrap(server_ring(), bytes(row.wrapped))
    _cache.put(owner_id, key)
    return key


def data_key_destroy(*, owner_id: int) -> bool:
    """Forget the owner's data key: every text sealed under it, in any backup, is unreadable."""
    _cache.drop(owner_id)
    deleted, _rows = DataKey.objects.filter(owner_id=owner_id).delete()
    _cache.drop(owner_id)
    if deleted:
        logger.info("destroyed the data key of user %s", owner_id)
    return bool(deleted)


def data_keys_rotate(*, batch: int = 500) -> int:
    """Wrap every data key under the first server key; returns how many were rewrapped."""
    ring = server_ring()
    done = 0
    last = 0
    while True:
        with transaction.atomic(using=KEYS_ALIAS):
            rows = list(
                DataKey.objects.select_for_update().filter(pk__gt=last).order_by("pk")[:batch]
            )
            if not rows:
                return done
            now = timezone.now()
            for row in rows:
                row.wrapped = crypto.rewrap(ring, bytes(row.wrapped))
                row.rotated_at = now
            DataKey.objects.bulk_update(rows, ["wrapped", "rotated_at"])
        done += len(rows)
        last = rows[-1].pk


def cache_clear() -> None:
    """Forget every unwrapped key held by this process (tests; after a rotation)."""
    _cache.clear()
