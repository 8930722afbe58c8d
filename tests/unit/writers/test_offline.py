"""The offline writer: deterministic, faithful to the notes, paced, cancellable."""

# ruff: noqa: RUF001 — Japanese and typographic punctuation here is intended.

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time

import pytest

from diaries.writers.base import Finish, WriterRequest
from diaries.writers.offline import OfflineWriter, compose, split_pieces
from tests.support.paths import ROOT

TONES = ("plain", "warm", "humorous", "poetic", "reflective")
JA_CHARS = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def make_request(**fields) -> WriterRequest:
    values = {
        "date": "2025-06-01",
        "morning": "ran by the river",
        "afternoon": "lunch with Aiko",
        "evening": "read a book on the sofa",
        "notes": "",
        "tone": "warm",
        "language": "en",
    }
    values.update(fields)
    return WriterRequest(**values)


def ja_request(**fields) -> WriterRequest:
    values = {
        "morning": "川沿いを走った",
        "afternoon": "愛子とランチ",
        "evening": "ソファで本を読んだ",
        "language": "ja",
    }
    values.update(fields)
    return make_request(**values)


async def collect(writer: OfflineWriter, request: WriterRequest) -> list[str | Finish]:
    return [item async for item in writer.stream(request)]


# --- composing ---------------------------------------------------------------------------------


def test_writer_identity():
    writer = OfflineWriter(delay=0)
    assert writer.name == "offline"
    assert writer.model == "nikki-offline-1"
    assert OfflineWriter().delay == pytest.approx(0.06)
    with pytest.raises(ValueError):
        OfflineWriter(delay=-1)


@pytest.mark.parametrize("language", ["en", "ja"])
def test_compose_is_deterministic(language):
    request = make_request(language=language)
    assert compose(request) == compose(make_request(language=language))


def test_compose_is_deterministic_across_processes():
    """Choices come from a stable hash, not from Python's per-process randomised hash()."""
    code = (
        "from diaries.writers.base import WriterRequest\n"
        "from diaries.writers.offline import compose\n"
        "print(compose(WriterRequest(date='2025-06-01', morning='ran by the river', "
        "afternoon='lunch with Aiko', evening='', notes='', tone='poetic', language='en')))\n"
    )
    outputs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        outputs.add(result.stdout)
    assert len(outputs) == 1
    assert outputs.pop().rstrip("\n") == compose(
        make_request(evening="", tone="poetic", language="en")
    )


def test_tones_and_languages_give_different_text():
    texts = {
        (tone, language): compose(make_request(tone=tone, language=language))
        for tone in TONES
        for language in ("en", "ja")
    }
    assert len(set(texts.values())) == len(texts)


def test_different_days_read_differently():
    texts = {compose(make_request(date=f"2025-06-{day:02d}")) for day in range(1, 15)}
    assert len(texts) >= 3


def test_english_weaves_the_notes_into_sentences():
    text = compose(make_request(morning="Went for a run by the river", tone="plain"))
    assert "went for a run by the river" in text
    assert "I went for a run by the river." in text
    assert "lunch with Aiko" in text
    assert "read a book on the sofa" in text
    assert len(text.split()) > 25


@pytest.mark.parametrize("tone", TONES)
def test_english_entry_has_paragraphs_and_keeps_the_words(tone):
    text = compose(make_request(tone=tone, notes="Aiko came over later"))
    paragraphs = text.split("\n\n")
    # morning, afternoon, evening, other notes, closing
    assert len(paragraphs) == 5
    assert "ran by the river" in paragraphs[0]
    assert "lunch with Aiko" in paragraphs[1]
    assert "read a book on the sofa" in paragraphs[2]
    assert "Aiko came over later" in paragraphs[3]
    assert not JA_CHARS.search(text)
    assert text == text.strip()


@pytest.mark.parametrize("tone", TONES)
def test_japanese_is_japanese(tone):
    text = compose(ja_request(tone=tone))
    assert JA_CHARS.search(text)
    assert not re.search(r"[A-Za-z]", text), text  # no English template words
    assert "川沿いを走った" in text
    assert "愛子とランチ" in text
    assert "ソファで本を読んだ" in text
    assert "朝" in text
    assert "午後" in text or "昼過ぎ" in text
    assert len(text.split("\n\n")) == 4
    assert text.endswith(("。", "！", "？"))


def test_japanese_style_is_consistent_per_tone():
    warm = compose(ja_request(tone="warm"))
    assert "です" in warm or "ます" in warm
    assert "川沿いを走ったんです。" in warm
    for tone in ("plain", "poetic", "reflective", "humorous"):
        text = compose(ja_request(tone=tone))
        assert "です" not in text and "ます" not in text, (tone, text)


def test_notes_in_the_other_language_are_quoted_as_given():
    english = compose(
        make_request(morning="ran by the river / 川沿いを走った", afternoon="愛子とランチ")
    )
    assert "ran by the river" in english
    assert "“川沿いを走った”" in english
    assert "“愛子とランチ”" in english

    japanese = compose(ja_request(morning="ran by the river / 川沿いを走った"))
    assert "川沿いを走った" in japanese
    assert "「ran by the river」" in japanese


@pytest.mark.parametrize("tone", TONES)
@pytest.mark.parametrize("date", ["2025-06-01", "2025-06-02", "2025-06-03", "not a date"])
def test_empty_evening_is_left_out(tone, date):
    english = compose(make_request(tone=tone, date=date, evening=""))
    assert len(english.split("\n\n")) == 3  # morning, afternoon, closing
    assert "evening" not in english.lower()
    japanese = compose(ja_request(tone=tone, date=date, evening="  "))
    assert len(japanese.split("\n\n")) == 3
    assert "夜" not in japanese


def test_only_some_sections():
    text = compose(make_request(morning="", afternoon="", evening="", notes="baked bread"))
    assert "baked bread" in text
    assert "morning" not in text.lower() and "afternoon" not in text.lower()
    assert len(text.split("\n\n")) == 2


@pytest.mark.parametrize("language", ["en", "ja"])
@pytest.mark.parametrize("tone", TONES)
def test_quiet_day_when_everything_is_empty(language, tone):
    text = compose(
        make_request(
            morning="", afternoon=" ", evening="\n", notes="", tone=tone, language=language
        )
    )
    assert text.strip()
    assert len(text.split("\n\n")) == 2


def test_whitespace_is_normalised_and_text_is_not_escaped():
    text = compose(
        make_request(
            morning="  ran   by\tthe\u3000river  \n\n", afternoon="<b>cake</b> & tea", evening=""
        )
    )
    assert "ran by the river" in text
    assert "<b>cake</b> & tea" in text
    assert "&amp;" not in text
    assert "  " not in text and "\t" not in text and "\u3000" not in text


def test_unknown_tone_and_language_fall_back():
    text = compose(make_request(tone="sarcastic", language="fr"))
    assert text == compose(make_request(tone="plain", language="en"))


# --- grammar, variety ------------------------------------------------------------------------


@pytest.mark.parametrize("tone", TONES)
def test_a_noun_phrase_note_gets_its_article_and_loses_its_capital(tone):
    text = compose(make_request(afternoon="Long meeting about the Q4 roadmap", tone=tone))
    assert "a long meeting about the Q4 roadmap." in text, text
    assert "Long meeting" not in text


@pytest.mark.parametrize(
    ("note", "written"),
    [
        ("Dentist appointment", "a dentist appointment."),
        ("meeting with the team,", "a meeting with the team."),
        ("Q4 planning, lots of emails", "Q4 planning and lots of emails."),
        ("coffee", "coffee."),
        ("Sam's birthday party", "Sam's birthday party."),
        ("emails", "emails."),
    ],
)
def test_noun_phrases_read_as_sentences(note, written):
    text = compose(make_request(morning=note, tone="plain"))
    assert written in text, text
    assert ",." not in text and " a a " not in text


def test_a_note_written_as_a_plain_verb_is_told_in_the_past():
    text = compose(make_request(morning="Walk in the park", evening="call mum", tone="plain"))
    assert "I walked in the park." in text, text
    assert "I called mum." in text, text
    assert "On my list" not in text


def test_a_list_of_things_done_is_joined_with_and():
    text = compose(make_request(evening="Cooked pasta with Sam, watched a movie", tone="plain"))
    assert "I cooked pasta with Sam and watched a movie." in text, text


@pytest.mark.parametrize("language", ["en", "ja"])
def test_other_notes_alone_do_not_add_to_nothing(language):
    note = "walked to the shop" if language == "en" else "散歩した"
    for tone in TONES:
        text = compose(
            make_request(
                morning="", afternoon="", evening="", notes=note, tone=tone, language=language
            )
        )
        assert note in text
        for word in ("also", "Besides", "One more thing", "ほかに", "それから"):
            assert word not in text, (tone, text)


@pytest.mark.parametrize("language", ["en", "ja"])
def test_a_regeneration_reads_differently_and_the_same_attempt_reads_the_same(language):
    request = make_request if language == "en" else ja_request
    texts = {compose(request(variant=str(n))) for n in range(1, 6)}
    assert len(texts) >= 3
    assert compose(request(variant="7")) == compose(request(variant="7"))
    assert compose(request(variant="")) == compose(request())


# --- streaming ---------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("language", ["en", "ja"])
async def test_stream_joins_to_compose_and_finishes_last(language):
    request = make_request(language=language) if language == "en" else ja_request()
    items = await collect(OfflineWriter(delay=0), request)
    *pieces, finish = items
    assert isinstance(finish, Finish)
    assert all(isinstance(piece, str) and piece for piece in pieces)
    assert "".join(pieces) == compose(request)
    assert len(pieces) > 20
    assert finish.reason == "stop"
    usage = finish.usage
    assert usage is not None
    assert usage.completion_tokens == len(pieces)
    assert usage.prompt_tokens is not None and usage.prompt_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


@pytest.mark.asyncio
async def test_english_streams_word_by_word():
    request = make_request(morning="ran by the river / 川沿いを走った")
    pieces = [p for p in await collect(OfflineWriter(delay=0), request) if isinstance(p, str)]
    for piece in pieces:
        assert re.fullmatch(r"\S+\s*", piece), repr(piece)
    assert len(pieces) == len(compose(request).split())


@pytest.mark.asyncio
async def test_japanese_streams_in_short_runs():
    request = ja_request(morning="ran by the river / 川沿いを走った")
    pieces = [p for p in await collect(OfflineWriter(delay=0), request) if isinstance(p, str)]
    assert all(1 <= len(piece) <= 3 for piece in pieces)
    assert "".join(pieces) == compose(request)


@pytest.mark.parametrize(
    "text",
    ["", "one", "two words", "a\n\nb  c ", "  leading", "今日は、いい日だった。\n\n明日も。"],
)
@pytest.mark.parametrize("language", ["en", "ja"])
def test_split_pieces_covers_the_text(text, language):
    pieces = split_pieces(text, language)
    assert "".join(pieces) == text
    assert all(pieces)
    if language == "ja":
        assert all(1 <= len(p) <= 3 for p in pieces)


@pytest.mark.asyncio
async def test_long_notes_are_not_cut_off():
    request = make_request(morning="ran by the river " * 100, max_tokens=10)
    items = await collect(OfflineWriter(delay=0), request)
    assert "".join(i for i in items if isinstance(i, str)) == compose(request)
    assert isinstance(items[-1], Finish) and items[-1].reason == "stop"


@pytest.mark.asyncio
async def test_stream_is_paced():
    delay = 0.01
    request = make_request(evening="", afternoon="")
    count = len(split_pieces(compose(request), "en"))
    started = time.monotonic()
    items = await collect(OfflineWriter(delay=delay), request)
    elapsed = time.monotonic() - started
    assert len(items) == count + 1
    assert elapsed >= 0.5 * count * delay


@pytest.mark.asyncio
async def test_zero_delay_still_yields_control():
    ticks = 0
    stop = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    items = await collect(OfflineWriter(delay=0), make_request())
    stop.set()
    await task
    assert ticks - before >= len(items) // 2


@pytest.mark.asyncio
async def test_aclose_mid_stream_stops_it():
    stream = OfflineWriter(delay=0.01).stream(make_request())
    first = [await anext(stream) for _ in range(3)]
    assert all(isinstance(piece, str) for piece in first)
    await stream.aclose()
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


@pytest.mark.asyncio
async def test_cancelling_the_consumer_stops_it():
    received: list[str | Finish] = []

    async def consume():
        async for item in OfflineWriter(delay=0.02).stream(make_request()):
            received.append(item)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    count = len(received)
    assert 0 < count < 20
    assert not any(isinstance(item, Finish) for item in received)
    await asyncio.sleep(0.1)
    assert len(received) == count


@pytest.mark.parametrize(
    "note", ["本を読んだ", "泳いだ", "静か", "楽しかった", "雨だった", "カフェへ", "散歩"]
)
@pytest.mark.parametrize("tone", TONES)
def test_japanese_keeps_the_words_in_every_style(note, tone):
    text = compose(ja_request(afternoon=note, tone=tone))
    assert note in text
    assert "へでした" not in text and "んなんです" not in text
