"""Search in Python over the words Django hands back, so the database never has to read them.

A person's words are encrypted at rest: the database can neither filter nor order on them. The
search runs over the values the fields return (plain text once the field has decrypted them):

- a query is split into terms (a "quoted phrase" is one term); an entry matches when every term
  is found in one of its fields (text, morning, afternoon, evening, notes);
- a term is found as a substring, case-insensitively and whatever the width: both sides go
  through NFKC and `str.casefold`, so full-width ABC finds abc, half-width katakana finds
  full-width katakana, and 川沿い is found inside a Japanese sentence (which has no spaces
  between words);
- an English word is also found by its stem (Snowball's English stemmer, the one PostgreSQL's
  `english` configuration uses): "walking" finds "walked" and "walks";
- the best first: the most (term, part) pairs found (the parts: the entry's text, the notes it
  was written from), then the most occurrences, then the newest.

Django-free: it takes rows and returns ids.
"""

from __future__ import annotations

import re
import shlex
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import snowballstemmer

# The fields searched, in the order the rows carry them.
FIELDS = ("text", "morning", "afternoon", "evening", "notes")

MAX_TERMS = 10  # a query longer than this searches its first ten terms

_ENGLISH_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
# Porter2's exceptions whose stem is not a prefix of every word that has it ("dying" → "die").
_SHORT_PREFIX = {"die": "d", "lie": "l", "tie": "t"}
_local = threading.local()  # a Snowball stemmer keeps state while it works: one per thread


def normalize(value: str) -> str:
    """The form both the query and the text are compared in: NFKC, then case-folded.

    NFKC runs only on the runs of characters it may change (with the character before each,
    which a combining mark may compose with): the same result as NFKC over the whole text, and
    ten times faster on Japanese text, where it is most of a search's time otherwise.
    """
    if value.isascii():  # the common case, and O(1) to ask: NFKC changes nothing there
        return value.lower()
    if unicodedata.is_normalized("NFKC", value):  # a quick check, far cheaper than NFKC
        return value.casefold()
    pieces, done = [], 0
    for run in _changing().finditer(value):
        start = run.start() - 1 if run.start() > done else run.start()
        pieces += [value[done:start], unicodedata.normalize("NFKC", value[start : run.end()])]
        done = run.end()
    pieces.append(value[done:])
    return "".join(pieces).casefold()


@cache
def _changing() -> re.Pattern[str]:
    """Runs of characters NFKC may change: those it maps to something else, combining marks,
    Hangul jamo, and everything beyond the Basic Multilingual Plane."""
    changing = [
        code
        for code in range(0x80, 0x10000)
        if not 0xD800 <= code <= 0xDFFF
        and (
            unicodedata.normalize("NFKC", chr(code)) != chr(code)
            or unicodedata.combining(chr(code))
            or 0x1100 <= code <= 0x11FF
        )
    ]
    ranges: list[list[int]] = []
    for code in changing:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    members = "".join(f"{re.escape(chr(low))}-{re.escape(chr(high))}" for low, high in ranges)
    return re.compile(f"[{members}\U00010000-\U0010ffff]+")


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
    prefix: str = ""
    # What every text holding the term holds: the term itself, or for an English word the
    # prefix of its stem's words when the word holds it ("" when not: no shortcut). Where it
    # is missing, nothing more need be read.
    needle: str = ""

    @classmethod
    def of(cls, text: str) -> Term:
        if not _ENGLISH_WORD.fullmatch(text):
            return cls(text, needle=text)
        root = stem(text)
        prefix = _SHORT_PREFIX.get(root, root[:-1] if root[-1:] in "eiyl" else root)
        # No leading \b: a pattern that starts with its literal is searched for much faster.
        candidates = re.compile(re.escape(prefix) + r"[a-z]*")
        return cls(text, root, candidates, prefix, prefix if prefix in text else "")

    def found_in(self, corpus: str, start: int = 0, end: int | None = None) -> bool:
        """Whether the term occurs in normalized corpus[start:end]."""
        end = len(corpus) if end is None else end
        return corpus.find(self.text, start, end) != -1 or self.stem_found_in(corpus, start, end)

    def stem_found_in(self, corpus: str, start: int, end: int) -> bool:
        """Whether a word of corpus[start:end] has the term's stem (never, for a term that is
        not one English word)."""
        first = -1 if self.stem is None else corpus.find(self.prefix, start, end)
        if first == -1:
            return False  # str.find first: much faster than the pattern where nothing is
        for word in self.candidates.finditer(corpus, first, end):
            at = word.start()
            if at > start and (corpus[at - 1].isalnum() or corpus[at - 1] == "_"):
                continue  # inside a word: "sidewalks" is not a form of "walk"
            if stem(word.group()) == self.stem:
                return True
        return False


def terms_of(query: str) -> list[Term]:
    """The distinct terms of a query, in order; a "quoted phrase" is one term."""
    # NUL joins a document's fields (`document`): a term holding it would match across two.
    normalized = normalize(query).replace("\0", " ")
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


def document(values: Sequence[str]) -> str:
    """An entry's fields (FIELDS order) as a search compares them: joined by NUL, which no
    field holds, and normalized. diaries/search_index.py keeps one per entry."""
    return normalize("\0".join(values))


def rank(rows: Iterable[Sequence], query: str) -> list[int]:
    """The ids of the rows that match every term of `query`, best first.

    Each row is (id, *FIELDS values), newest first: among equals the newer entry stays first.
    """
    return Corpus.of(rows).rank(query)


@dataclass(frozen=True, slots=True)
class Corpus:
    """Rows normalized, one string a row (its fields joined by NUL, which no field holds), with
    their ids: a search then makes a few calls into C per row. A row of ASCII stays a one-byte
    string, which str.find scans fastest."""

    ids: list[int]
    rows: list[str]

    @classmethod
    def of(cls, rows: Iterable[Sequence]) -> Corpus:
        """The corpus of rows (id, *FIELDS values)."""
        return cls.of_documents((pk, document(values)) for pk, *values in rows)

    @classmethod
    def of_documents(cls, documents: Iterable[tuple[int, str]]) -> Corpus:
        """The corpus of (id, document) pairs, documents made by `document`."""
        ids: list[int] = []
        texts: list[str] = []
        for pk, text in documents:
            ids.append(pk)
            texts.append(text)
        return cls(ids, texts)

    def updated(self, order: Sequence[int], changed: Iterable[tuple[int, str]]) -> Corpus | None:
        """This corpus after some rows changed: `order` is every id now, newest first, and
        `changed` the (id, document) pairs of the rows written since it was built. None when a
        row of `order` is in neither (then build it again)."""
        rows = dict(zip(self.ids, self.rows, strict=True))
        rows.update(changed)
        if any(pk not in rows for pk in order):
            return None
        return Corpus(list(order), [rows[pk] for pk in order])

    def rank(self, query: str) -> list[int]:
        """The ids of the rows that match every term of `query`, best first: the most (term,
        part) pairs found, the parts being the entry's text and the notes it was written from;
        then the most occurrences; then the newest (rows come newest first)."""
        terms = terms_of(query)
        if not terms:
            return []
        scored: list[tuple[int, int, int]] = []
        for pk, row in zip(self.ids, self.rows, strict=True):
            end = len(row)
            split = row.find("\0")  # the text, then the notes
            split = end if split == -1 else split
            pairs = occurrences = 0
            # One pass over each part per term: a term (never NUL) cannot span the split.
            for term in terms:
                if term.needle not in row:
                    break  # one pass where the term is missing, the common case
                in_text = row.count(term.text, 0, split)
                in_notes = row.count(term.text, split, end)
                found_text = in_text > 0 or term.stem_found_in(row, 0, split)
                found_notes = in_notes > 0 or term.stem_found_in(row, split, end)
                if not (found_text or found_notes):
                    break  # every term must be found
                pairs += found_text + found_notes
                occurrences += in_text + in_notes or 1  # found only by its stem: once
            else:
                scored.append((pk, pairs, occurrences))
        scored.sort(key=lambda hit: (hit[1], hit[2]), reverse=True)  # stable: newest first
        return [pk for pk, _pairs, _occurrences in scored]


class CorpusCache:
    """The corpora of the last few people who searched, each kept while its fingerprint (what
    the database says about their entries: how many, the last change) is unchanged, for at most
    `seconds` after it was built. Reading and normalizing a long diary is most of a search's
    time; the next page, or the next query, then costs only the matching.

    This keeps a diary's words in the process's memory (never on disk) for that long.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: OrderedDict[object, tuple[object, float, Corpus]] = OrderedDict()

    def get(
        self,
        key,
        fingerprint,
        build: Callable[[], Corpus],
        *,
        seconds: float,
        size: int,
        refresh: Callable[[Corpus, object], Corpus | None] | None = None,
    ) -> Corpus:
        """The corpus kept for `key` if its fingerprint is `fingerprint`; else, while it is
        kept, `refresh(corpus, its fingerprint)` (the rows written since read again, not the
        whole diary; None: build it all); else `build()`. A corpus leaves memory `seconds`
        after its first build, however often it was refreshed."""
        if seconds <= 0 or size <= 0:
            return build()
        now = time.monotonic()
        with self.lock:
            for old in [k for k, (_f, built, _c) in self.items.items() if now - built >= seconds]:
                del self.items[old]  # expired: the words leave memory on time
            item = self.items.get(key)
            if item is not None and item[0] == fingerprint:
                self.items.move_to_end(key)
                return item[2]
        corpus = None
        if item is not None and refresh is not None:
            corpus = refresh(item[2], item[0])
        built = item[1] if corpus is not None else now
        if corpus is None:
            corpus = build()
        with self.lock:
            self.items[key] = (fingerprint, built, corpus)
            self.items.move_to_end(key)
            while len(self.items) > size:
                self.items.popitem(last=False)
        return corpus

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


# --- Excerpts: where a result matched, for the results page ------------------------------------


def _normalized_with_origin(text: str) -> tuple[str, list[int] | None]:
    """`text` normalized a character at a time, and for each normalized character the position
    of the character it came from (None: the same positions, an ASCII text)."""
    if text.isascii():
        return text.lower(), None
    pieces: list[str] = []
    origin: list[int] = []
    for at, char in enumerate(text):
        folded = unicodedata.normalize("NFKC", char).casefold()
        pieces.append(folded)
        origin.extend([at] * len(folded))
    return "".join(pieces), origin


def _spans_by_term(text: str, terms: Sequence[Term]) -> list[list[tuple[int, int]]]:
    """For each term, where it occurs in `text` (its own positions, start and end): as search
    finds it, an English word in any of its forms too; `text` normalized once."""
    normalized, origin = _normalized_with_origin(text)
    by_term: list[list[tuple[int, int]]] = []
    for term in terms:
        found: list[tuple[int, int]] = []
        start = normalized.find(term.text)
        while start != -1:
            found.append((start, start + len(term.text)))
            start = normalized.find(term.text, start + len(term.text))
        if term.stem is not None:
            for word in term.candidates.finditer(normalized):
                at = word.start()
                if at > 0 and (normalized[at - 1].isalnum() or normalized[at - 1] == "_"):
                    continue
                if stem(word.group()) == term.stem:
                    found.append((at, word.end()))
        if origin is not None:
            found = [(origin[start], origin[end - 1] + 1) for start, end in found if end > start]
        by_term.append(found)
    return by_term


def _merged(found: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans `found`, in order, overlapping ones merged."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True, slots=True)
class Excerpt:
    """A piece of one field of an entry around what a search found: (text, found) pieces."""

    field: str
    pieces: list[tuple[str, bool]]


def excerpt(fields: Sequence[tuple[str, str]], query: str, *, width: int = 200) -> Excerpt | None:
    """The excerpt of the field (of (name, value) pairs, in order of preference) where the most
    terms of `query` are found: about `width` characters around the first match, every match in
    it marked. None when no field holds a term."""
    terms = terms_of(query)
    best: tuple[int, str, str, list[tuple[int, int]]] | None = None
    for name, value in fields:
        if not value:
            continue
        by_term = _spans_by_term(value, terms)
        count = sum(1 for found in by_term if found)
        found = _merged([span for spans_of_term in by_term for span in spans_of_term])
        if count and (best is None or count > best[0]):
            best = (count, name, value, found)
            if count == len(terms):
                break  # no later field can hold more
    if best is None:
        return None
    _count, name, value, found = best
    start = max(0, found[0][0] - width // 4)
    end = min(len(value), start + width)
    if end == len(value):
        start = max(0, end - width)
    pieces: list[tuple[str, bool]] = [("…", False)] if start > 0 else []
    at = start
    for span_start, span_end in found:
        span_start, span_end = max(span_start, start), min(span_end, end)
        if span_start >= span_end:
            continue
        if span_start > at:
            pieces.append((value[at:span_start], False))
        pieces.append((value[span_start:span_end], True))
        at = span_end
    if at < end:
        pieces.append((value[at:end], False))
    if end < len(value):
        pieces.append(("…", False))
    return Excerpt(name, pieces)
