"""Word-level differences between two texts (difflib over words), for the versions page.

Pieces are plain strings: the template escapes them like any other text.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

# A word with the spaces after it, or a run of spaces (a text's leading ones); any character
# not in a space-separated word, such as each of a Japanese sentence's, is compared alone.
_TOKEN = re.compile(r"[^\s\u3000-\u9fff\uff00-\uffef]+\s*|[\u3000-\u9fff\uff00-\uffef]\s*|\s+")


@dataclass(frozen=True, slots=True)
class Piece:
    op: str  # "same", "added", "removed"
    text: str


def words(text: str) -> list[str]:
    return _TOKEN.findall(text)


def word_diff(old: str, new: str) -> list[Piece]:
    """The pieces that turn `old` into `new`, in order: kept, removed and added words."""
    before, after = words(old), words(new)
    pieces: list[Piece] = []
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pieces.append(Piece("same", "".join(before[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(Piece("removed", "".join(before[i1:i2])))
        if j2 > j1:
            pieces.append(Piece("added", "".join(after[j1:j2])))
    return pieces
