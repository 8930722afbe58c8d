"""The app's one error family: a refusal a person can act on.

Services, selectors and the socket's protocol raise these; a view shows `message`, the consumer
turns one into an `error` frame (`code` is the protocol's error code, `entry` the entry it is
about, if any) and the socket stays open.
"""

from __future__ import annotations


class DiaryError(Exception):
    """A refusal with a protocol error code (`bad_request` unless a subclass says otherwise)."""

    code = "bad_request"

    def __init__(self, message: str, *, entry: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.entry = entry


class InvalidInputs(DiaryError):
    """Inputs a form refused; `fields` maps each field (or "__all__") to its messages."""

    def __init__(self, message: str, *, fields: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.fields = fields


class NotFound(DiaryError):
    code = "not_found"


class Busy(DiaryError):
    code = "busy"


class RateLimited(DiaryError):
    code = "rate_limited"


class QuotaExceeded(DiaryError):
    code = "quota_exceeded"


class ReplacesEdit(DiaryError):
    """Writing the entry again would replace the owner's own text, and they did not say so."""


class AlreadyReported(DiaryError):
    """The person has an open report of this entry already."""
