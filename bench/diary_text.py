"""A 15-year diary's words, made up deterministically: English and Japanese entries of a
realistic size, the notes they were written from, and a few words planted at known rates so the
searches the bench runs find a known number of entries.

Django-free: bench/pages_worker.py turns these into model instances.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from dataclasses import dataclass, field

# The everyday words of an English diary, most frequent first (the Zipf weights follow order).
ENGLISH = (
    "the and i to a of was in it my we that for with on at but had so day then this "
    "is as up all out just were time after went got back some little very when there "
    "morning evening afternoon home work walk walked walking walks coffee tea lunch dinner "
    "breakfast friend friends mother father sister brother city train station rain sun "
    "cold warm quiet long short good tired happy slow fast early late garden river park "
    "shop book books music film read wrote called talked laughed cooked cleaned slept "
    "dog cat bus office meeting email project weekend window street bridge market bread "
    "soup rice fish apples letter phone photo photos sky clouds wind snow summer winter "
    "spring autumn night light room kitchen table chair door bed week month year today "
    "yesterday tomorrow again still never always maybe almost really thought felt knew "
    "wanted needed tried started finished forgot remembered noticed watched listened "
    "played ran sat stood waited bought made took gave found kept left met saw heard "
    "umbrella bicycle library museum beach mountain lake forest hill road corner hospital "
    "school class lesson teacher neighbour children baby grandmother grandfather cousin "
    "birthday holiday trip plan plans idea ideas problem answer question story stories"
).split()

JAPANESE = (
    "今日は朝から雨だった。",
    "駅まで歩いて、電車で会社に行った。",
    "昼休みに公園を散歩した。",
    "夕方、友だちとコーヒーを飲んだ。",
    "母から電話があった。",
    "夜は本を読んでから早く寝た。",
    "川沿いを走ると気持ちがいい。",
    "新しいプロジェクトの会議が長かった。",
    "晩ごはんはカレーを作った。",
    "週末は山に行く予定だ。",
    "桜がもうすぐ咲きそうだ。",
    "少し疲れたけれど、いい一日だった。",
    "図書館で古い写真の本を見つけた。",
    "ｶﾌｪで半角の看板を見た。",
)

# Planted words: (word, share of entries). A search for each finds a known number of entries.
RARE_WORD = "aurora"  # in about 5 entries of 5,500
PLANTED = ((RARE_WORD, 0.001),)


@dataclass
class Version:
    text: str
    writer: str = "offline"


@dataclass
class Entry:
    date: dt.date
    language: str
    tone: str
    morning: str
    afternoon: str
    evening: str
    notes: str
    generations: list[Version] = field(default_factory=list)
    edit: str | None = None  # the owner's own text, if they edited the last generation's


class DiaryWriter:
    """Makes entries from a seed: the same seed gives the same diary."""

    TONES = ("plain", "warm", "humorous", "poetic", "reflective")

    def __init__(self, seed: int = 16) -> None:
        self.random = random.Random(seed)
        self.weights = list(itertools.accumulate(1 / (rank + 8) for rank in range(len(ENGLISH))))

    def words(self, count: int) -> list[str]:
        return self.random.choices(ENGLISH, cum_weights=self.weights, k=count)

    def sentence(self, low: int = 6, high: int = 18) -> str:
        words = self.words(self.random.randint(low, high))
        return " ".join([words[0].capitalize(), *words[1:]]) + "."

    def english(self, words: int) -> str:
        paragraphs, written = [], 0
        while written < words:
            sentences = [self.sentence() for _ in range(self.random.randint(3, 7))]
            written += sum(len(s.split()) for s in sentences)
            paragraphs.append(" ".join(sentences))
        return "\n\n".join(paragraphs)

    def japanese(self, characters: int) -> str:
        paragraphs, written = [], 0
        while written < characters:
            paragraph = "".join(self.random.choices(JAPANESE, k=self.random.randint(3, 6)))
            written += len(paragraph)
            paragraphs.append(paragraph)
        return "\n\n".join(paragraphs)

    def body(self, language: str) -> str:
        """An entry of 300 to 900 words (Japanese: 600 to 1,800 characters)."""
        if language == "ja":
            return self.japanese(self.random.randint(600, 1800))
        return self.english(self.random.randint(300, 900))

    def note(self, language: str, lines: int) -> str:
        if language == "ja":
            return "\n".join(self.random.choice(JAPANESE) for _ in range(lines))
        return "\n".join(self.sentence(4, 12) for _ in range(lines))

    def entry(self, date: dt.date) -> Entry:
        language = "ja" if self.random.random() < 0.15 else "en"
        entry = Entry(
            date=date,
            language=language,
            tone=self.random.choice(self.TONES),
            morning=self.note(language, self.random.randint(1, 3)),
            afternoon=self.note(language, self.random.randint(1, 3)),
            evening=self.note(language, self.random.randint(0, 2)),
            notes=self.note(language, self.random.randint(0, 4)),
        )
        for word, share in PLANTED:
            if self.random.random() < share:
                entry.notes += f"\n{word.capitalize()} tonight, green over the hills."
        # Several generations: the earlier ones regenerated, the last one the entry's text.
        entry.generations = [
            Version(self.body(language)) for _ in range(self.random.choice((1, 2, 2, 3, 4)))
        ]
        if self.random.random() < 0.08:
            entry.edit = entry.generations[-1].text + "\n\n" + self.note(language, 2)
        return entry

    def diary(self, *, entries: int, years: int, today: dt.date) -> list[Entry]:
        """`entries` entries over the `years` years before `today`, some days with two."""
        first = today - dt.timedelta(days=365 * years)
        days = (today - first).days
        dates = [first + dt.timedelta(days=day) for day in range(1, min(days, entries) + 1)]
        while len(dates) < entries:  # more entries than days: some days have two
            dates.append(first + dt.timedelta(days=self.random.randint(1, days)))
        dates.sort()
        return [self.entry(date) for date in dates]
