# ruff: noqa: RUF001, RUF002 — the full-width forms of a placeholder here are intended.

"""Names kept from the model: placeholders in the notes, names again in the streamed text.

A person may list names of people and places (Settings). Before the model call,
`pseudonymise()` replaces each listed name in the notes by a placeholder, `[P1]`, `[P2]`, …
(numbered in the order the names first appear), so the upstream never receives them; a
`Restorer` turns the placeholders in the model's streamed pieces back into the names, holding
back a tail that may be the start of a placeholder until the next piece shows what it is.

Matching: the longest name first; a name that begins or ends with a Latin letter or digit
matches only as a whole word on that side ("Al" is not found in "Albert"), any other script
(Japanese, Chinese) matches anywhere ("田中" in "田中さん"); case-insensitive; runs of whitespace
inside a name match any whitespace.

Why `[P1]`: it is short ASCII (a few tokens), looks like the redaction markers models meet in
anonymised text and copy verbatim, carries no meaning the model could translate or inflect,
and reads well next to Japanese particles and honorifics ("[P1]さんと"). Models writing
Japanese sometimes turn ASCII into full-width forms, so `［Ｐ１］` is restored too.

Pure functions, no Django: the caller reads the names from the person's profile.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "MAX_NAMES",
    "MAX_NAME_CHARS",
    "MIN_NAME_CHARS",
    "Pseudonymised",
    "Restorer",
    "parse_names",
    "pseudonymise",
    "restore",
]

MAX_NAMES = 100
MAX_NAME_CHARS = 60
MIN_NAME_CHARS = 2

# Characters that continue a Latin-script word: a name edged by one must not touch another.
_LATIN = "0-9A-Za-z\u00c0-\u024f\u1e00-\u1eff"
_IS_LATIN = re.compile(f"[{_LATIN}]")

# A placeholder as the model writes it back: ASCII or full-width brackets, letter and digits.
PLACEHOLDER = re.compile(r"[\[［][PpＰｐ]([0-9０-９]{1,3})[\]］]")
# The start of a placeholder that the next piece may complete (only at the end of the text).
_PARTIAL = re.compile(r"[\[［](?:[PpＰｐ][0-9０-９]{0,3})?\Z")
_OPENERS = ("[", "［")


def placeholder(number: int) -> str:
    return f"[P{number}]"


def _number(digits: str) -> int:
    return int("".join(str(unicodedata.digit(ch)) for ch in digits))


def parse_names(text: str) -> list[str]:
    """The names in a one-name-a-line text: whitespace tidied, empty lines and repeats
    (ignoring case) left out, in the order written."""
    names: list[str] = []
    seen: set[str] = set()
    for line in unicodedata.normalize("NFC", text or "").splitlines():
        name = " ".join(line.split())
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            names.append(name)
    return names


def _pattern(name: str) -> str:
    body = r"\s+".join(re.escape(word) for word in name.split())
    before = f"(?<![{_LATIN}])" if _IS_LATIN.match(name[0]) else ""
    after = f"(?![{_LATIN}])" if _IS_LATIN.match(name[-1]) else ""
    return f"{before}{body}{after}"


@dataclass(frozen=True, slots=True)
class Pseudonymised:
    """The notes with the names replaced, and which placeholder stands for which name."""

    fields: dict[str, str]
    names: dict[int, str] = field(default_factory=dict)  # placeholder number → name as listed

    @property
    def placeholders(self) -> list[str]:
        return [placeholder(number) for number in self.names]

    def restorer(self) -> Restorer:
        return Restorer(self.names)


def pseudonymise(
    fields: Mapping[str, str], names: Sequence[str], *, keys: Sequence[str]
) -> Pseudonymised:
    """`fields` with every listed name in the values of `keys` replaced by a placeholder.

    Placeholders are numbered in the order their names first appear (`keys` order, then
    position); a number whose placeholder the notes already contain is skipped, so that text
    the person wrote is never turned into a name.
    """
    out = dict(fields)
    names = [name for name in parse_names("\n".join(names)) if len(name) >= MIN_NAME_CHARS]
    if not names:
        return Pseudonymised(out)
    ordered = sorted(names, key=len, reverse=True)  # the longest name wins where names overlap
    matcher = re.compile(
        "|".join(f"({_pattern(name)})" for name in ordered), re.IGNORECASE | re.UNICODE
    )
    texts = {key: unicodedata.normalize("NFC", fields.get(key) or "") for key in keys}
    taken = {_number(m.group(1)) for text in texts.values() for m in PLACEHOLDER.finditer(text)}
    numbers: dict[str, int] = {}  # name → its placeholder number
    counter = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal counter
        name = ordered[match.lastindex - 1]
        if name not in numbers:
            counter += 1
            while counter in taken:
                counter += 1
            numbers[name] = counter
        return placeholder(numbers[name])

    for key, text in texts.items():
        out[key] = matcher.sub(replace, text)
    return Pseudonymised(out, {number: name for name, number in numbers.items()})


def restore(text: str, names: Mapping[int, str]) -> str:
    """`text` with every known placeholder turned back into its name; others left as they are."""
    if not names:
        return text
    return PLACEHOLDER.sub(lambda m: names.get(_number(m.group(1)), m.group(0)), text)


class Restorer:
    """Placeholders back into names in a stream of pieces, however the pieces cut them.

    `feed(piece)` returns what can be shown now; a tail that could still become a placeholder
    (`[`, `[P`, `[P1`…) waits for the next piece. `end()` returns what is still held, as the
    model wrote it. For any cut of a text into pieces, the outputs joined equal
    `restore(text, names)`.
    """

    def __init__(self, names: Mapping[int, str]) -> None:
        self.names = dict(names)
        self.held = ""

    def feed(self, piece: str) -> str:
        text = self.held + piece
        start = max(text.rfind(opener) for opener in _OPENERS)
        cut = start if start >= 0 and _PARTIAL.match(text, start) else len(text)
        self.held = text[cut:]
        return restore(text[:cut], self.names)

    def end(self) -> str:
        held, self.held = self.held, ""
        return held
