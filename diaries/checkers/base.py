"""What every checker answers: a `Verdict`, or a `CheckerError` when it cannot tell."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Verdict:
    flagged: bool
    checker: str
    # What the checker found: OpenAI's category names, or the words of the list that matched.
    categories: tuple[str, ...] = ()
    model: str = ""

    def as_details(self) -> dict[str, Any]:
        return {"checker": self.checker, "categories": list(self.categories), "model": self.model}


class CheckerError(Exception):
    """The checker could not give a verdict; `code` is short and safe to log."""

    def __init__(self, code: str, checker: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.checker = checker


class Checker(Protocol):
    name: str

    async def check(self, text: str) -> Verdict: ...


class NullChecker:
    """Every text passes (DIARY_MODERATION=off)."""

    name = "off"
    local = True  # no I/O: checked as the generation's end is saved, in the same transaction

    async def check(self, text: str) -> Verdict:
        return Verdict(flagged=False, checker=self.name)
