"""Word differences between two versions' texts."""

from __future__ import annotations

from diaries.worddiff import Piece, word_diff


def test_a_changed_word_is_removed_then_added_and_the_rest_kept():
    assert word_diff("The cat sat.", "The dog sat.") == [
        Piece("same", "The "),
        Piece("removed", "cat"),
        Piece("added", "dog"),
        Piece("same", " sat."),
    ]


def test_the_pieces_rebuild_both_texts():
    old, new = "one two  three\nfour", "zero one three\nfour five"
    pieces = word_diff(old, new)
    assert "".join(p.text for p in pieces if p.op != "added") == old
    assert "".join(p.text for p in pieces if p.op != "removed") == new


def test_japanese_is_compared_character_by_character():
    assert word_diff("今日は雨だった。", "今日は晴れだった。") == [
        Piece("same", "今日は"),
        Piece("removed", "雨"),
        Piece("added", "晴れ"),
        Piece("same", "だった。"),
    ]


def test_identical_texts_have_no_changes():
    assert [p.op for p in word_diff("Same words.", "Same words.")] == ["same"]


def test_a_changed_run_of_words_is_one_removal_and_one_addition():
    assert word_diff("I ran a b c home.", "I ran x y z home.") == [
        Piece("same", "I ran "),
        Piece("removed", "a b c"),
        Piece("added", "x y z"),
        Piece("same", " home."),
    ]
