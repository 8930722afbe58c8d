"""The offline writer: a real, deterministic back end that needs no network and no key.

It composes a plausible first-person diary entry from the owner's notes, in the chosen language
("en" or "ja") and tone, and streams it at a human pace: English word by word, Japanese in short
runs of one to three characters. The same request always gives the same text: every choice
(opening, connectors, comments, closing) is derived from a SHA-256 hash of the inputs, so
different days read differently but a retry reads the same.

The person's own words are kept as written (whitespace normalised, a first letter re-cased where
a sentence needs it) and woven into sentences — "This morning, I ran by the river." /
「今朝は川沿いを走った。」. Notes written in the other language are quoted as given.

`compose(request)` returns the whole text and is what `OfflineWriter.stream()` sends, so that
`"".join(pieces) == compose(request)`. The words and phrases are in `offline_phrases` (one
module per language); this module reads the notes and puts them together. No Django here.
"""

# ruff: noqa: RUF001 — Japanese and typographic punctuation here is intended.

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import unicodedata
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from .base import Finish, Usage, WriterRequest
from .offline_phrases import en, ja

__all__ = ["OfflineWriter", "compose", "count_input_tokens", "split_pieces"]

TONES = ("plain", "warm", "humorous", "poetic", "reflective")
SECTIONS = ("morning", "afternoon", "evening", "notes")

# --- choosing, deterministically -------------------------------------------------------------


class _Chooser:
    """Stable choices derived from a seed (never Python's randomised `hash()`)."""

    def __init__(self, seed: str) -> None:
        self._seed = seed

    def number(self, key: str) -> int:
        digest = hashlib.sha256(f"{self._seed}\x00{key}".encode()).digest()
        return int.from_bytes(digest[:8], "big")

    def pick(self, key: str, options: Sequence[str]) -> str:
        return options[self.number(key) % len(options)]

    def shuffled(self, key: str, options: Sequence[str]) -> list[str]:
        return sorted(options, key=lambda option: self.number(f"{key}\x00{option}"))


# --- reading the notes -----------------------------------------------------------------------

_JA_CHAR = re.compile(r"[\u3005\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")
_LATIN_LETTER = re.compile(r"[A-Za-z]")
_SEGMENT_SPLIT = re.compile(r"\s+/\s+|\s*／\s*|\s*[;；]\s*")
_BULLET = re.compile(r"^(?:[-*•・‐–—]+|\d{1,2}[.)])\s*")
_SENTENCE_SPLIT_EN = re.compile(r"(?<=[.!?])(?![.!?])\s+")
_SENTENCE_SPLIT_JA = re.compile(r"(?<=[。！？!?])(?![。！？!?」』）)])\s*")
_TERMINATOR = re.compile(r"^(.*?)\s*([.!?。！？…]+)$", re.DOTALL)


def _normalise(text: str | None) -> str:
    """Unicode NFC, whitespace collapsed within lines, blank lines dropped."""
    text = unicodedata.normalize("NFC", text or "")
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _is_foreign(segment: str, language: str) -> bool:
    if language == "ja":
        return not _JA_CHAR.search(segment) and bool(_LATIN_LETTER.search(segment))
    return bool(_JA_CHAR.search(segment))


@dataclass(frozen=True, slots=True)
class _Fragment:
    body: str  # the person's words, without the final punctuation
    end: str  # their final punctuation ("" if none)


def _fragments(text: str, language: str) -> tuple[list[_Fragment], list[str]]:
    """Native-language sentence fragments, and segments in the other language (kept whole)."""
    native: list[_Fragment] = []
    foreign: list[str] = []
    split_sentences = _SENTENCE_SPLIT_JA if language == "ja" else _SENTENCE_SPLIT_EN
    for line in text.splitlines():
        for raw in _SEGMENT_SPLIT.split(line):
            segment = _BULLET.sub("", raw.strip()).strip()
            if not segment or not any(ch.isalnum() for ch in segment):
                continue
            if _is_foreign(segment, language):
                foreign.append(segment)
                continue
            for sentence in split_sentences.split(segment):
                sentence = sentence.strip()
                if not any(ch.isalnum() for ch in sentence):
                    continue
                match = _TERMINATOR.match(sentence)
                if match:
                    native.append(_Fragment(match.group(1), match.group(2)))
                else:
                    native.append(_Fragment(sentence, ""))
    return native, foreign


# --- English ---------------------------------------------------------------------------------


def _en_word(word: str) -> str:
    return word.lower().strip(".,!?;:\"'()[]“”‘’")


def _looks_past(word: str) -> bool:
    return (
        len(word) >= 5
        and word.endswith("ed")
        and not word.endswith("eed")
        and word not in en.ED_NOT_VERBS
    )


def _en_kind(body: str) -> str:
    words = [_en_word(w) for w in body.split()]
    first = words[0] if words else ""
    if first in en.SUBJECTS:
        return "clause"
    if first in en.PAST or _looks_past(first):
        return "i_clause"
    if first in en.FEELINGS and (len(words) == 1 or words[1] in en.FEELING_LINKS):
        return "feeling"
    if first in en.BASE_VERBS:
        return "todo"
    if any(w in en.FINITE or _looks_past(w) for w in words[1:4]):
        return "clause"
    return "phrase"


_NOUN_ENDINGS = ("ment", "tion", "sion", "ness", "ity", "ery", "ship", "ance", "ence")


def _en_inline(body: str) -> str:
    """The person's words placed after other words: lower a first letter that is not a name."""
    first = body.split()[0]
    word = _en_word(first)
    if word in {"i", "i'm", "i've", "i'd", "i'll"}:
        return "I" + body[1:]
    known = (
        word in en.SUBJECTS
        or word in en.PAST
        or word in en.FEELINGS
        or word in en.BASE_VERBS
        or word in en.COMMON
        or word in en.EVERYDAY
        or word in en.DETERMINERS
        or _looks_past(word)
        or (word.endswith("ing") and len(word) > 4)
        or (word.endswith(_NOUN_ENDINGS) and len(word) > 5)
    )
    if known and first[:1].isupper() and (len(first) == 1 or not first[1:2].isupper()):
        return first[0].lower() + body[1:]
    return body


_PREPOSITIONS = frozenset(
    "about with at in on for of to from by near after before during over under into".split()
)


def _en_article(body: str) -> str:
    """A noun phrase as a sentence needs it: "long meeting" → "a long meeting"; a name, a
    number, a plural, a mass noun or a phrase with its own determiner is left as it is."""
    words = body.split()
    first = words[0]
    word = _en_word(first)
    if (
        not first[:1].isalpha()
        or first[:1].isupper()  # a name or an acronym (sentence case was lowered already)
        or word in en.DETERMINERS
        or word.endswith(("'s", "’s"))
    ):
        return body
    head = word
    for raw in words:
        if raw != first and _en_word(raw) in _PREPOSITIONS | {"and", "or"}:
            break
        head = _en_word(raw)
        if raw.endswith((",", ";", ":")):
            break
    if (
        not head
        or head in en.NO_ARTICLE
        or (head.endswith("ing") and head not in en.COUNTABLE_ING)
        or (head.endswith("s") and not head.endswith(("ss", "us", "is")))
    ):
        return body
    vowel = word[:1] in "aeiou" and not word.startswith(("uni", "use", "usu", "one", "eu"))
    return ("an " if vowel or word.startswith(("hour", "honest")) else "a ") + body


def _en_past(body: str) -> str:
    """A note written as a plain verb, told in the past: "walk in the park" → "walked in …"."""
    first, _, rest = body.partition(" ")
    word = first.lower()
    if word in en.IRREGULAR_PAST:
        past = en.IRREGULAR_PAST[word]
    elif word.endswith("e"):
        past = word + "d"
    elif word.endswith("y") and word[-2:-1] not in "aeiou":
        past = word[:-1] + "ied"
    else:
        past = word + "ed"
    return f"{past} {rest}" if rest else past


def _en_and(body: str, *, verbs: bool) -> str:
    """A list written with commas reads as one: "cooked pasta, watched a movie" → "cooked
    pasta and watched a movie". Only when every later item starts as the first does (a verb,
    or a plain noun phrase), so "lunch with Anna, my sister" is left alone."""
    parts = [part.strip() for part in body.split(",")]
    if len(parts) < 2 or not all(parts) or " and " in body:
        return body
    for part in parts[1:]:
        word = _en_word(part.split()[0])
        if verbs and not (word in en.PAST or word in en.BASE_VERBS or _looks_past(word)):
            return body
        if not verbs and (word in {"my", "our", "his", "her", "their", "the"} or len(part) > 40):
            return body
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _en_capital(body: str) -> str:
    if body.split()[0] in {"i", "i'm", "i've", "i'd", "i'll"}:
        return "I" + body[1:]
    return body[:1].upper() + body[1:]


def _en_end(fragment: _Fragment) -> str:
    for mark in ("?", "!"):
        if mark in fragment.end:
            return mark
    return "."


def _en_sentence(template: str, fragment: _Fragment, **fields: str) -> str:
    x = _en_inline(fragment.body)
    return template.format(x=x, X=_en_capital(x), **fields) + _en_end(fragment)


def _en_section(
    section: str, text: str, tone: str, chooser: _Chooser, *, alone: bool = False
) -> list[str]:
    """The sentences of one section; `alone`: the other notes are all there is today."""
    native, foreign = _fragments(text, "en")
    sentences: list[str] = []
    label = chooser.pick(f"label:{section}", en.LABELS[tone].get(section, ("Also",)))
    part = en.PARTS.get(section, "day")
    for index, raw in enumerate(native):
        body = raw.body.rstrip(" ,;:-–—")
        if not body:
            continue
        kind = _en_kind(body)
        if kind == "todo" and section != "notes":
            body, kind = _en_past(_en_inline(body)), "i_clause"  # what was done that day
        if kind == "phrase":
            body = _en_article(_en_and(_en_inline(body), verbs=False))
        elif kind in ("i_clause", "feeling"):
            body = _en_and(body, verbs=kind == "i_clause")
        fragment = _Fragment(body, raw.end)
        key = f"{section}:{index}"
        if index == 0 and alone:
            template = chooser.pick(key, en.NOTES_ALONE[kind])
            sentences.append(_en_sentence(template, fragment))
        elif index == 0 and section == "notes":
            template = chooser.pick(key, en.NOTES_FIRST[kind])
            sentences.append(_en_sentence(template, fragment))
        elif index == 0:
            if kind == "phrase":
                template = chooser.pick(key, en.PHRASE_FIRST)
                sentences.append(_en_sentence(template, fragment, part=part))
            elif kind == "todo":
                sentences.append(
                    _en_sentence("On my list for the {part}: {x}", fragment, part=part)
                )
            else:
                template = {"i_clause": "{label}, I {x}", "feeling": "{label}, I felt {x}"}.get(
                    kind, "{label}, {x}"
                )
                sentences.append(_en_sentence(template, fragment, label=label))
        elif kind == "clause":
            sentences.append(_en_capital(fragment.body) + _en_end(fragment))
        else:
            sentences.append(_en_sentence(chooser.pick(key, en.NEXT[kind]), fragment))
    if foreign:
        quoted = " / ".join(foreign).rstrip("。.")
        if native:
            template = chooser.pick(f"{section}:foreign", en.FOREIGN_NEXT)
        elif section == "notes":
            template = chooser.pick(f"{section}:foreign", en.FOREIGN_NOTES)
        else:
            template = chooser.pick(f"{section}:foreign", en.FOREIGN_FIRST)
        sentences.append(template.format(label=label, q=quoted))
    return sentences


# --- Japanese --------------------------------------------------------------------------------


def _ja_kind(body: str) -> str:
    if body.endswith(ja.POLITE_END):
        return "polite"
    if body.endswith("んだ") or (body.endswith("いだ") and not body.endswith(ja.NA_ADJ_IDA)):
        return "clause"  # 読んだ, 遊んだ, 泳いだ: a verb's past, not the copula
    if body.endswith(("かった", "い", "だ", "だった")):
        return "state"  # an adjective or a copula: how something was, not what I did
    if body[-1] in ja.CLAUSE_END:
        return "clause"
    if body.endswith(ja.PARTICLES):
        return "particle"
    return "noun"


def _ja_end(fragment: _Fragment) -> str:
    for mark in ("？", "！", "?", "!"):
        if mark in fragment.end:
            return mark
    return "。"


def _ja_sentence(fragment: _Fragment, *, polite: bool, prefix: str, first: bool, alt: int) -> str:
    """One fragment in Japanese; plain style keeps the words as they are, warm uses です/ます."""
    body, kind = fragment.body, _ja_kind(fragment.body)
    if not polite or kind == "polite":
        return prefix + body + _ja_end(fragment)
    if kind == "particle":
        return prefix + body + _ja_end(fragment)  # カフェへ。: a fragment stays a fragment
    if kind in ("clause", "state"):
        stem = body[:-1] + "な" if kind == "state" and body.endswith("だ") else body
        if first or (kind == "clause" and alt == 0):
            return f"{prefix}{stem}んです。"
        if kind == "state":
            return f"{stem}です。" if body.endswith(("かった", "い")) else f"{stem}んです。"
        return f"{stem}のも、いい時間でした。"
    if first:
        return f"{prefix}{body}でした。"
    return f"{body}もありました。" if alt == 0 else f"{prefix}{body}{_ja_end(fragment)}"


def _ja_section(
    section: str, text: str, tone: str, chooser: _Chooser, *, alone: bool = False
) -> list[str]:
    """The sentences of one section; `alone`: the other notes are all there is today."""
    native, foreign = _fragments(text, "ja")
    polite = tone == "warm"
    if alone:
        labels = ja.ALONE_LABELS
    elif section == "notes":
        labels = ja.NOTES_LABELS["polite" if polite else "plain"]
    else:
        labels = ja.LABELS[tone][section]
    label = chooser.pick(f"label:{section}", labels)
    sentences: list[str] = []
    for index, fragment in enumerate(native):
        alt = chooser.number(f"{section}:{index}") % 2
        if index == 0:
            prefix = label
        else:
            # "それから" moves the day on: it goes before something done, not before a feeling.
            prefix = "それから、" if alt and _ja_kind(fragment.body) != "state" else ""
        sentences.append(
            _ja_sentence(fragment, polite=polite, prefix=prefix, first=index == 0, alt=alt)
        )
    if foreign:
        quoted = " / ".join(foreign).rstrip("。.")
        if native:
            tail = "とも書きました。" if polite else "とも書いてある。"
            sentences.append(f"メモには「{quoted}」{tail}")
        else:
            tail = "と書きました。" if polite else "と書いた。"
            topic = "今日" if alone else ja.TOPICS[section]
            sentences.append(f"{topic}は、メモに「{quoted}」{tail}")
    return sentences


# --- the whole entry -------------------------------------------------------------------------


def _weekday(date: str, names: Sequence[str]) -> str | None:
    try:
        return names[dt.date.fromisoformat((date or "").strip()[:10]).weekday()]
    except ValueError:
        return None


def _language(request: WriterRequest) -> str:
    return "ja" if (request.language or "").lower().startswith("ja") else "en"


def _tone(request: WriterRequest) -> str:
    tone = (request.tone or "").lower()
    return tone if tone in TONES else "plain"


def _first_unused(options: Sequence[str], used: set[str], has_part: bool) -> str:
    """The first option not used yet in this entry ("" means: say nothing this time)."""
    for option in options:
        if option not in used and (has_part or "{part}" not in option):
            used.add(option)
            return option
    return ""


def compose(request: WriterRequest) -> str:
    """The whole diary entry the offline writer streams for `request`. Pure and deterministic."""
    language, tone = _language(request), _tone(request)
    notes = {section: _normalise(getattr(request, section, "")) for section in SECTIONS}
    seed = "\x1f".join(
        [(request.date or "").strip(), tone, language, *(notes[s] for s in SECTIONS)]
    )
    if request.variant:  # another generation of the same notes reads differently
        seed += "\x1e" + request.variant
    chooser = _Chooser(hashlib.sha256(seed.encode()).hexdigest())

    japanese = language == "ja"
    words = ja if japanese else en
    weekday = _weekday(request.date, words.WEEKDAYS)
    openings = words.OPENINGS[tone]
    if weekday is None:
        openings = tuple(o for o in openings if "{weekday}" not in o)
    opening = chooser.pick("opening", openings).format(weekday=weekday)
    transitions = words.TRANSITIONS[tone]
    parts = words.PARTS
    comments = chooser.shuffled("comments", words.COMMENTS[tone])
    transitions = chooser.shuffled("transitions", transitions)
    used: set[str] = set()
    joiner = "" if japanese else " "
    write_section = _ja_section if japanese else _en_section

    paragraphs: list[str] = []
    for section in SECTIONS:
        if not notes[section]:
            continue
        alone = section == "notes" and not paragraphs
        body = write_section(section, notes[section], tone, chooser, alone=alone)
        if not body:
            continue
        sentences: list[str] = []
        if not paragraphs:
            sentences.append(opening)
        elif section in ("afternoon", "evening"):
            transition = _first_unused(transitions, used, section in parts)
            sentences.append(transition.format(part=parts[section]))
        sentences.extend(body)
        comment = _first_unused(comments, used, section in parts)
        sentences.append(comment.format(part=parts.get(section, "")))
        paragraphs.append(joiner.join(s for s in sentences if s))

    if not paragraphs:
        paragraphs.append(joiner.join([opening, words.QUIET[tone]]))
    paragraphs.append(chooser.pick("closing", words.CLOSINGS[tone]))
    return "\n\n".join(paragraphs)


# --- streaming -------------------------------------------------------------------------------

_EN_PIECE = re.compile(r"\S+\s*|\s+")
_JA_SIZES = (2, 1, 3, 2, 2, 3, 1, 2, 3, 2)
_JA_BREAK_AFTER = frozenset("、。！？!?」』）)\n ")


def split_pieces(text: str, language: str) -> list[str]:
    """The stream's pieces: English words with their following whitespace; Japanese runs of
    one to three characters (cut after punctuation). `"".join(pieces) == text`, always."""
    if not (language or "").lower().startswith("ja"):
        return _EN_PIECE.findall(text)
    pieces: list[str] = []
    start, turn, length = 0, 0, len(text)
    while start < length:
        size = _JA_SIZES[turn % len(_JA_SIZES)]
        turn += 1
        end = start
        while end < length and end - start < size:
            end += 1
            if text[end - 1] in _JA_BREAK_AFTER and (
                end >= length or text[end] not in _JA_BREAK_AFTER
            ):
                break
        pieces.append(text[start:end])
        start = end
    return pieces


_WORDISH = re.compile(
    r"[A-Za-z0-9']+|[\u3005\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]"
)


def count_input_tokens(request: WriterRequest) -> int:
    """A rough prompt size: the words (Latin) and characters (Japanese) of the notes."""
    text = " ".join(str(getattr(request, s, "") or "") for s in SECTIONS)
    return max(1, len(_WORDISH.findall(text)))


class OfflineWriter:
    """Writes an entry from the notes with no network: deterministic, paced, cancellable.

    The text is complete whatever `request.max_tokens` says: it is bounded by the notes, and a
    person's own words are never cut off by a local back end.
    """

    name = "offline"
    model = "nikki-offline-1"
    local = True  # nothing leaves the process: names kept from the model need no placeholders

    def __init__(self, *, delay: float = 0.06) -> None:
        if delay < 0:
            raise ValueError("delay must be zero or more seconds")
        self.delay = float(delay)

    def __repr__(self) -> str:
        return f"OfflineWriter(delay={self.delay!r})"

    async def stream(self, request: WriterRequest) -> AsyncIterator[str | Finish]:
        pieces = split_pieces(compose(request), _language(request))
        for piece in pieces:
            # A cancellation point per piece: cancelling the task or aclose() stops it here.
            await asyncio.sleep(self.delay)
            yield piece
        prompt_tokens = count_input_tokens(request)
        yield Finish(
            reason="stop",
            usage=Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=len(pieces),
                total_tokens=prompt_tokens + len(pieces),
            ),
        )
