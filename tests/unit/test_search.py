"""diaries.search on its own: how a query finds and orders rows of text, with no database."""

# ruff: noqa: RUF001  (full-width letters and digits are what these tests are about)

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diaries import search
from diaries.search import Corpus, CorpusCache, Term, document, normalize, rank, stem, terms_of


def rows(*texts: str, notes: str = "") -> list[tuple]:
    """Rows as the selector hands them over: (id, text, morning, afternoon, evening, notes),
    newest first; ids count from 1."""
    return [(pk, text, "", "", "", notes) for pk, text in enumerate(texts, start=1)]


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("fireworks", "We watched the FIREWORKS."),
        ("テニス", "ﾃﾆｽをした"),  # half-width katakana
        ("ﾃﾆｽ", "テニスをした"),
        ("abc", "ＡＢＣの練習"),  # full-width Latin
        ("ｒｉｖｅｒ", "the river"),
        ("strasse", "Die Straße war leer."),  # casefold: ß is ss
        ("川沿い", "今朝は川沿いを走った。"),  # inside a Japanese sentence, which has no spaces
        ("１００％", "We got 100% done."),
    ],
)
def test_a_term_is_found_whatever_its_case_and_width(query, text):
    assert rank(rows(text), query) == [1]


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("walking", "I walked along the canal."),
        ("walking", "She walks the dog."),
        ("walked", "Walking home in the rain."),
        ("happy", "Such happiness today."),
        ("cries", "The baby cried all night."),
        ("dying", "The light was dying, then it died."),
        ("possibility", "It is possible."),
    ],
)
def test_an_english_word_finds_other_forms_of_it(query, text):
    assert rank(rows(text), query) == [1]


def test_a_stem_is_not_a_substring_match():
    assert rank(rows("A walkie-talkie.", "Sidewalks."), "walking") == []


def test_every_term_must_be_found_somewhere_in_the_entry():
    found = rank(rows("Lunch with Aiko.", "Lunch alone.", notes=""), "aiko lunch")

    assert found == [1]


def test_a_term_may_be_found_in_the_notes_and_another_in_the_text():
    assert rank([(1, "Lunch at noon.", "", "", "", "with Aiko")], "aiko lunch") == [1]


def test_a_quoted_phrase_is_one_term():
    texts = rows("The river was high by the bridge.", "By the river bridge we sat.")

    assert rank(texts, '"river bridge"') == [2]
    assert rank(texts, "river bridge") == [1, 2]


def test_more_fields_and_more_occurrences_rank_first_then_the_newest():
    found = rank(
        [
            (1, "Rain.", "", "", "", ""),  # newest, one field, once
            (2, "Rain, rain, rain.", "", "", "", ""),  # one field, three times
            (3, "Rain.", "rain", "", "", ""),  # two fields
            (4, "Rain.", "", "", "", ""),  # oldest, as 1
        ],
        "rain",
    )

    assert found == [3, 2, 1, 4]


def test_more_terms_found_in_more_fields_rank_first():
    found = rank(
        [
            (1, "Tea with Aiko.", "", "", "", ""),
            (2, "Tea with Aiko.", "tea", "", "", "aiko"),
        ],
        "tea aiko",
    )

    assert found == [2, 1]


def test_an_empty_or_blank_query_finds_nothing():
    assert rank(rows("Anything."), "") == []
    assert rank(rows("Anything."), " \u3000 ") == []  # a full-width space is a space


def test_wildcards_and_an_unbalanced_quote_are_plain_characters():
    texts = rows("Plain text.", "We got 100% done.", 'He said "hi')

    assert rank(texts, "%") == [2]
    assert rank(texts, "_") == []
    assert rank(texts, '"hi') == [3]


def test_terms_are_normalized_deduplicated_and_limited():
    assert [t.text for t in terms_of("Rain RAIN ｒａｉｎ  wind")] == ["rain", "wind"]
    assert len(terms_of(" ".join(f"w{i}" for i in range(50)))) == 10


def test_normalize_folds_width_and_case():
    assert normalize("ＡＢＣ ｶﾀｶﾅ Straße") == "abc カタカナ strasse"


@pytest.mark.parametrize(
    "words",
    [
        "happy happiness",
        "cry cries cried crying",
        "die dying died",
        "lie lying lied",
        "tie tying tied",
        "sky skies",
        "possible possibly possibility",
        "hope hoping hoped hopes",
        "agree agreed agreeing",
        "organize organizing organization",
        "visible visibility",
    ],
)
def test_every_form_of_a_word_finds_every_other(words):
    """The stem search reads only words starting with a prefix of the stem: Porter2's irregular
    cases (y → i, -bility → -bl, dying → die) must still be found."""
    forms = words.split()
    for query in forms:
        for word in forms:
            assert Term.of(query).found_in(word), (query, word, stem(query), stem(word))


@pytest.mark.parametrize(
    "text",
    [
        "ｶﾞｷﾞｸﾞ ＡＢＣ か\u3099 ①㍻ 😀 Straße ﬁ",
        "今日は１２時にｶﾌｪで会った。",
        "\u3099 a mark first",
        "ABCｶ",
        "한국어 \u1100\u1161",
    ],
)
def test_normalize_is_nfkc_then_casefold(text):
    import unicodedata

    assert normalize(text) == unicodedata.normalize("NFKC", text).casefold()


def test_the_cache_builds_once_per_fingerprint_and_forgets_the_oldest():
    cache, built = CorpusCache(), []

    def build(name):
        return lambda: built.append(name) or Corpus.of(rows(name))

    first = cache.get(1, "v1", build("a"), seconds=300, size=2)
    assert cache.get(1, "v1", build("b"), seconds=300, size=2) is first
    cache.get(1, "v2", build("c"), seconds=300, size=2)  # an entry changed: built again
    cache.get(2, "v1", build("d"), seconds=300, size=2)
    cache.get(3, "v1", build("e"), seconds=300, size=2)  # over size: person 1 is forgotten
    cache.get(1, "v2", build("f"), seconds=300, size=2)

    assert built == ["a", "c", "d", "e", "f"]


def test_the_cache_keeps_nothing_past_its_time_or_when_off():
    cache, built = CorpusCache(), []

    def build():
        built.append(1)
        return Corpus.of(rows("x"))

    cache.get(1, "v", build, seconds=0.05, size=4)
    time.sleep(0.1)
    cache.get(2, "v", build, seconds=0.05, size=4)  # any search drops what has expired
    assert list(cache.items) == [2]
    cache.get(3, "v", build, seconds=0, size=4)
    cache.get(3, "v", build, seconds=0, size=4)

    assert len(built) == 4 and 3 not in cache.items


def test_a_changed_diary_is_refreshed_from_the_rows_written_since_not_read_again():
    cache = CorpusCache()
    kept = cache.get(
        1, "v1", lambda: Corpus.of([(3, "rain"), (2, "sun"), (1, "snow")]), seconds=300, size=2
    )
    refreshed_from = []

    def refresh(corpus, fingerprint):
        refreshed_from.append(fingerprint)
        # entry 2 edited, entry 1 deleted, entry 4 written (newest)
        return corpus.updated([4, 3, 2], [(2, document(["Hail"])), (4, document(["fog"]))])

    def build():
        raise AssertionError("the whole diary was read again")

    now = cache.get(1, "v2", build, seconds=300, size=2, refresh=refresh)

    assert refreshed_from == ["v1"] and kept is not now
    assert now.ids == [4, 3, 2] and now.rows == ["fog", "rain", "hail"]
    assert now.rank("hail") == [2] and now.rank("snow") == []


def test_a_refresh_that_misses_a_row_builds_the_whole_corpus_again():
    cache, built = CorpusCache(), []
    cache.get(1, "v1", lambda: Corpus.of([(1, "rain")]), seconds=300, size=2)

    def build():
        built.append(1)
        return Corpus.of([(2, "sun"), (1, "rain")])

    now = cache.get(1, "v2", build, seconds=300, size=2, refresh=lambda c, f: c.updated([2, 1], []))

    assert built == [1] and now.ids == [2, 1]


# --- two words in any order; where they are, marked (issue 17) ----------------------------------


@pytest.mark.parametrize(
    ("query", "text", "notes"),
    [
        ("Ramen miso", "Miso ramen for lunch.", ""),
        ("miso ramen", "Ramen, then a bowl of miso soup.", ""),
        ("ramen miso", "A long walk.", "ramen at noon, MISO at night"),
        ("ラーメン 味噌", "昼に味噌ラーメンを食べた。", ""),
        ("味噌 ラーメン", "ﾗｰﾒﾝを食べた。", "味噌"),  # half-width katakana in the text
    ],
)
def test_both_words_are_found_in_any_order_english_and_japanese(query, text, notes):
    diary = [(1, text, "", "", "", notes), (2, "Ramen only. ラーメンだけ。", "", "", "", "")]
    assert rank(diary, query) == [1]


def test_every_match_of_every_term_is_marked_in_the_original_characters():
    excerpt = search.excerpt(
        [("text", "ﾗｰﾒﾝ and MISO; ramen again, then Walked home.")], "ラーメン miso walking"
    )

    assert excerpt.field == "text"
    assert [piece for piece, found in excerpt.pieces if found] == ["ﾗｰﾒﾝ", "MISO", "Walked"]
    assert "".join(piece for piece, _found in excerpt.pieces) == (
        "ﾗｰﾒﾝ and MISO; ramen again, then Walked home."
    )


def test_the_excerpt_comes_from_the_field_holding_the_most_terms():
    excerpt = search.excerpt(
        [("text", "Ramen at noon."), ("morning", "miso ramen with Ken"), ("notes", "")],
        "ramen miso",
    )

    assert excerpt.field == "morning"
    assert [piece for piece, found in excerpt.pieces if found] == ["miso", "ramen"]


def test_a_long_text_is_cut_around_the_first_match():
    text = "word " * 100 + "ramen " + "after " * 100

    excerpt = search.excerpt([("text", text)], "ramen", width=60)

    shown = "".join(piece for piece, _found in excerpt.pieces)
    assert shown.startswith("…") and shown.endswith("…")
    assert len(shown) <= 62 and ("ramen", True) in excerpt.pieces


def test_no_excerpt_where_nothing_is_found():
    assert search.excerpt([("text", "Tea."), ("notes", "")], "ramen") is None


# --- Ranking, against its definition written out plainly ---------------------------------------


def _found_by_stem(term: Term, value: str) -> bool:
    """Whether a word of `value` (a run of a-z not preceded by a letter, digit or _) has the
    term's stem."""
    at = 0
    while at < len(value):
        if "a" <= value[at] <= "z" and (
            at == 0 or not (value[at - 1].isalnum() or value[at - 1] == "_")
        ):
            end = at
            while end < len(value) and "a" <= value[end] <= "z":
                end += 1
            if stem(value[at:end]) == term.stem:
                return True
            at = end
        else:
            at += 1
    return False


def _ranked_by_definition(rows_: list[tuple], query: str) -> list[int]:
    """The module docstring's rule, field by field: every term found in the text or the notes
    (as a substring, or an English word by its stem); the most (term, part) pairs, then the most
    occurrences (a word found only by its stem counts once), then the newest."""
    terms = terms_of(query)
    if not terms:
        return []
    scored = []
    for pk, text, *notes in rows_:
        parts = [[normalize(text)], [normalize(value) for value in notes]]
        pairs = occurrences = 0
        for term in terms:
            counts = [sum(value.count(term.text) for value in part) for part in parts]
            found = [
                count > 0 or (term.stem is not None and any(_found_by_stem(term, v) for v in part))
                for count, part in zip(counts, parts, strict=True)
            ]
            if not any(found):
                break
            pairs += sum(found)
            occurrences += sum(counts) or 1
        else:
            scored.append((pk, pairs, occurrences))
    scored.sort(key=lambda hit: (hit[1], hit[2]), reverse=True)
    return [pk for pk, _pairs, _occurrences in scored]


_WORDS = [
    *("walk", "walks", "Walked", "sidewalks", "9walks", "_walk", "x-walking", "happy", "happiness"),
    *("the", "THE", "theme", "a", "rain", "rainy", "川", "川沿い", "ﾃﾆｽ", "テニス"),
]
# A field never holds NUL (forms refuse it, PostgreSQL cannot store it); a query may.
_text = st.lists(st.sampled_from([*_WORDS, " ", ", ", "。"]), max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(_text, _text, _text, _text, _text), min_size=1, max_size=6),
    st.lists(st.sampled_from([*_WORDS, '"the walk"', "\0", "a\0the"]), min_size=1, max_size=3).map(
        " ".join
    ),
)
def test_ranking_follows_its_definition_field_by_field(fields, query):
    rows_ = [(pk, *values) for pk, values in enumerate(fields, start=1)]
    assert rank(rows_, query) == _ranked_by_definition(rows_, query)
