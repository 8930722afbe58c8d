"""The SSE reading the OpenAI writer's raw path uses (diaries/writers/sse.py): the same events as
openai's own decoder whatever the chunking, the same errors as the stock stream, and chunk JSON
read as the standard library reads it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import openai
import pytest

from diaries.writers.sse import loads, sse_event_batches


async def events_of(chunks: list[bytes]) -> list[tuple[str | None, str]]:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    response = httpx2.Response(
        200, content=body(), request=httpx2.Request("POST", "http://x/v1/chat/completions")
    )
    return [event async for batch in sse_event_batches(response) for event in batch]


def stock_events(chunks: list[bytes]) -> list[tuple[str | None, str]]:
    from openai._streaming import SSEDecoder

    return [(e.event, e.data) for e in SSEDecoder().iter_bytes(iter(chunks))]


BODY = (
    b'data: {"a": 1}\n\n'
    b": a comment\n"
    b"event: message\ndata: line one\ndata: line two\n\n"
    b'data:{"no": "space"}\r\n\r\n'
    b"data: cr only\r\r"
    b"id: 7\n\n"
    b"data\n\n"
    b"retry: 100\ndata: x\n\n"
    b'data: {"t": "\xe6\x97\xa5\xe8\xa8\x98"}\n\n'
    b"data: [DONE]\n\n"
)


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 16, len(BODY)])
async def test_sse_events_match_openais_decoder_whatever_the_chunking(size: int) -> None:
    chunks = [BODY[i : i + size] for i in range(0, len(BODY), size)]
    assert await events_of(chunks) == stock_events(chunks)


@pytest.mark.asyncio
async def test_sse_events_keep_crlf_split_across_chunks() -> None:
    chunks = [b"data: a\r", b"\n\r", b"\ndata: b\r", b"\r"]
    assert await events_of(chunks) == stock_events(chunks) == [(None, "a"), (None, "b")]


@pytest.mark.asyncio
async def test_sse_read_errors_are_raised_as_the_stock_stream_raises_them() -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"data: {}\n\n"
        raise httpx2.RemoteProtocolError("peer closed connection")

    response = httpx2.Response(
        200, content=body(), request=httpx2.Request("POST", "http://x/v1/chat/completions")
    )
    with pytest.raises(openai.APIConnectionError):
        async for _ in sse_event_batches(response):
            pass

    async def slow() -> AsyncIterator[bytes]:
        raise httpx2.ReadTimeout("slow")
        yield b""  # pragma: no cover

    response = httpx2.Response(
        200, content=slow(), request=httpx2.Request("POST", "http://x/v1/chat/completions")
    )
    with pytest.raises(openai.APITimeoutError):
        async for _ in sse_event_batches(response):
            pass


@pytest.mark.parametrize(
    "data",
    [
        '{"choices": [{"index": 0, "delta": {"content": "日記"}}]}',
        '{"usage": {"prompt_tokens": 12, "completion_tokens": 3}}',
        '{"x": NaN}',  # orjson refuses these; the standard library reads them
        '{"content": "\\ud800"}',
    ],
)
def test_chunk_json_reads_as_the_standard_library_does(data: str) -> None:
    import json

    ours, theirs = loads(data), json.loads(data)
    assert repr(ours) == repr(theirs)  # same values, same types (NaN compares by repr)
    # Known difference: an integer beyond 64 bits reads as a float (orjson); the writer only
    # reads token counts and a choice index from a chunk.
