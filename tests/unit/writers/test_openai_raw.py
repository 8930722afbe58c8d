"""Wire tier: the OpenAI writer's raw SSE path (issue 5) against the stock stream it replaces.

The writer reads the body itself (`with_streaming_response`) instead of letting the openai client
build a pydantic model per chunk. These tests pin that the two paths give the same pieces, finish,
usage and errors, and that writers share one client per configuration and event loop. The SSE
reading alone: tests/unit/writers/test_sse.py.
"""

from __future__ import annotations

import asyncio

import pytest

from diaries.writers import openai as writer_module
from diaries.writers.base import Finish, WriterError, WriterRequest
from diaries.writers.openai import OpenAIWriter
from tests.support.openai_server import Script, ScriptedOpenAIServer
from tests.support.wire import boundaries, openai_server  # noqa: F401

pytestmark = pytest.mark.wire

KEY = "sk-test-VERY-SECRET-0123456789abcdef"
TOKENS = ["Dear", " diary", ",", " today", " I", " walked", " by", " the", " river", "."]


def request(max_tokens: int = 900) -> WriterRequest:
    return WriterRequest(
        date="2026-05-01",
        morning="coffee",
        afternoon="",
        evening="",
        notes="",
        tone="warm",
        language="en",
        messages=[{"role": "user", "content": "Write."}],
        max_tokens=max_tokens,
    )


async def collect(writer: OpenAIWriter, req: WriterRequest | None = None):
    pieces: list[str] = []
    finish: Finish | None = None
    error: WriterError | None = None
    try:
        async for item in writer.stream(req or request()):
            if isinstance(item, Finish):
                finish = item
            else:
                pieces.append(item)
    except WriterError as exc:
        error = exc
    return pieces, finish, error


WAYS = {  # name → (parser, HTTP transport)
    "raw": ("raw", "aiohttp"),  # what the app uses
    "raw-httpx": ("raw", "httpx"),
    "stock": ("stock", "httpx"),  # the openai client exactly as shipped
}


def writers(server: ScriptedOpenAIServer, **kw) -> dict[str, OpenAIWriter]:
    return {
        name: OpenAIWriter.from_config(
            api_key=KEY,
            base_url=server.base_url,
            model="m",
            timeout=kw.get("timeout", 5.0),
            connect_timeout=2.0,
            max_retries=kw.get("max_retries", 0),
            parser=parser,  # type: ignore[arg-type]
            http=http,  # type: ignore[arg-type]
        )
        for name, (parser, http) in WAYS.items()
    }


SCRIPTS = [
    Script(tokens=TOKENS),
    Script(tokens=TOKENS, chunk_size=3),
    Script(tokens=["日記", "を", "書く", "。"]),
    Script(tokens=TOKENS, finish_reason="length"),
    Script(tokens=TOKENS, done=False, abort_at_end=True),
    Script(tokens=TOKENS, done=False, usage=False),
    Script(tokens=TOKENS, cut_after=4),
    Script(tokens=TOKENS, finish_reason=None, usage=False, done=False),
    Script(tokens=TOKENS, stream_error={"message": f"boom {KEY}"}, stream_error_after=3),
    Script(tokens=TOKENS, stream_error={"message": 42}, stream_error_after=0),
    Script(tokens=TOKENS[:3], finish_reason="content_filter"),
    Script(status=401),
    Script(status=403),
    Script(status=404),
    Script(status=400, error_code="content_policy_violation"),
    Script(status=400),
    Script(status=429),
    Script(status=429, error_code="insufficient_quota"),
    Script(status=500),
    Script(status=503),
]


@pytest.mark.asyncio
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: repr(s)[:60])
async def test_raw_and_stock_parsers_agree(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    script: Script,
) -> None:
    openai_server.set_script(script)
    results, cuts = {}, {}
    for name, writer in writers(openai_server).items():
        pieces, finish, error = await collect(writer)
        results[name] = (
            "".join(pieces),
            finish,
            None if error is None else (error.code, error.status, error.message),
        )
        cuts[name] = boundaries(pieces)
        await writer.aclose()
    assert results["raw"] == results["raw-httpx"] == results["stock"]
    # The raw path may hand over the chunks of one network read as one piece, but it never
    # cuts a chunk.
    assert cuts["raw"] <= cuts["stock"] and cuts["raw-httpx"] <= cuts["stock"]


@pytest.mark.asyncio
async def test_slow_first_byte_times_out_the_same(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
) -> None:
    openai_server.set_script(Script(tokens=TOKENS, delay=2.0))
    codes = {}
    for name, writer in writers(openai_server, timeout=0.3).items():
        pieces, finish, error = await collect(writer)
        codes[name] = (pieces, finish, error and error.code)
        await writer.aclose()
    assert codes["raw"] == codes["raw-httpx"] == codes["stock"]
    assert codes["raw"] == (TOKENS[:1], None, "upstream_timeout")


@pytest.mark.asyncio
async def test_the_raw_path_reuses_the_connection_after_done(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
) -> None:
    openai_server.set_script(Script(tokens=TOKENS))
    for name in ("raw", "raw-httpx"):
        before = openai_server.connections
        writer = writers(openai_server)[name]
        for _ in range(3):
            pieces, finish, error = await collect(writer)
            assert error is None and "".join(pieces) == "".join(TOKENS) and finish is not None
        await writer.aclose()
        # drained after [DONE], back to the pool
        assert openai_server.connections - before == 1, name


@pytest.mark.asyncio
async def test_closing_the_raw_stream_closes_the_upstream(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
) -> None:
    openai_server.set_script(Script(tokens=TOKENS * 20, delay=0.02))
    writer = writers(openai_server)["raw"]
    gen = writer.stream(request())
    assert [await anext(gen) for _ in range(2)] == TOKENS[:2]
    await gen.aclose()
    record = await openai_server.wait_ended(0, timeout=2)
    assert record.client_disconnected and not record.completed
    await writer.aclose()


@pytest.mark.asyncio
async def test_writers_share_one_client_per_configuration(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(writer_module, "SHARED_IDLE_SECONDS", 0)  # closed with its last writer

    def make(**kw) -> OpenAIWriter:
        return OpenAIWriter.from_config(
            api_key=KEY, base_url=openai_server.base_url, model="m", max_retries=0, **kw
        )

    a, b = make(), make(temperature=0.2)
    other = make(timeout=7.0)
    assert a.client is b.client
    assert other.client is not a.client
    await a.aclose()
    assert not b.client.is_closed()  # b still uses it
    pieces, _, error = await collect(b)
    assert error is None and pieces
    await b.aclose()
    assert a.client.is_closed()
    c = make()
    assert c.client is not a.client and not c.client.is_closed()
    await c.aclose()
    await other.aclose()


@pytest.mark.asyncio
async def test_a_shared_client_outlives_its_last_writer_for_a_while(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Generations one after another (a quiet server) reuse the client and its connection."""
    monkeypatch.setattr(writer_module, "SHARED_IDLE_SECONDS", 0.3)
    openai_server.set_script(Script(tokens=TOKENS))

    def make() -> OpenAIWriter:
        return OpenAIWriter.from_config(
            api_key=KEY, base_url=openai_server.base_url, model="m", max_retries=0
        )

    first = make()
    assert (await collect(first))[2] is None
    await first.aclose()
    assert not first.client.is_closed()  # kept for the next generation
    second = make()
    assert second.client is first.client
    assert (await collect(second))[2] is None
    await second.aclose()
    assert openai_server.connections == 1  # one connection for both
    await asyncio.sleep(0.5)
    assert first.client.is_closed()  # idle long enough: closed
    third = make()
    assert third.client is not first.client
    await third.aclose()


def test_outside_an_event_loop_nothing_is_shared() -> None:
    a = OpenAIWriter.from_config(api_key=KEY, base_url="http://127.0.0.1:9/v1", model="m")
    b = OpenAIWriter.from_config(api_key=KEY, base_url="http://127.0.0.1:9/v1", model="m")
    assert a.client is not b.client


def test_unknown_parser_is_refused() -> None:
    with pytest.raises(ValueError, match="parser"):
        OpenAIWriter.from_config(api_key=KEY, model="m", parser="fast")  # type: ignore[arg-type]
