"""Names kept from the model: replaced by placeholders in the notes, restored in the stream."""

# ruff: noqa: RUF001 — full-width forms here are intended.

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from diaries.pseudonyms import Restorer, parse_names, pseudonymise, restore

KEYS = ("morning", "afternoon", "evening", "notes")


def hide(names: list[str], **notes: str):
    fields = {"date": "2026-12-06", "tone": "warm", "language": "en", **dict.fromkeys(KEYS, "")}
    fields.update(notes)
    return pseudonymise(fields, names, keys=KEYS)


def streamed(restorer: Restorer, pieces: list[str]) -> str:
    return "".join(restorer.feed(piece) for piece in pieces) + restorer.end()


# --- replacing ------------------------------------------------------------------------------


def test_listed_names_become_numbered_placeholders_in_order_of_appearance():
    hidden = hide(["Kyoto", "Alice", "田中"], morning="Coffee with Alice in Kyoto.")
    hidden_more = hide(["Kyoto", "Alice", "田中"], morning="Alice", afternoon="田中さんと昼ごはん")
    assert hidden.fields["morning"] == "Coffee with [P1] in [P2]."
    assert hidden.names == {1: "Alice", 2: "Kyoto"}
    assert hidden.placeholders == ["[P1]", "[P2]"]
    assert hidden_more.fields["afternoon"] == "[P2]さんと昼ごはん"


def test_the_same_name_keeps_its_placeholder_across_sections_and_case():
    hidden = hide(["Alice"], morning="Alice called.", evening="Dinner with ALICE and alice.")
    assert hidden.fields["morning"] == "[P1] called."
    assert hidden.fields["evening"] == "Dinner with [P1] and [P1]."
    assert hidden.names == {1: "Alice"}


def test_latin_names_match_whole_words_only():
    hidden = hide(["Al", "Ann"], morning="Albert and Al met Anna; Al's cat saw Ann.")
    assert hidden.fields["morning"] == "Albert and [P1] met Anna; [P1]'s cat saw [P2]."


def test_a_latin_name_next_to_japanese_text_is_still_found():
    hidden = hide(["Alice"], morning="Aliceと京都へ行った")
    assert hidden.fields["morning"] == "[P1]と京都へ行った"


def test_japanese_names_match_anywhere():
    hidden = hide(["田中", "京都"], morning="田中さんと京都駅で会った。東京都ではない")
    assert hidden.fields["morning"] == "[P1]さんと[P2]駅で会った。東[P2]ではない"


def test_the_longest_name_wins_where_names_overlap():
    notes = "Alice  Smith and Alice in New\nYork"
    hidden = hide(["Alice", "Alice Smith", "New York"], morning=notes)
    assert hidden.fields["morning"] == "[P1] and [P2] in [P3]"
    assert hidden.names == {1: "Alice Smith", 2: "Alice", 3: "New York"}


def test_names_not_in_the_notes_take_no_placeholder_and_other_fields_are_untouched():
    hidden = hide(["Bob"], morning="Quiet day.", tone="Bob")
    assert hidden.names == {}
    assert hidden.fields["morning"] == "Quiet day."
    assert hidden.fields["tone"] == "Bob"


def test_a_placeholder_the_person_wrote_is_not_reused():
    hidden = hide(["Alice"], morning="Wrote [P1] and ［Ｐ２］ in a form for Alice.")
    assert hidden.fields["morning"] == "Wrote [P1] and ［Ｐ２］ in a form for [P3]."
    assert restore("[P1] [P3]", hidden.names) == "[P1] Alice"


def test_one_character_names_are_ignored():
    hidden = hide(["a", "林"], morning="a walk in 林檎 orchard")
    assert hidden.names == {} and hidden.fields["morning"] == "a walk in 林檎 orchard"


def test_parse_names_tidies_lines_and_drops_repeats():
    names = parse_names("  Alice \n\nalice\nMount   Fuji\n田中\r\n")
    assert names == ["Alice", "Mount Fuji", "田中"]


def test_names_are_matched_in_composed_unicode():
    decomposed = "Zoe\u0301"  # "Zoé" typed with a combining accent
    hidden = hide(["Zoé"], morning=f"Met {decomposed} today")
    assert hidden.fields["morning"] == "Met [P1] today"


# --- restoring ------------------------------------------------------------------------------

NAMES = {1: "Alice", 2: "Kyoto", 3: "田中"}


def test_restore_turns_known_placeholders_into_names_and_leaves_the_rest():
    text = "[P1] went to [P2] with [P3]さん; [P9], [P], [Px] and [P1 stay."
    restored = "Alice went to Kyoto with 田中さん; [P9], [P], [Px] and [P1 stay."
    assert restore(text, NAMES) == restored


def test_full_width_placeholders_are_restored():
    assert restore("［Ｐ３］さんと［P2］へ", NAMES) == "田中さんとKyotoへ"


def test_a_placeholder_split_one_character_per_piece_is_restored():
    text = "I met [P1] in [P2]."
    restorer = Restorer(NAMES)
    outputs = [restorer.feed(ch) for ch in text]
    assert "".join(outputs) + restorer.end() == "I met Alice in Kyoto."
    assert not any("[" in out or "P" in out for out in outputs)


def test_text_is_held_back_only_while_it_could_still_be_a_placeholder():
    restorer = Restorer(NAMES)
    assert restorer.feed("Hello [") == "Hello "
    assert restorer.feed("P") == ""
    assert restorer.feed("1") == ""
    assert restorer.feed("] and [x") == "Alice and [x"
    assert restorer.feed("[P12") == ""
    assert restorer.feed("34]") == "[P1234]"


def test_an_unfinished_placeholder_at_the_end_is_flushed_as_written():
    restorer = Restorer(NAMES)
    assert restorer.feed("The end [P") == "The end "
    assert restorer.end() == "[P"
    assert restorer.end() == ""


_ALPHABET = st.sampled_from([*"[]Pp1239a 田", "［", "］", "Ｐ"])
_WHOLE = st.sampled_from(["[P1]", "[P2]", "[P3]", "［Ｐ３］", "[P12]"])
_TEXT = st.lists(st.one_of(_ALPHABET, _WHOLE), max_size=60).map("".join)


@given(text=_TEXT, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=30))
def test_any_cut_of_the_model_output_into_pieces_restores_to_the_same_text(text, cuts):
    points = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    pieces = [text[a:b] for a, b in itertools.pairwise(points)]
    assert streamed(Restorer(NAMES), pieces) == restore(text, NAMES)


@given(text=_TEXT)
def test_one_character_per_piece_restores_to_the_same_text(text):
    assert streamed(Restorer(NAMES), list(text)) == restore(text, NAMES)


@given(
    words=st.lists(
        st.sampled_from(["Alice", "alice", "Kyoto", "田中", "田中さん", "と", ".", "Bob", "[P1]"]),
        max_size=30,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=20),
)
def test_a_model_that_copies_the_notes_gives_the_notes_back_with_listed_spellings(words, cuts):
    notes = " ".join(words)
    hidden = hide(["Alice", "Kyoto", "田中"], morning=notes)
    echoed = hidden.fields["morning"]
    assert not any(name in echoed.casefold() for name in ("alice", "kyoto", "田中"))
    points = sorted({0, len(echoed), *(c % (len(echoed) + 1) for c in cuts)})
    pieces = [echoed[a:b] for a, b in itertools.pairwise(points)]
    assert streamed(hidden.restorer(), pieces) == " ".join(
        "Alice" if word == "alice" else word for word in words
    )
