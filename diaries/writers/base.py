"""The contract between a generation and a language-model back end.

A writer knows nothing of Django: it takes its configuration as constructor arguments and a
`WriterRequest` per call, and `stream()` is an async generator that yields text pieces (`str`)
and, last, one `Finish`. Failures raise `WriterError` with a protocol error code and a message a
person can act on. Closing the generator (`aclose()`, or cancelling the task iterating it) must
close any upstream connection, so that no more tokens are paid for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class WriterRequest:
    """What to write: the owner's notes, and the chat messages built from them by prompts.py."""

    date: str  # ISO date of the entry
    morning: str
    afternoon: str
    evening: str
    notes: str
    tone: str  # a diaries.models.Tone value
    language: str  # "en" or "ja"
    messages: list[dict[str, str]] = field(default_factory=list)
    max_tokens: int = 900  # sent as the answer's limit; also the most content chunks read
    max_chars: int | None = None  # the most characters of text read
    # Which attempt this is (the generation's id): a writer that chooses its words from a seed
    # (the offline one) reads differently on a regeneration, and the same for the same attempt.
    variant: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None

    def as_dict(self) -> dict[str, int | None]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True, slots=True)
class Finish:
    """The last item of a stream that ended normally. `reason` is "stop" or "length"."""

    reason: str = "stop"
    usage: Usage | None = None


class WriterError(Exception):
    """A failure a person can act on.

    `code` is one of the protocol's error codes (upstream_unavailable, upstream_auth,
    upstream_rate_limited, upstream_timeout, quota_exceeded, filtered, internal); `status` is the
    generation status it leads to ("failed" or "filtered").
    """

    def __init__(self, code: str, message: str, *, status: str = "failed") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"WriterError(code={self.code!r}, status={self.status!r})"


class Writer(Protocol):
    name: str  # "openai", "offline", …: shown to the user as who wrote the entry
    model: str
    # True for a writer that sends nothing out of this process (the offline one): names a
    # person keeps from the model are then left in its request. A writer without it is remote.
    local: bool

    def stream(self, request: WriterRequest) -> AsyncIterator[str | Finish]: ...
