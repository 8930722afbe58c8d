"""The OpenAI writer against servers that ignore the limit they are sent: it stops reading at
the request's limit, closes the upstream response (the scripted server sees the client go
away), and finishes with "length"; against servers that honour it, nothing is cut short."""

from __future__ import annotations

import pytest

from diaries.writers.base import Finish, WriterRequest
from diaries.writers.openai import OpenAIWriter
from tests.support.openai_server import Script, ScriptedOpenAIServer

pytestmark = [pytest.mark.wire, pytest.mark.asyncio]

RUNAWAY = ("on", " and", " on", ". ")


def request(*, max_tokens: int = 50, max_chars: int | None = None) -> WriterRequest:
    return WriterRequest(
        date="2026-05-01",
        morning="tea",
        afternoon="a walk",
        evening="",
        notes="",
        tone="warm",
        language="en",
        messages=[{"role": "user", "content": "Morning: tea. Afternoon: a walk."}],
        max_tokens=max_tokens,
        max_chars=max_chars,
    )


async def run(server: ScriptedOpenAIServer, req: WriterRequest, **config) -> tuple[str, Finish]:
    writer = OpenAIWriter.from_config(
        api_key=None, base_url=server.base_url, model="m", max_retries=0, timeout=5, **config
    )
    try:
        items = [item async for item in writer.stream(req)]
    finally:
        await writer.aclose()
    *pieces, finish = items
    assert isinstance(finish, Finish)
    return "".join(pieces), finish


@pytest.mark.parametrize("parser", ["raw", "stock"])
@pytest.mark.parametrize("http", ["aiohttp", "httpx"])
async def test_a_server_ignoring_the_limit_is_closed_after_max_tokens_chunks(parser, http):
    script = Script(tokens=RUNAWAY, runaway=True, tokens_per_second=2000)
    async with ScriptedOpenAIServer(script, profile="ollama") as server:
        text, finish = await run(
            server,
            request(max_tokens=50),
            max_tokens_param="max_completion_tokens",  # a field Ollama does not read
            parser=parser,
            http=http,
        )
        record = await server.wait_ended(timeout=3)

    assert text == "".join(RUNAWAY[i % 4] for i in range(50))
    assert finish.reason == "length" and finish.usage is None
    assert record.client_disconnected and not record.completed  # the connection was closed


@pytest.mark.parametrize("parser", ["raw", "stock"])
async def test_a_runaway_text_is_cut_at_max_chars_and_the_upstream_closed(parser):
    script = Script(tokens=("abcdefghij",), runaway=True, tokens_per_second=2000)
    async with ScriptedOpenAIServer(script, profile="lm-studio") as server:
        text, finish = await run(
            server,
            request(max_tokens=10_000, max_chars=95),
            max_tokens_param="max_completion_tokens",
            parser=parser,
        )
        record = await server.wait_ended(timeout=3)

    assert text == ("abcdefghij" * 10)[:95]
    assert finish.reason == "length"
    assert record.client_disconnected and not record.completed


@pytest.mark.parametrize("parser", ["raw", "stock"])
async def test_a_server_honouring_the_limit_finishes_itself_and_its_usage_is_read(parser):
    script = Script(tokens=RUNAWAY, runaway=True)
    async with ScriptedOpenAIServer(script, profile="vllm") as server:
        text, finish = await run(server, request(max_tokens=50), parser=parser)
        record = await server.wait_ended(timeout=3)

    assert text == "".join(RUNAWAY[i % 4] for i in range(50))
    assert finish.reason == "length"
    assert finish.usage is not None and finish.usage.completion_tokens == 50
    assert record.completed and not record.client_disconnected


@pytest.mark.parametrize(
    ("profile", "sent"),
    [("openai", "max_tokens"), ("llama-cpp-python", "max_tokens"), ("ollama", "max_tokens")],
)
async def test_auto_sends_max_tokens_to_a_server_at_another_base_url(profile, sent):
    async with ScriptedOpenAIServer(Script(), profile=profile) as server:
        await run(server, request())
    body = server.requests[0].body
    assert body[sent] == 50 and "max_completion_tokens" not in body


async def test_auto_sends_max_completion_tokens_to_openai():
    writer = OpenAIWriter.from_config(api_key="sk-not-used", model="gpt-4o-mini")
    try:
        assert writer.max_tokens_param == "max_completion_tokens"
    finally:
        await writer.aclose()
