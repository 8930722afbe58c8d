"""Word-level differences between two texts (difflib over words), for the versions page.

Pieces are plain strings: the template escapes them like any other text.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

# A word, a run of spaces, or alone any character of a script that does not separate its
# words by spaces (each of a Japanese sentence's).
_CJK = "\u3000-\u9fff\uff00-\uffef"
_TOKEN = re.compile(rf"[^\s{_CJK}]+|[{_CJK}]|\s+")


@dataclass(frozen=True, slots=True)
class Piece:
    op: str  # "same", "added", "removed"
    text: str


def words(text: str) -> list[str]:
    return _TOKEN.findall(text)


def word_diff(old: str, new: str) -> list[Piece]:
    """The pieces that turn `old` into `new`, in order: kept words, and for each changed run
    the words removed, then the words added (spaces between changed words join the run)."""
    before, after = words(old), words(new)
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    runs: list[tuple[str, str, str]] = []  # (op, removed or kept text, added text)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        removed, added = "".join(before[i1:i2]), "".join(after[j1:j2])
        runs.append(("same" if tag == "equal" else "changed", removed, added))
    # A lone space kept between two changes belongs to the change.
    for index in range(1, len(runs) - 1):
        op, kept, _ = runs[index]
        if op == "same" and kept.isspace() and runs[index - 1][0] == runs[index + 1][0] != "same":
            runs[index] = ("changed", kept, kept)
    pieces: list[Piece] = []
    removed = added = ""
    for op, first, second in [*runs, ("same", "", "")]:
        if op == "changed":
            removed, added = removed + first, added + second
            continue
        if removed:
            pieces.append(Piece("removed", removed))
        if added:
            pieces.append(Piece("added", added))
        removed = added = ""
        if first:
            pieces.append(Piece("same", first))
    return pieces
