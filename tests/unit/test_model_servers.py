"""The model servers people run, with Nikki's default settings: the real openai client against
the scripted server speaking as llama-cpp-python, Ollama, vLLM or LM Studio, through the whole
socket path (start → deltas → done, saved).

Only what a newcomer sets is set: OPENAI_BASE_URL (and DIARY_WRITER back to its default, which
the test run's environment sets to the offline writer)."""

from __future__ import annotations

import dataclasses
import os

import pytest
import pytest_asyncio

from diaries.models import DailyUsage, DiaryEntry, Generation
from tests.support.openai_script import request_limit
from tests.support.openai_server import PROFILES, Script, ScriptedOpenAIServer

pytestmark = [pytest.mark.wire, pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

SERVERS = sorted(PROFILES)
# Text with what each server's JSON writes its own way: non-ASCII, HTML characters, quotes.
TOKENS = ("今日は", " a walk", " by the river", " & <tea>", ' "at five"', ".")
RUNAWAY = ("On", " and", " on", " the", " model", " wrote", ".")
# The knobs whose defaults this file proves; the test run must not set them.
KNOBS = ("OPENAI_API_KEY", "OPENAI_MAX_TOKENS_PARAM", "DIARY_MAX_TOKENS", "DIARY_MAX_TEXT_CHARS")


@pytest_asyncio.fixture
async def model_server(request, settings):
    """The scripted server speaking as `request.param`, and the settings a newcomer writes."""
    if set_here := [name for name in KNOBS if name in os.environ]:
        pytest.fail(f"the environment sets {set_here}: these tests prove the defaults")
    profile = PROFILES[request.param]
    if profile.ping_seconds:  # pings between the tokens, not every 15 s
        profile = dataclasses.replace(profile, ping_seconds=0.005)
    async with ScriptedOpenAIServer(profile=profile) as server:
        settings.DIARY_WRITER = "auto"  # the default (the test run sets "offline")
        settings.OPENAI_API_KEY = ""  # the default
        settings.OPENAI_BASE_URL = server.base_url
        yield server


async def write(ws, entry) -> tuple[dict, str]:
    """Ask for the entry; the `done` frame and the text the deltas built."""
    await ws.send({"action": "generate", "entry": entry.pk})
    started = await ws.until("started", timeout=5)
    done = await ws.until("done", timeout=20)
    deltas = [f for f in ws.frames if f["type"] == "delta" and f["entry"] == entry.pk]
    assert started["entry"] == entry.pk
    assert [f["seq"] for f in deltas] == list(range(1, len(deltas) + 1))
    return done, "".join(f["text"] for f in deltas)


@pytest.mark.parametrize("model_server", SERVERS, indirect=True)
async def test_an_entry_is_written_and_saved_with_the_default_settings(
    model_server, socket_for, user, entry
):
    model_server.set_script(Script(tokens=TOKENS, tokens_per_second=400, ttft=0.03))
    ws = await socket_for(user)

    done, streamed = await write(ws, entry)

    assert done["status"] == "done", ws.frames
    assert streamed == done["text"] == "".join(TOKENS)
    saved = await DiaryEntry.objects.aget(pk=entry.pk)
    assert (saved.status, saved.text, saved.writer) == ("done", "".join(TOKENS), "openai")
    [request] = model_server.requests
    assert request_limit(model_server.profile, request.body) == 900  # the server read the limit


@pytest.mark.parametrize("model_server", SERVERS, indirect=True)
async def test_usage_a_server_does_not_send_is_unknown_and_the_quota_still_counts(
    model_server, socket_for, user, entry
):
    model_server.set_script(Script(tokens=TOKENS, tokens_per_second=400))
    ws = await socket_for(user)

    done, _ = await write(ws, entry)

    assert done["status"] == "done", ws.frames
    generation = await Generation.objects.aget(entry=entry)
    usage = await DailyUsage.objects.aget(user=user)
    assert usage.generations == 1
    if model_server.profile.usage == "never":
        assert done["usage"] is None
        assert (generation.prompt_tokens, generation.total_tokens) == (None, None)
        assert (usage.tokens, usage.unknown_usage_generations) == (0, 1)
    else:
        assert done["usage"]["completion_tokens"] == len(TOKENS)
        assert generation.total_tokens == done["usage"]["total_tokens"] > len(TOKENS)
        assert (usage.tokens, usage.unknown_usage_generations) == (generation.total_tokens, 0)


@pytest.mark.parametrize("model_server", SERVERS, indirect=True)
async def test_a_model_that_never_stops_ends_at_the_length_limit(
    model_server, socket_for, user, entry
):
    model_server.set_script(Script(tokens=RUNAWAY, runaway=True, tokens_per_second=4000))
    ws = await socket_for(user)

    done, streamed = await write(ws, entry)

    expected = "".join(RUNAWAY[i % len(RUNAWAY)] for i in range(900))  # DIARY_MAX_TOKENS
    assert (done["status"], done["finish_reason"]) == ("done", "length"), ws.frames[-3:]
    assert streamed == done["text"] == expected
    saved = await DiaryEntry.objects.aget(pk=entry.pk)
    assert (saved.status, saved.text) == ("done", expected)
    await model_server.wait_ended(timeout=3)
    [request] = model_server.requests
    assert request.completed and request.chunks_sent == 900


@pytest.mark.parametrize("model_server", ["llama-cpp-python", "ollama"], indirect=True)
async def test_a_server_ignoring_the_limit_is_stopped_by_the_writer_and_closed(
    model_server, socket_for, user, entry, settings
):
    # OpenAI's own parameter name, which these servers do not read: the writer's own count of
    # DIARY_MAX_TOKENS content chunks ends the entry, and the upstream stream is closed.
    settings.OPENAI_MAX_TOKENS_PARAM = "max_completion_tokens"
    model_server.set_script(Script(tokens=RUNAWAY, runaway=True, tokens_per_second=4000))
    ws = await socket_for(user)

    done, streamed = await write(ws, entry)

    expected = "".join(RUNAWAY[i % len(RUNAWAY)] for i in range(900))
    assert (done["status"], done["finish_reason"]) == ("done", "length"), ws.frames[-3:]
    assert streamed == done["text"] == expected
    assert (await DiaryEntry.objects.aget(pk=entry.pk)).text == expected
    request = await model_server.wait_ended(timeout=3)
    assert request.client_disconnected and not request.completed
    assert request_limit(model_server.profile, request.body) is None


@pytest.mark.parametrize("model_server", ["ollama"], indirect=True)
async def test_a_runaway_text_stops_at_the_longest_entry_a_person_may_keep(
    model_server, socket_for, user, entry, settings
):
    settings.OPENAI_MAX_TOKENS_PARAM = "max_completion_tokens"  # not read by this server
    settings.DIARY_MAX_TEXT_CHARS = 1000
    word = "x" * 49 + " "  # 50 characters a chunk: 20 chunks reach the limit
    model_server.set_script(Script(tokens=(word,), runaway=True, tokens_per_second=2000))
    ws = await socket_for(user)

    done, streamed = await write(ws, entry)

    assert (done["status"], done["finish_reason"]) == ("done", "length")
    assert streamed == done["text"] == word * 20
    request = await model_server.wait_ended(timeout=3)
    assert request.client_disconnected and not request.completed
