"""`EncryptedTextField`: a text field whose value is a `str` in Python and AES-GCM ciphertext
under its owner's data key in the database (`EncryptedTextBlobField`: the same in a binary
column, without base64).

The field learns the owner from its model instance on save (`owner="entry.owner_id"`, a dotted
path from the instance). `QuerySet.update()` and raw parameters have no instance: they pass
`seal(owner_id, text)`. A plain non-empty `str` where the owner is unknown is refused, never
stored as it is. Empty text stays empty. A text whose key is gone (the account was deleted and a
backup restored) reads as `Unreadable`: a placeholder that, saved again, keeps its ciphertext.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils.translation import gettext

from . import crypto, store

logger = logging.getLogger(__name__)


class EncryptionOwnerUnknown(ValueError):
    """A plain text reached the database without the owner whose key must seal it."""


@dataclass(frozen=True, slots=True)
class Sealed:
    """A text to store under `owner_id`'s data key, for `update()` and raw statements."""

    owner_id: int
    text: str

    def __repr__(self) -> str:  # never the text, in a traceback or a log
        return f"Sealed(owner_id={self.owner_id}, text=<{len(self.text)} characters>)"


def seal(owner_id: int, text: str) -> Sealed | str:
    """What `update(field=…)` takes for an encrypted field: `text` sealed for `owner_id`."""
    return Sealed(owner_id, text) if text else ""


class Unreadable(str):
    """A stored text that cannot be opened; reads as a placeholder, saves back unchanged."""

    sealed: str | bytes

    def __new__(cls, sealed: str | bytes) -> Unreadable:
        value = super().__new__(
            cls, gettext("[This text cannot be read: its encryption key no longer exists.]")
        )
        value.sealed = sealed
        return value


def sealed_text(owner_id: int, text: str) -> str:
    """`text` as stored: sealed under the owner's data key (made on first use)."""
    if not text:
        return ""
    return crypto.seal(store.data_key_get_or_create(owner_id=owner_id), owner_id, text)


def sealed_bytes(owner_id: int, text: str) -> bytes:
    """`text` as a binary column stores it: sealed under the owner's data key."""
    return crypto.seal_bytes(store.data_key_get_or_create(owner_id=owner_id), owner_id, text)


def _data_key_of(owner_id: int) -> bytes | None:
    return store.data_key_get(owner_id=owner_id)


def opened_text(stored: str | bytes, key_of=_data_key_of) -> str:
    """A stored value as text: opened, `Unreadable`, or as it is when it was never sealed.
    `key_of(owner_id)`: the owner's data key, or None."""
    if not stored or (isinstance(stored, str) and not crypto.is_sealed(stored)):
        return stored
    try:
        owner_id, text = crypto.open_sealed_with(key_of, stored)
        if text is None:
            logger.warning("a text of user %s has no data key any more", owner_id)
            return Unreadable(stored)
        return text
    except crypto.CannotOpen:
        logger.warning("a stored text does not open with its owner's data key")
        return Unreadable(stored)


def opened_texts(stored: Iterable[str | bytes | memoryview | None]) -> list[str]:
    """Many stored values (read as they are, not through the field, e.g. with
    `ExpressionWrapper(F(name), output_field=BinaryField())`) as `opened_text` would return each,
    every owner's data key looked up once: a search opens a whole diary at once. None and
    empty values read as ""."""
    keys: dict[int, bytes | None] = {}

    def key_of(owner_id: int) -> bytes | None:
        if owner_id not in keys:
            keys[owner_id] = _data_key_of(owner_id)
        return keys[owner_id]

    return [_opened_blob(value, key_of) for value in stored]


def _opened_blob(stored: bytes | memoryview | None, key_of=_data_key_of) -> str:
    """A binary column's value as text ("" when empty or NULL)."""
    if not stored:
        return ""
    return opened_text(stored.tobytes() if isinstance(stored, memoryview) else stored, key_of)


class _Encrypted:
    """What both encrypted fields share: the owner, the lookups refused, sealing on save."""

    def __init__(self, *args, owner: str = "", **kwargs) -> None:
        if not owner:
            raise ImproperlyConfigured(f"{type(self).__name__} needs owner=, e.g. 'owner_id'.")
        self.owner = owner
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["owner"] = self.owner
        return name, path, args, kwargs

    def get_lookup(self, lookup_name):
        # SQL sees ciphertext: only "is it empty" (exact "") and isnull mean anything there. Any
        # other lookup (icontains, startswith, regex…) is refused by Django as unsupported.
        if lookup_name not in ("exact", "isnull"):
            return None
        return super().get_lookup(lookup_name)

    def get_transform(self, lookup_name):
        return None

    def owner_id_of(self, instance: models.Model) -> int:
        owner_id = attrgetter(self.owner)(instance)
        if owner_id is None:
            raise EncryptionOwnerUnknown(f"{self.model.__name__}.{self.name} has no owner yet")
        return owner_id

    def from_db_value(self, value, expression, connection):
        return value if value is None else opened_text(value)

    def pre_save(self, model_instance, add):
        value = super().pre_save(model_instance, add)
        if isinstance(value, str) and value and not isinstance(value, Unreadable):
            return Sealed(self.owner_id_of(model_instance), value)
        return value

    def get_prep_value(self, value):
        if isinstance(value, Sealed | Unreadable) or not value:
            return value
        # A lookup (filter, exclude) on the text: SQL sees ciphertext, so it cannot match.
        raise EncryptionOwnerUnknown(
            f"{self.name} is encrypted: it cannot be matched in the database, and a text to "
            "store needs its owner (keystore.fields.seal)"
        )

    def to_python(self, value):
        if isinstance(value, Sealed):
            return value.text
        return super().to_python(value)


class EncryptedTextField(_Encrypted, models.TextField):
    """A TextField stored sealed under the data key of the instance's `owner` (a dotted path:
    "owner_id", "entry.owner_id", "user_id"). It cannot be searched or filtered in SQL."""

    # The owner path decides nothing about the column.
    non_db_attrs = (*models.TextField.non_db_attrs, "owner")

    def get_db_prep_value(self, value, connection, prepared=False):
        if isinstance(value, Unreadable):
            return value.sealed
        if isinstance(value, Sealed):
            return sealed_text(value.owner_id, value.text)
        return super().get_db_prep_value(value, connection, prepared)


class EncryptedTextBlobField(_Encrypted, models.BinaryField):
    """A text (a `str` in Python, like EncryptedTextField's) stored sealed as bytes, without
    base64: for large values read many at once (the search blocks), where decoding base64
    was a third of the time. Empty text is stored as empty bytes."""

    non_db_attrs = (*models.BinaryField.non_db_attrs, "owner")

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        return _opened_blob(value)

    def get_db_prep_value(self, value, connection, prepared=False):
        if isinstance(value, Unreadable):
            value = value.sealed
        elif isinstance(value, Sealed):
            value = sealed_bytes(value.owner_id, value.text)
        elif value == "":
            value = b""
        return super().get_db_prep_value(value, connection, prepared=True)

    def to_python(self, value):
        # A str is the text itself (BinaryField would read it as base64); Sealed: the mixin's.
        return value if isinstance(value, str) else super().to_python(value)
