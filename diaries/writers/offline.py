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
`"".join(pieces) == compose(request)`. No Django here.
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

_EN_PAST = frozenset(
    """went ran had ate drank met saw made took got did wrote read bought brought came caught
    felt found gave left lost paid put said sat slept spent stood swam taught thought told woke
    won began drove rode flew forgot heard held kept knew led let meant sent set sang sold spoke
    threw wore fed fell fought grew hid hit hurt became broke built burnt burned chose cut dealt
    dug drew dreamt dreamed forgave froze hung lay lit quit rang rose sank shook shot shut slid
    spun stole struck swept swung tore understood woke wound agreed freed
    finally also just""".split()
)
_EN_FINITE = _EN_PAST | frozenset(
    "was were is are has have am isn't wasn't weren't didn't couldn't won't can can't could "
    "will would should might must".split()
)
_EN_ED_NOT_VERBS = frozenset(
    """tired bored excited relaxed stressed worried interested married scared hundred naked
    sacred wicked beloved crooked ragged rugged wretched exhausted annoyed amazed surprised
    confused depressed pleased satisfied frustrated overwhelmed embarrassed disappointed
    motivated focused inspired delighted thrilled""".split()
)
_EN_FEELINGS = frozenset(
    """tired happy sad excited bored sleepy busy relaxed stressed anxious calm hungry sick
    exhausted nervous grateful thankful lonely productive lazy good great fine okay ok awesome
    content cheerful grumpy restless refreshed energetic worried glad proud overwhelmed
    frustrated motivated focused inspired""".split()
)
_EN_FEELING_LINKS = frozenset(
    "and but or after because from all so too very about with yet though since".split()
)
_EN_BASE_VERBS = frozenset(
    """go run eat have meet see make take get do write read buy visit watch play walk cook clean
    study call finish start try help drink sleep swim shop pick fix send pay email text book
    prepare practice practise work""".split()
)
_EN_SUBJECTS = frozenset(
    "i i'm i've i'd i'll we we're we've he she they you it it's there there's everyone "
    "everybody nobody somebody someone".split()
)
_EN_COMMON = frozenset(
    """a an the my our some any another more lots lot much many few long short quick big small
    little nice good great bad busy slow lazy early late lunch breakfast brunch dinner supper
    coffee tea work school class classes meeting meetings shopping groceries cleaning laundry
    homework nothing nobody everything errands chores yoga gym walk run jog ride drive trip
    visit call calls emails email movie movies music games game practice rain snow sun sunshine
    weather rest nap reading cooking writing studying gardening football soccer tennis""".split()
)


def _en_word(word: str) -> str:
    return word.lower().strip(".,!?;:\"'()[]“”‘’")


def _looks_past(word: str) -> bool:
    return (
        len(word) >= 5
        and word.endswith("ed")
        and not word.endswith("eed")
        and word not in _EN_ED_NOT_VERBS
    )


def _en_kind(body: str) -> str:
    words = [_en_word(w) for w in body.split()]
    first = words[0] if words else ""
    if first in _EN_SUBJECTS:
        return "clause"
    if first in _EN_PAST or _looks_past(first):
        return "i_clause"
    if first in _EN_FEELINGS and (len(words) == 1 or words[1] in _EN_FEELING_LINKS):
        return "feeling"
    if first in _EN_BASE_VERBS:
        return "todo"
    if any(w in _EN_FINITE or _looks_past(w) for w in words[1:4]):
        return "clause"
    return "phrase"


def _en_inline(body: str) -> str:
    """The person's words placed after other words: lower a first letter that is not a name."""
    first = body.split()[0]
    word = _en_word(first)
    if word in {"i", "i'm", "i've", "i'd", "i'll"}:
        return "I" + body[1:]
    known = (
        word in _EN_SUBJECTS
        or word in _EN_PAST
        or word in _EN_FEELINGS
        or word in _EN_BASE_VERBS
        or word in _EN_COMMON
        or _looks_past(word)
        or (word.endswith("ing") and len(word) > 4)
    )
    if known and first[:1].isupper() and (len(first) == 1 or not first[1:2].isupper()):
        return first[0].lower() + body[1:]
    return body


def _en_capital(body: str) -> str:
    if body.split()[0] in {"i", "i'm", "i've", "i'd", "i'll"}:
        return "I" + body[1:]
    return body[:1].upper() + body[1:]


def _en_end(fragment: _Fragment) -> str:
    for mark in ("?", "!"):
        if mark in fragment.end:
            return mark
    return "."


_EN_LABELS = {
    "plain": {
        "morning": ("This morning", "In the morning"),
        "afternoon": ("This afternoon", "In the afternoon"),
        "evening": ("This evening", "In the evening"),
    },
    "warm": {
        "morning": ("This morning", "Early in the day"),
        "afternoon": ("In the afternoon", "Later on"),
        "evening": ("In the evening", "This evening"),
    },
    "humorous": {
        "morning": ("First thing this morning", "This morning, bright and early-ish"),
        "afternoon": ("This afternoon", "Later that day"),
        "evening": ("This evening", "By the time the evening rolled around"),
    },
    "poetic": {
        "morning": ("In the soft light of the morning", "As the morning opened"),
        "afternoon": ("In the long hours of the afternoon", "When the afternoon settled in"),
        "evening": ("As the evening gathered", "When dusk came"),
    },
    "reflective": {
        "morning": ("This morning", "Early on"),
        "afternoon": ("In the afternoon", "Later in the day"),
        "evening": ("In the evening", "As the day wound down"),
    },
}

_EN_PHRASE_FIRST = ("The {part} began with {x}", "The {part} was for {x}", "The {part} brought {x}")
_EN_NOTES_FIRST = {
    "i_clause": ("I also {x}", "Besides that, I {x}"),
    "clause": ("Also, {x}", "Besides that, {x}"),
    "feeling": ("Overall, I felt {x}",),
    "todo": ("Still on my list: {x}",),
    "phrase": ("Also worth noting: {x}", "One more thing: {x}"),
}
_EN_NEXT = {
    "i_clause": ("Then I {x}", "After that, I {x}", "I also {x}"),
    "feeling": ("I felt {x}",),
    "todo": ("Also on the list: {x}",),
    "phrase": ("There was also {x}", "Then came {x}"),
}
_EN_FOREIGN_FIRST = ("{label}, as I noted it: “{q}”.",)
_EN_FOREIGN_NOTES = ("I also noted: “{q}”.", "In my notes: “{q}”.")
_EN_FOREIGN_NEXT = ("Or, as I jotted it down: “{q}”.", "In my notes: “{q}”.")

_EN_OPENINGS = {
    "plain": ("Today was a {weekday}.", "A short record of today.", "Here's how today went."),
    "warm": (
        "What a lovely {weekday} it turned out to be.",
        "Dear diary, today had some good moments in it.",
        "I want to remember today, so here it is.",
    ),
    "humorous": (
        "Another {weekday}, another episode of a life nobody asked to see.",
        "Dear diary, brace yourself.",
        "Today's report, filed by your favourite unreliable narrator.",
    ),
    "poetic": (
        "The {weekday} unfolded slowly, like a letter I was in no hurry to read.",
        "Some days arrive quietly and still leave something behind.",
        "The light moved across the day the way it always does, and I moved with it.",
    ),
    "reflective": (
        "Looking back on this {weekday}, I want to take stock of it honestly.",
        "Before the day slips away, I want to think it through.",
        "Today gave me a few things to think about.",
    ),
}
_EN_TRANSITIONS = {
    "plain": ("",),
    "warm": ("The day kept being kind to me.", ""),
    "humorous": (
        "Then, as is tradition, the day simply continued.",
        "Plot twist: there was more.",
        "",
    ),
    "poetic": ("The hours leaned toward the {part}.", ""),
    "reflective": ("As the day went on, my mind settled a little.", ""),
}
_EN_COMMENTS = {
    "plain": (
        "That was the {part}.",
        "Simple enough.",
        "Nothing else to add about the {part}.",
        "",
    ),
    "warm": (
        "It made me smile.",
        "I'm grateful for that.",
        "Little things like that matter to me.",
        "It felt good, honestly.",
    ),
    "humorous": (
        "Truly, a highlight of modern civilisation.",
        "Nobody was harmed, which I count as a win.",
        "I'd give it four stars, minus one for the lack of snacks.",
        "My future biographer will want to know.",
    ),
    "poetic": (
        "The {part} held it gently, the way water holds the sky.",
        "Somewhere in it, time slowed down.",
        "It left a soft mark on the day.",
        "I can still feel the shape of it.",
    ),
    "reflective": (
        "I wonder why that stays with me.",
        "Looking back, it mattered more than it seemed at the time.",
        "It reminded me what I actually care about.",
        "There's something to learn in that, I think.",
    ),
}
_EN_CLOSINGS = {
    "plain": ("That's all for today.", "That was the day.", "Tomorrow is another day."),
    "warm": (
        "All in all, a good day. I'm thankful for it.",
        "I'm going to bed with a full heart.",
        "Thank you, today. Sleep well, me.",
    ),
    "humorous": (
        "And that, dear diary, is all the drama I can handle in one day.",
        "Tune in tomorrow for more thrilling adventures.",
        "Signing off before anything else can happen.",
    ),
    "poetic": (
        "The day folds itself away now, and I let it go.",
        "Tomorrow waits on the other side of sleep.",
        "What remains is quiet, and the quiet is enough.",
    ),
    "reflective": (
        "I think today taught me to notice the small things.",
        "Tomorrow, I want to carry a little of today with me.",
        "It may not have been a big day, but it was mine, and that is worth writing down.",
    ),
}
_EN_QUIET = {
    "plain": "Nothing much happened today.",
    "warm": "It was a quiet day, and that was alright with me.",
    "humorous": "Nothing happened today. I checked twice.",
    "poetic": "The day passed like a cloud, without a sound.",
    "reflective": (
        "It was a quiet day with nothing in particular to note, and perhaps that is worth noting."
    ),
}
_EN_PARTS = {"morning": "morning", "afternoon": "afternoon", "evening": "evening"}
_EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _en_sentence(template: str, fragment: _Fragment, **fields: str) -> str:
    return template.format(x=_en_inline(fragment.body), **fields) + _en_end(fragment)


def _en_section(section: str, text: str, tone: str, chooser: _Chooser) -> list[str]:
    native, foreign = _fragments(text, "en")
    sentences: list[str] = []
    label = chooser.pick(f"label:{section}", _EN_LABELS[tone].get(section, ("Also",)))
    part = _EN_PARTS.get(section, "day")
    for index, fragment in enumerate(native):
        kind = _en_kind(fragment.body)
        key = f"{section}:{index}"
        if index == 0 and section == "notes":
            template = chooser.pick(key, _EN_NOTES_FIRST[kind])
            sentences.append(_en_sentence(template, fragment))
        elif index == 0:
            if kind == "phrase":
                template = chooser.pick(key, _EN_PHRASE_FIRST)
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
            sentences.append(_en_sentence(chooser.pick(key, _EN_NEXT[kind]), fragment))
    if foreign:
        quoted = " / ".join(foreign).rstrip("。.")
        if native:
            template = chooser.pick(f"{section}:foreign", _EN_FOREIGN_NEXT)
        elif section == "notes":
            template = chooser.pick(f"{section}:foreign", _EN_FOREIGN_NOTES)
        else:
            template = chooser.pick(f"{section}:foreign", _EN_FOREIGN_FIRST)
        sentences.append(template.format(label=label, q=quoted))
    return sentences


# --- Japanese --------------------------------------------------------------------------------

_JA_POLITE_END = ("ます", "ました", "です", "でした", "ません", "ませんでした", "でしょう")
_JA_CLAUSE_END = set("たるうくすつぬむぶぐいだ")
_JA_PARTICLES = ("へ", "に", "で", "と", "を", "も", "から", "まで", "や", "、", "，")
_JA_NA_ADJ_IDA = ("れいだ", "嫌いだ", "きらいだ", "大嫌いだ", "みたいだ")

_JA_LABELS = {
    "plain": {"morning": ("今朝は", "朝は"), "afternoon": ("午後は",), "evening": ("夜は",)},
    "warm": {
        "morning": ("今朝は", "朝は"),
        "afternoon": ("午後は",),
        "evening": ("夜は", "夕方からは"),
    },
    "humorous": {
        "morning": ("今朝は", "朝いちばんに"),
        "afternoon": ("午後は", "昼過ぎには"),
        "evening": ("夜は",),
    },
    "poetic": {
        "morning": ("朝の光の中で、", "やわらかな朝に、"),
        "afternoon": ("午後の長い時間の中で、", "午後の日差しの下で、"),
        "evening": ("夕暮れのあと、", "夜の静けさの中で、"),
    },
    "reflective": {
        "morning": ("今朝は", "朝は"),
        "afternoon": ("午後は", "昼過ぎは"),
        "evening": ("夜は", "一日の終わりに、"),
    },
}
_JA_NOTES_LABELS = {"polite": ("ほかにも、",), "plain": ("ほかには、", "それから、")}
_JA_TOPICS = {
    "morning": "今朝のこと",
    "afternoon": "午後のこと",
    "evening": "夜のこと",
    "notes": "ほかのこと",
}
_JA_OPENINGS = {
    "plain": ("今日は{weekday}だった。", "今日の記録。", "今日のことを書いておく。"),
    "warm": (
        "今日は素敵な{weekday}でした。",
        "今日も一日、おつかれさまでした。",
        "今日のことを、忘れないうちに書いておきます。",
    ),
    "humorous": (
        "今日もまた、誰にも頼まれていない私の一日の報告である。",
        "日記よ、心して聞いてほしい。",
        "{weekday}。今日も私は、それなりに頑張った。",
    ),
    "poetic": (
        "{weekday}が、ゆっくりとほどけていった。",
        "静かにやってきて、何かを残していく日がある。",
        "光が一日をなぞるように動き、私もその中を歩いた。",
    ),
    "reflective": (
        "この{weekday}を、正直に振り返ってみたい。",
        "一日が過ぎ去ってしまう前に、少し考えを整理しておきたい。",
        "今日は、考えさせられることがいくつかあった。",
    ),
}
_JA_TRANSITIONS = {
    "plain": ("",),
    "warm": ("そのあとも、穏やかな時間が続きました。", ""),
    "humorous": ("そして、一日はまだ終わらなかった。", ""),
    "poetic": ("時間は静かに{part}へと傾いていった。", ""),
    "reflective": ("一日が進むにつれて、気持ちも少しずつ落ち着いていった。", ""),
}
_JA_COMMENTS = {
    "plain": ("悪くない{part}だった。", "まずまずの{part}だった。", "特に書き足すことはない。", ""),
    "warm": (
        "なんだか心が温かくなりました。",
        "ありがたいことだなと思います。",
        "こういう小さなことが、うれしいんです。",
        "思い出すと、つい笑顔になります。",
    ),
    "humorous": (
        "我ながら、なかなかの活躍ぶりである。",
        "歴史の教科書には載らないが、私にとっては大事件だ。",
        "誰にも褒められないので、自分で褒めておく。",
        "これ以上の説明は不要だろう。",
    ),
    "poetic": (
        "{part}の光が、静かにそれを包んでいた。",
        "時間が少しだけ、ゆっくり流れた気がする。",
        "その余韻が、まだ胸の奥に残っている。",
        "風の匂いまで覚えている。",
    ),
    "reflective": (
        "なぜか、そのことが心に残っている。",
        "振り返ると、思っていた以上に大切な時間だったのかもしれない。",
        "自分が何を大事にしているのか、少し分かった気がする。",
        "そこから学べることがある気がする。",
    ),
}
_JA_CLOSINGS = {
    "plain": ("今日はこんなところだ。", "以上、今日の記録。", "明日もまた、普通にやっていこう。"),
    "warm": (
        "いい一日でした。ありがとう、今日。",
        "あたたかい気持ちのまま眠れそうです。",
        "明日もいい日になりますように。",
    ),
    "humorous": (
        "以上、本日の大冒険でした……と言いたいところだが、まあこんなものである。",
        "明日の私に、あとのことは任せた。",
        "これ以上何か起きる前に、寝ることにする。",
    ),
    "poetic": (
        "一日がそっと折りたたまれていく。私はそれを手放す。",
        "明日は、眠りの向こう側で待っている。",
        "残ったのは静けさで、その静けさで十分だ。",
    ),
    "reflective": (
        "今日は、小さなことに気づく大切さを教えてくれた気がする。",
        "明日は、今日の何かを少しだけ持っていきたい。",
        "特別な一日ではなかったかもしれないが、これは私の一日で、書き残す価値がある。",
    ),
}
_JA_QUIET = {
    "plain": "今日は特に何もない一日だった。",
    "warm": "今日は静かな一日でした。そんな日も悪くありません。",
    "humorous": "今日は何も起きなかった。念のため二回確認した。",
    "poetic": "一日が、雲のように音もなく過ぎていった。",
    "reflective": (
        "今日は静かな一日で、書くべきことは特になかった。"
        "それもまた、書き留めておく価値があるのだろう。"
    ),
}
_JA_PARTS = {"morning": "朝", "afternoon": "午後", "evening": "夜"}
_JA_WEEKDAYS = ("月曜日", "火曜日", "水曜日", "木曜日", "金曜日", "土曜日", "日曜日")


def _ja_kind(body: str) -> str:
    if body.endswith(_JA_POLITE_END):
        return "polite"
    if body.endswith("んだ") or (body.endswith("いだ") and not body.endswith(_JA_NA_ADJ_IDA)):
        return "clause"  # 読んだ, 遊んだ, 泳いだ: a verb's past, not the copula
    if body.endswith(("かった", "い", "だ", "だった")):
        return "state"  # an adjective or a copula: how something was, not what I did
    if body[-1] in _JA_CLAUSE_END:
        return "clause"
    if body.endswith(_JA_PARTICLES):
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


def _ja_section(section: str, text: str, tone: str, chooser: _Chooser) -> list[str]:
    native, foreign = _fragments(text, "ja")
    polite = tone == "warm"
    if section == "notes":
        labels = _JA_NOTES_LABELS["polite" if polite else "plain"]
    else:
        labels = _JA_LABELS[tone][section]
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
            sentences.append(f"{_JA_TOPICS[section]}は、メモに「{quoted}」{tail}")
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
    chooser = _Chooser(hashlib.sha256(seed.encode()).hexdigest())

    ja = language == "ja"
    weekday = _weekday(request.date, _JA_WEEKDAYS if ja else _EN_WEEKDAYS)
    openings = (_JA_OPENINGS if ja else _EN_OPENINGS)[tone]
    if weekday is None:
        openings = tuple(o for o in openings if "{weekday}" not in o)
    opening = chooser.pick("opening", openings).format(weekday=weekday)
    transitions = (_JA_TRANSITIONS if ja else _EN_TRANSITIONS)[tone]
    parts = _JA_PARTS if ja else _EN_PARTS
    comments = chooser.shuffled("comments", (_JA_COMMENTS if ja else _EN_COMMENTS)[tone])
    transitions = chooser.shuffled("transitions", transitions)
    used: set[str] = set()
    joiner = "" if ja else " "

    paragraphs: list[str] = []
    for section in SECTIONS:
        if not notes[section]:
            continue
        if ja:
            body = _ja_section(section, notes[section], tone, chooser)
        else:
            body = _en_section(section, notes[section], tone, chooser)
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
        paragraphs.append(joiner.join([opening, (_JA_QUIET if ja else _EN_QUIET)[tone]]))
    paragraphs.append(chooser.pick("closing", (_JA_CLOSINGS if ja else _EN_CLOSINGS)[tone]))
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
