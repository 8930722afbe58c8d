"""Wire tier: the real openai client, through OpenAIWriter, against a scripted SSE server."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable

import httpx2
import openai
import pytest
import pytest_asyncio

from diaries.writers.base import Finish, WriterError, WriterRequest
from diaries.writers.openai import PLACEHOLDER_API_KEY, OpenAIWriter, map_error
from tests.support.openai_server import DEFAULT_TOKENS, Script, ScriptedOpenAIServer
from tests.support.paths import ROOT
from tests.support.wire import boundaries, openai_server  # noqa: F401

pytestmark = pytest.mark.wire

KEY = "sk-test-VERY-SECRET-0123456789abcdef"
MODEL = "gpt-test-mini"
TOKENS = ["Dear", " diary", ",", " today", " I", " walked", " by", " the", " river", "."]

MakeWriter = Callable[..., OpenAIWriter]


def make_request(max_tokens: int = 900) -> WriterRequest:
    return WriterRequest(
        date="2026-05-01",
        morning="coffee on the balcony",
        afternoon="a walk by the river",
        evening="",
        notes="",
        tone="warm",
        language="en",
        messages=[
            {"role": "system", "content": "You write short, warm diary entries."},
            {"role": "user", "content": "Morning: coffee on the balcony. Afternoon: a walk."},
        ],
        max_tokens=max_tokens,
    )


@pytest_asyncio.fixture
async def make_writer(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
) -> AsyncIterator[MakeWriter]:
    writers: list[OpenAIWriter] = []

    def make(**overrides: object) -> OpenAIWriter:
        config: dict[str, object] = {
            "api_key": KEY,
            "base_url": openai_server.base_url,
            "model": MODEL,
            "timeout": 5.0,
            "connect_timeout": 2.0,
            "max_retries": 0,
            "max_tokens_param": "max_completion_tokens",
            "temperature": 0.7,
        }
        config.update(overrides)
        writer = OpenAIWriter.from_config(**config)  # type: ignore[arg-type]
        writers.append(writer)
        return writer

    yield make
    for writer in writers:
        await writer.aclose()


async def collect(
    writer: OpenAIWriter, request: WriterRequest | None = None
) -> tuple[list[str], Finish | None, WriterError | None]:
    pieces: list[str] = []
    finish: Finish | None = None
    error: WriterError | None = None
    try:
        async for item in writer.stream(request or make_request()):
            assert finish is None, "nothing may follow the Finish"
            if isinstance(item, Finish):
                finish = item
            else:
                assert isinstance(item, str) and item
                pieces.append(item)
    except WriterError as exc:
        error = exc
    return pieces, finish, error


# --------------------------------------------------------------------------- normal streams


@pytest.mark.asyncio
async def test_pieces_arrive_paced_in_order_then_finish_with_usage(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
) -> None:
    openai_server.set_script(Script(tokens=TOKENS, delay=0.03))
    writer = make_writer()
    pieces: list[str] = []
    arrivals: list[float] = []
    sent_when_first_arrived = None
    finish = None
    async for item in writer.stream(make_request()):
        if isinstance(item, Finish):
            finish = item
            continue
        if not pieces:
            sent_when_first_arrived = openai_server.requests[0].chunks_sent
        pieces.append(item)
        arrivals.append(time.monotonic())

    assert pieces == TOKENS  # paced 30 ms apart: each token is its own read and its own piece
    # Streamed, not buffered: the first piece arrived while the server was still sending.
    assert sent_when_first_arrived is not None and sent_when_first_arrived < len(TOKENS)
    assert arrivals[-1] - arrivals[0] >= 0.8 * 0.03 * (len(TOKENS) - 1)
    assert finish is not None and finish.reason == "stop"
    assert finish.usage is not None
    assert finish.usage.completion_tokens == len(TOKENS)
    assert finish.usage.prompt_tokens and finish.usage.prompt_tokens > 0
    assert finish.usage.total_tokens == finish.usage.prompt_tokens + len(TOKENS)
    record = await openai_server.wait_ended(0)
    assert record.completed and not record.client_disconnected
    assert openai_server.request_count == 1


@pytest.mark.asyncio
async def test_chunks_of_several_tokens_are_yielded_whole(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
) -> None:
    openai_server.set_script(Script(tokens=TOKENS, chunk_size=4))
    pieces, finish, error = await collect(make_writer())
    assert error is None
    whole = ["Dear diary, today", " I walked by the", " river."]
    assert "".join(pieces) == "".join(whole)
    # Chunks that arrive together may come out as one piece; a chunk is never cut.
    assert boundaries(pieces) <= boundaries(whole)
    assert finish is not None and finish.reason == "stop"


@pytest.mark.asyncio
@pytest.mark.parametrize("param", ["max_completion_tokens", "max_tokens"])
async def test_request_body_and_headers(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
    param: str,
) -> None:
    request = make_request(max_tokens=321)
    _, finish, error = await collect(make_writer(max_tokens_param=param), request)
    assert error is None and finish is not None

    [record] = openai_server.requests
    assert record.method == "POST"
    assert record.path == "/v1/chat/completions"
    body = record.body
    assert body["model"] == MODEL
    assert body["messages"] == request.messages
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0.7
    assert body[param] == 321
    other = {"max_completion_tokens", "max_tokens"} - {param}
    assert not other & body.keys()
    assert record.headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.asyncio
async def test_missing_done_after_stop_is_a_normal_finish(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
) -> None:
    # finish_reason "stop" and the usage chunk arrive, then the connection is dropped: no [DONE].
    openai_server.set_script(Script(tokens=TOKENS, done=False, abort_at_end=True))
    pieces, finish, error = await collect(make_writer())
    assert error is None
    assert "".join(pieces) == "".join(TOKENS)
    assert finish is not None and finish.reason == "stop"
    assert finish.usage is not None and finish.usage.completion_tokens == len(TOKENS)


@pytest.mark.asyncio
async def test_missing_done_and_usage_after_stop_is_a_normal_finish(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
) -> None:
    openai_server.enqueue(
        Script(tokens=TOKENS, done=False, usage=False, abort_at_end=True),
        Script(tokens=TOKENS, done=False, usage=False),  # body ends cleanly, still no [DONE]
    )
    writer = make_writer()
    for _ in range(2):
        pieces, finish, error = await collect(writer)
        assert error is None
        assert "".join(pieces) == "".join(TOKENS)
        assert finish == Finish(reason="stop", usage=None)


@pytest.mark.asyncio
async def test_finish_reason_length_is_not_an_error(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
) -> None:
    openai_server.set_script(Script(tokens=TOKENS, finish_reason="length"))
    writer = make_writer()
    pieces, finish, error = await collect(writer)
    assert error is None and "".join(pieces) == "".join(TOKENS)
    assert finish is not None and finish.reason == "length"
    assert finish.usage is not None

    # The server cuts at the request's max tokens, as OpenAI does.
    pieces, finish, error = await collect(writer, make_request(max_tokens=3))
    assert error is None and "".join(pieces) == "".join(TOKENS[:3])
    assert finish is not None and finish.reason == "length"
    assert finish.usage is not None and finish.usage.completion_tokens == 3


@pytest.mark.asyncio
async def test_empty_api_key_with_base_url_uses_a_placeholder(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
) -> None:
    pieces, finish, error = await collect(make_writer(api_key=""))
    assert error is None and finish is not None
    assert "".join(pieces) == "".join(Script().tokens)
    assert openai_server.requests[0].headers["authorization"] == f"Bearer {PLACEHOLDER_API_KEY}"


def test_no_key_and_no_base_url_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        OpenAIWriter.from_config(
            api_key="",
            base_url=None,
            model=MODEL,
            timeout=5,
            connect_timeout=1,
            max_retries=0,
            max_tokens_param="max_completion_tokens",
            temperature=0.7,
        )
    with pytest.raises(ValueError, match="max_tokens_param"):
        OpenAIWriter.from_config(api_key=KEY, model=MODEL, max_tokens_param="tokens")


# --------------------------------------------------------------------------- stopping


@pytest.mark.asyncio
async def test_aclose_mid_stream_closes_the_upstream(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
) -> None:
    openai_server.set_script(Script(tokens=TOKENS * 10, delay=0.05))
    gen = make_writer().stream(make_request())
    pieces = [await anext(gen) for _ in range(3)]
    assert "".join(pieces) == "".join(TOKENS[:3])
    closed_at = time.monotonic()
    await gen.aclose()

    record = await openai_server.wait_ended(0, timeout=2)
    assert record.client_disconnected
    assert not record.completed
    assert record.chunks_sent < len(TOKENS) * 10
    assert record.ended_at is not None and record.ended_at - closed_at < 0.5
    await asyncio.sleep(0.1)
    assert openai_server.request_count == 1  # stopping never re-sends the request


@pytest.mark.asyncio
async def test_cancelling_the_task_closes_the_upstream(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
) -> None:
    openai_server.set_script(Script(tokens=TOKENS * 10, delay=0.05))
    writer = make_writer()
    received: list[str] = []
    three = asyncio.Event()

    async def consume() -> None:
        async for item in writer.stream(make_request()):
            if isinstance(item, str):
                received.append(item)
                if len(received) == 3:
                    three.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(three.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    record = await openai_server.wait_ended(0, timeout=2)
    assert record.client_disconnected and not record.completed
    assert openai_server.request_count == 1


# --------------------------------------------------------------------------- failures


@pytest.mark.asyncio
async def test_cut_mid_stream_keeps_the_pieces_and_is_upstream_unavailable(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
) -> None:
    openai_server.set_script(Script(tokens=TOKENS, cut_after=4, delay=0.01))
    pieces, finish, error = await collect(make_writer(max_retries=2))
    assert "".join(pieces) == "".join(TOKENS[:4])
    assert finish is None
    assert error is not None and error.code == "upstream_unavailable"
    assert error.status == "failed"
    assert "kept" in error.message
    assert openai_server.request_count == 1  # a cut mid-stream is never retried


@pytest.mark.asyncio
async def test_no_finish_reason_and_no_done_is_upstream_unavailable(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
) -> None:
    openai_server.enqueue(
        Script(tokens=TOKENS, finish_reason=None, usage=False, done=False),  # clean end of body
        Script(tokens=TOKENS, finish_reason=None, usage=False, done=False, abort_at_end=True),
    )
    writer = make_writer()
    for _ in range(2):
        pieces, finish, error = await collect(writer)
        assert "".join(pieces) == "".join(TOKENS)
        assert finish is None
        assert error is not None and error.code == "upstream_unavailable"
        assert "kept" in error.message


@pytest.mark.asyncio
async def test_401_is_upstream_auth_and_never_leaks_the_key(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    openai_server.set_script(Script(status=401))  # the server echoes the key in its message
    pieces, finish, error = await collect(make_writer(max_retries=2))
    assert pieces == [] and finish is None
    assert error is not None and error.code == "upstream_auth"
    assert error.status == "failed"
    assert "credentials" in error.message
    assert KEY in openai_server.requests[0].headers["authorization"]
    assert openai_server.request_count == 1  # 401 is not retried

    assert KEY not in error.message and KEY not in str(error) and KEY not in repr(error)
    assert error.__cause__ is None and error.__suppress_context__
    assert all(KEY not in record.getMessage() for record in caplog.records)
    ours = [r for r in caplog.records if r.name == "diaries.writers.openai"]
    assert ours and "AuthenticationError" in ours[-1].getMessage()
    assert "401" in ours[-1].getMessage()


@pytest.mark.asyncio
async def test_no_error_message_or_log_contains_the_key(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    openai_server.enqueue(
        Script(status=403),
        Script(status=429),
        Script(status=500),
        Script(status=404),
        Script(status=400),
        Script(cut_after=2),
        Script(stream_error={"message": f"boom {KEY}"}, stream_error_after=1),
    )
    writer = make_writer()
    codes = []
    for _ in range(7):
        _, _, error = await collect(writer)
        assert error is not None
        assert KEY not in error.message
        codes.append(error.code)
    assert codes == [
        "upstream_auth",
        "upstream_rate_limited",
        "upstream_unavailable",
        "upstream_unavailable",
        "internal",
        "upstream_unavailable",
        "upstream_unavailable",
    ]
    assert caplog.records
    assert all(KEY not in record.getMessage() for record in caplog.records)


@pytest.mark.asyncio
async def test_429_rate_limited(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
) -> None:
    openai_server.set_script(Script(status=429, error_code="rate_limit_exceeded"))
    pieces, finish, error = await collect(make_writer())
    assert pieces == [] and finish is None
    assert error is not None and error.code == "upstream_rate_limited"
    assert "wait" in error.message
    assert openai_server.request_count == 1


@pytest.mark.asyncio
async def test_429_insufficient_quota_is_quota_exceeded(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
) -> None:
    openai_server.set_script(Script(status=429, error_code="insufficient_quota"))
    _, _, error = await collect(make_writer())
    assert error is not None and error.code == "quota_exceeded"
    assert "credit" in error.message and "won't help" in error.message


@pytest.mark.asyncio
async def test_500_is_upstream_unavailable(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
) -> None:
    openai_server.set_script(Script(status=500))
    pieces, finish, error = await collect(make_writer())
    assert pieces == [] and finish is None
    assert error is not None and error.code == "upstream_unavailable"
    assert "try again" in error.message
    assert openai_server.request_count == 1


@pytest.mark.asyncio
async def test_500_is_retried_before_the_stream_starts(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
) -> None:
    fast_retry = {"retry-after-ms": "10"}
    openai_server.enqueue(
        Script(status=500, headers=fast_retry),
        Script(status=500, headers=fast_retry),
        Script(status=500, headers=fast_retry),
        Script(tokens=TOKENS),
    )
    writer = make_writer(max_retries=1)
    _, _, error = await collect(writer)
    assert error is not None and error.code == "upstream_unavailable"
    assert openai_server.request_count == 2  # the first try and one retry

    pieces, finish, error = await collect(writer)  # 500 once more, then the stream
    assert error is None and "".join(pieces) == "".join(TOKENS) and finish is not None
    assert openai_server.request_count == 4
    # the retry repeats the same request, marked as a retry by the client
    first, retry = openai_server.requests[2:4]
    assert first.body == retry.body
    assert first.headers["x-stainless-retry-count"] == "0"
    assert retry.headers["x-stainless-retry-count"] == "1"


@pytest.mark.asyncio
async def test_404_unknown_model_names_the_model(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
) -> None:
    openai_server.set_script(Script(status=404))
    _, _, error = await collect(make_writer())
    assert error is not None and error.code == "upstream_unavailable"
    assert MODEL in error.message


@pytest.mark.asyncio
async def test_slow_first_byte_is_upstream_timeout(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
) -> None:
    openai_server.set_script(Script(ttfb=3.0))
    started = time.monotonic()
    pieces, finish, error = await collect(make_writer(timeout=0.3))
    assert time.monotonic() - started < 2.0
    assert pieces == [] and finish is None
    assert error is not None and error.code == "upstream_timeout"
    assert "too long" in error.message
    record = await openai_server.wait_ended(0, timeout=2)
    assert record.client_disconnected and record.status is None


@pytest.mark.asyncio
async def test_stall_mid_stream_is_upstream_timeout(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
) -> None:
    openai_server.set_script(Script(tokens=TOKENS, delay=3.0))
    pieces, finish, error = await collect(make_writer(timeout=0.3))
    assert "".join(pieces) == "".join(TOKENS[:1]) and finish is None
    assert error is not None and error.code == "upstream_timeout"
    record = await openai_server.wait_ended(0, timeout=2)
    assert record.client_disconnected


@pytest.mark.asyncio
async def test_finish_reason_content_filter_is_filtered(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
) -> None:
    openai_server.set_script(Script(tokens=TOKENS[:4], finish_reason="content_filter"))
    pieces, finish, error = await collect(make_writer())
    assert "".join(pieces) == "".join(TOKENS[:4])
    assert finish is None
    assert error is not None and error.code == "filtered" and error.status == "filtered"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("code", "expected", "status"),
    [
        ("content_policy_violation", "filtered", "filtered"),
        ("content_filter", "filtered", "filtered"),
        ("invalid_value", "internal", "failed"),
    ],
)
async def test_400_errors(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
    code: str,
    expected: str,
    status: str,
) -> None:
    openai_server.set_script(Script(status=400, error_code=code))
    _, _, error = await collect(make_writer())
    assert error is not None and error.code == expected and error.status == status


@pytest.mark.asyncio
async def test_error_event_inside_the_stream_is_upstream_unavailable(
    openai_server: ScriptedOpenAIServer,  # noqa: F811
    make_writer: MakeWriter,
) -> None:
    openai_server.set_script(
        Script(tokens=TOKENS, stream_error={"message": "overloaded"}, stream_error_after=3)
    )
    pieces, finish, error = await collect(make_writer())
    assert "".join(pieces) == "".join(TOKENS[:3])
    assert finish is None
    assert error is not None and error.code == "upstream_unavailable"
    assert "kept" in error.message


@pytest.mark.asyncio
async def test_connection_refused_is_upstream_unavailable() -> None:
    async with ScriptedOpenAIServer() as server:
        base_url = server.base_url
    writer = OpenAIWriter.from_config(
        api_key=KEY, base_url=base_url, model=MODEL, timeout=2, connect_timeout=1, max_retries=0
    )
    try:
        _, _, error = await collect(writer)
    finally:
        await writer.aclose()
    assert error is not None and error.code == "upstream_unavailable"


# --------------------------------------------------------------------------- the mapping alone


def _request() -> httpx2.Request:
    return httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")


_STATUS_ERRORS: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}


def _status_error(status: int, code: str | None) -> openai.APIStatusError:
    """The exception openai raises for `status` (the body is the `error` object, as it does)."""
    error = {"message": f"Incorrect API key provided: {KEY}", "type": "x", "code": code}
    response = httpx2.Response(status, json={"error": error}, request=_request())
    cls = _STATUS_ERRORS.get(status, openai.InternalServerError)
    return cls(f"Error code: {status} - {error}", response=response, body=error)


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (_status_error(401, "invalid_api_key"), "upstream_auth"),
        (_status_error(403, None), "upstream_auth"),
        (_status_error(429, "insufficient_quota"), "quota_exceeded"),
        (_status_error(429, "rate_limit_exceeded"), "upstream_rate_limited"),
        (_status_error(404, "model_not_found"), "upstream_unavailable"),
        (_status_error(500, None), "upstream_unavailable"),
        (_status_error(503, None), "upstream_unavailable"),
        (_status_error(400, "content_policy_violation"), "filtered"),
        (_status_error(400, None), "internal"),
        (_status_error(422, None), "internal"),
        (openai.APITimeoutError(request=_request()), "upstream_timeout"),
        (openai.APIConnectionError(request=_request()), "upstream_unavailable"),
        (openai.APIError("boom", _request(), body={"message": "boom"}), "upstream_unavailable"),
        (httpx2.ReadTimeout("slow"), "upstream_timeout"),
        (httpx2.RemoteProtocolError("peer closed connection"), "upstream_unavailable"),
        (httpx2.ReadError("reset"), "upstream_unavailable"),
        (ConnectionResetError(), "upstream_unavailable"),
        (RuntimeError("bug"), "internal"),
    ],
)
def test_map_error(exc: Exception, code: str) -> None:
    error = map_error(exc, model=MODEL)
    assert error.code == code
    assert error.status == ("filtered" if code == "filtered" else "failed")
    assert KEY not in error.message
    assert error.message.endswith((".", "!"))


# ------------------------------------------------------------------ the server's other modes


def test_server_in_a_thread_serves_sync_clients() -> None:
    server = ScriptedOpenAIServer(Script(tokens=TOKENS))
    with (
        server.running_in_thread() as srv,
        openai.OpenAI(api_key=KEY, base_url=srv.base_url, max_retries=0) as client,
    ):
        stream = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        record = srv.wait_ended_sync(0)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "".join(TOKENS)
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert record.completed and record.chunks_sent == len(TOKENS)


SERVER_MODULE = "tests.support.openai_server"


def test_server_runs_as_its_own_process() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", SERVER_MODULE, "--tokens", "5", "--tokens-per-second", "200"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        base_url = line.split()[-1]
        with openai.OpenAI(api_key=KEY, base_url=base_url, max_retries=0) as client:
            stream = client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
            )
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text == "".join(DEFAULT_TOKENS[:5])
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=5)
    assert proc.returncode == 0
    assert "served 1 requests (1 completed, 0 disconnected)" in out
