"""Which field carries the answer's limit, and the writer's own count of chunks and characters."""

from __future__ import annotations

import pytest

from diaries.writers.limits import OutputLimit, max_tokens_param_for


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://api.openai.com/v1", "max_completion_tokens"),
        ("https://API.OpenAI.com/v1/", "max_completion_tokens"),
        ("http://127.0.0.1:8000/v1", "max_tokens"),  # llama-cpp-python
        ("http://localhost:11434/v1", "max_tokens"),  # Ollama
        ("http://vllm.internal:8000/v1", "max_tokens"),
        ("http://localhost:1234/v1", "max_tokens"),  # LM Studio
        ("https://api.openai.com.example.net/v1", "max_tokens"),  # not OpenAI's host
    ],
)
def test_auto_chooses_the_field_by_the_server(base_url, expected):
    assert max_tokens_param_for(base_url) == expected
    assert max_tokens_param_for(base_url, "") == expected


@pytest.mark.parametrize("choice", ["max_completion_tokens", "max_tokens"])
def test_a_named_field_is_used_whatever_the_server(choice):
    assert max_tokens_param_for("http://localhost:11434/v1", choice) == choice
    assert max_tokens_param_for("https://api.openai.com/v1", choice) == choice


def test_an_unknown_field_is_refused():
    with pytest.raises(ValueError, match="max_tokens_param"):
        max_tokens_param_for("https://api.openai.com/v1", "tokens")


def test_a_server_that_stops_at_the_limit_is_never_cut_short():
    limit = OutputLimit(max_chunks=3, max_chars=None)
    assert limit.take(["a", "b"]) == "ab"
    assert limit.take(["c"]) == "c"
    assert not limit.reached  # the third chunk is within the limit: its finish is still read


def test_the_chunk_past_the_limit_is_dropped_and_ends_the_answer():
    limit = OutputLimit(max_chunks=3, max_chars=None)
    assert limit.take(["a", "b", "c", "d", "e"]) == "abc"
    assert limit.reached and limit.chunks == 3


def test_text_past_the_character_limit_is_cut_at_the_limit():
    limit = OutputLimit(max_chunks=None, max_chars=10)
    assert limit.take(["12345", "678"]) == "12345678"
    assert not limit.reached
    assert limit.take(["90abc", "def"]) == "90"
    assert limit.reached and limit.chars == 10


def test_text_that_ends_exactly_at_the_character_limit_is_whole():
    limit = OutputLimit(max_chunks=None, max_chars=4)
    assert limit.take(["ab", "cd"]) == "abcd"
    assert not limit.reached
    assert limit.take(["e"]) == ""
    assert limit.reached


def test_no_limit_takes_everything():
    limit = OutputLimit(max_chunks=None, max_chars=None)
    assert limit.take(["x"] * 10_000) == "x" * 10_000
    assert not limit.reached
