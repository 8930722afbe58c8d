"""Search in Python over the words Django hands back, so the database never has to read them.

A person's words are encrypted at rest: the database can neither filter nor order on them. The
search runs over the values the fields return (plain text once the field has decrypted them):

- a query is split into terms (a "quoted phrase" is one term); an entry matches when every term
  is found in one of its fields (text, morning, afternoon, evening, notes);
- a term is found as a substring, case-insensitively and whatever the width: both sides go
  through NFKC and `str.casefold`, so full-width ABC finds abc, half-width katakana finds
  full-width katakana, and 川沿い is
  found inside a Japanese sentence (which has no spaces between words);
- an English word is also found by its stem (Snowball's English stemmer, the one PostgreSQL's
  `english` configuration uses): "walking" finds "walked" and "walks";
- the best first: the most (term, field) pairs found, then the most occurrences, then the newest.

Django-free: it takes rows and returns ids.
"""

from __future__ import annotations

import re
import shlex
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

# The fields searched, in the order the rows carry them.
FIELDS = ("text", "morning", "afternoon", "evening", "notes")

MAX_TERMS = 10  # a query longer than this searches its first ten terms

_ENGLISH_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
# Porter2's exceptions whose stem is not a prefix of every word that has it ("dying" → "die").
_SHORT_PREFIX = {"die": "d", "lie": "l", "tie": "t"}
_local = threading.local()  # a Snowball stemmer keeps state while it works: one per thread


def normalize(value: str) -> str:
    """The form both the query and the text are compared in: NFKC, then case-folded."""
    if value.isascii():  # the common case, and O(1) to ask: NFKC changes nothing there
        return value.lower()
    return unicodedata.normalize("NFKC", value).casefold()


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """The English stem of a lower-case word ("walking" → "walk")."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = snowballstemmer.stemmer("english")
    return stemmer.stemWord(word)


@dataclass(frozen=True, slots=True)
class Term:
    text: str  # normalized
    stem: str | None = None  # for a single English word
    # Words that may share the stem: every word whose stem is `stem` starts with this prefix.
    candidates: re.Pattern[str] | None = None

    @classmethod
    def of(cls, text: str) -> Term:
        if not _ENGLISH_WORD.fullmatch(text):
            return cls(text)
        root = stem(text)
        prefix = _SHORT_PREFIX.get(root, root[:-1] if root[-1:] in "eiyl" else root)
        return cls(text, root, re.compile(r"\b" + re.escape(prefix) + r"[a-z]*"))

    def count_in(self, haystack: str) -> int:
        """How many times the term occurs in normalized text (as itself or a word of its stem)."""
        found = haystack.count(self.text)
        if self.stem is None:
            return found
        return found + sum(
            1
            for word in self.candidates.findall(haystack)
            if self.text not in word and stem(word) == self.stem
        )

    def found_in(self, haystack: str) -> bool:
        if self.text in haystack:
            return True
        if self.stem is None:
            return False
        return any(stem(word) == self.stem for word in self.candidates.findall(haystack))


def terms_of(query: str) -> list[Term]:
    """The distinct terms of a query, in order; a "quoted phrase" is one term."""
    normalized = normalize(query)
    try:
        parts = shlex.split(normalized)
    except ValueError:  # an unbalanced quote: take the words as they are
        parts = normalized.split()
    seen: dict[str, Term] = {}
    for part in parts:
        part = " ".join(part.split())
        if part and part not in seen:
            seen[part] = Term.of(part)
    return list(seen.values())[:MAX_TERMS]


def rank(rows: Iterable[Sequence], query: str) -> list[int]:
    """The ids of the rows that match every term of `query`, best first.

    Each row is (id, *FIELDS values), newest first: among equals the newer entry stays first.
    """
    terms = terms_of(query)
    if not terms:
        return []
    scored: list[tuple[int, int, int]] = []
    for row in rows:
        values = [normalize(value) for value in row[1:] if value]
        whole = "\n".join(values)
        if not all(term.found_in(whole) for term in terms):
            continue
        pairs = occurrences = 0
        for value in values:
            for term in terms:
                found = term.count_in(value)
                if found:
                    pairs += 1
                    occurrences += found
        scored.append((row[0], pairs, occurrences))
    scored.sort(key=lambda hit: (hit[1], hit[2]), reverse=True)  # stable: newest first in ties
    return [pk for pk, _pairs, _occurrences in scored]
