"""A checker that flags a text containing any word of a list, and the lists shipped with Nikki
(`wordlists/<language>.txt`)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path

from .base import Verdict


class WordListChecker:
    """Flags a text that contains any of `words`, ignoring case.

    A word written in Latin letters and digits matches as a whole word ("ass" does not flag
    "class"); any other (Japanese has no spaces between words) matches anywhere in the text.
    """

    name = "wordlist"
    local = True  # no I/O: checked as the generation's end is saved, in the same transaction

    def __init__(self, words: Iterable[str], *, shipped: bool = False) -> None:
        self.words = tuple(dict.fromkeys(w.strip().casefold() for w in words if w.strip()))
        self._sorted = tuple(sorted(self.words))  # a verdict's categories come out sorted
        self.shipped = shipped  # the lists that come with Nikki, not the site's own
        # A word is first looked for as a plain substring (one C-level search each, linear in
        # the text); only a word found that way and written in Latin letters is then confirmed
        # as a whole word by its own small pattern.
        self._whole_word = {
            word: re.compile(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])")
            for word in self.words
            if re.fullmatch(r"[a-z0-9][a-z0-9 '_-]*", word)
        }

    async def check(self, text: str) -> Verdict:
        folded = text.casefold()
        found = tuple(
            word
            for word in self._sorted
            if word in folded
            and (word not in self._whole_word or self._whole_word[word].search(folded))
        )
        return Verdict(flagged=bool(found), checker=self.name, categories=found)


def words_from_file(path: str | Path) -> list[str]:
    """One word or phrase a line; blank lines and lines starting with # are skipped."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


@cache
def shipped_words() -> dict[str, tuple[str, ...]]:
    """The word lists that come with Nikki, by language (`wordlists/<language>.txt`)."""
    folder = resources.files(__package__) / "wordlists"
    return {
        item.name.removesuffix(".txt"): tuple(words_from_file(item))
        for item in folder.iterdir()
        if item.name.endswith(".txt")
    }
