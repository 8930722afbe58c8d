"""A client that stops reading is closed, never buffered without bound.

Live (a real daphne, as the page and the bench use it): a raw client with a small receive buffer
starts a large, fast generation and never reads a byte; daphne drops it once more than
DIARY_WS_MAX_BUFFER_BYTES waits in its send buffer (diaries/backpressure.py), its memory stays
bounded and the generation is saved in full. A client that reads is never dropped, even when
one frame (the `done` with the whole text) is larger than the limit.

The `watch` throttle in process (one snapshot per DIARY_SNAPSHOT_TIMEOUT per socket unless the
generation moved on): tests/unit/test_consumers.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect as ws_connect

from diaries.models import GenerationStatus
from tests.support.openai_server import Script, ScriptedOpenAIServer
from tests.support.servers import INPUTS, RawWebSocket, Server, record, wait_for

# A generation of about 880 KB, streamed as fast as the upstream can: its frames (the delta or
# two, then `done` with the whole text) come to 1.7 MB. (autobahn refuses to send one message over
# daphne's maximum message size, 1 MiB, so one generation's text must stay under it.) On loopback
# the kernel takes up to tcp_wmem's maximum (4 MiB) of a socket's unread bytes before Twisted
# buffers any, so the non-reading client starts several generations at once: 14 MB of frames.
TOKEN = "The herons stood in the shallows all morning, patient as ever. " * 40  # 2.6 KB
TOKENS = [TOKEN] * 340
TEXT = "".join(TOKENS)
GENERATIONS = 8
SNAPSHOT_EVERY = 0.5  # seconds between two `watch` of one entry (within the live throttle)
LIMIT = 256 * 1024  # DIARY_WS_MAX_BUFFER_BYTES of the live server (default 1 MiB)


def rss_bytes(pid: int) -> int:
    resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedOpenAIServer]:
    script = Script(tokens=TOKENS, honor_max_tokens=False)
    with ScriptedOpenAIServer(script).running_in_thread() as srv:
        yield srv


@pytest.fixture(scope="module")
def live(tmp_path_factory, upstream) -> Iterator[tuple[Server, str]]:
    srv = Server(
        tmp_path_factory.mktemp("slow-clients"),
        DIARY_WRITER="openai",
        OPENAI_BASE_URL=upstream.base_url,
        OPENAI_API_KEY="sk-slow-client-test",
        OPENAI_MAX_RETRIES="0",
        DIARY_MODERATION="off",
        DIARY_LOG_LEVEL="INFO",
        DIARY_WS_MAX_BUFFER_BYTES=str(LIMIT),
        DIARY_MAX_RUNNING_PER_USER=str(GENERATIONS),
        DIARY_MAX_TEXT_CHARS=str(len(TEXT)),  # the whole text (default 20,000 characters)
        DIARY_SNAPSHOT_TIMEOUT=str(SNAPSHOT_EVERY - 0.1),
        DIARY_MESSAGES_PER_SECOND="50",
        DIARY_MESSAGE_BURST="50",
        DIARY_USER_MESSAGES_PER_SECOND="100",
    )
    try:
        srv.prepare()
        srv.start()
        yield srv, srv.login()
    finally:
        srv.stop()


class NonReader(RawWebSocket):
    """A raw WebSocket client that completes the handshake, sends, and never reads again."""

    def send(self, message: dict) -> None:
        self.write(self.frame(0x1, json.dumps(message).encode()))  # dropped: see the tests


def generation_row(srv: Server, request_id: str) -> tuple[int, str, str] | None:
    rows = srv.query(
        "SELECT entry_id, status, text FROM diaries_generation WHERE request_id = ?", request_id
    )
    return (rows[0][0], rows[0][1], srv.opened(rows[0][2])) if rows else None


# --- live: the transport guard -------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_client_that_stops_reading_is_dropped_and_nothing_is_lost(live):
    srv, cookie = live
    rss_before = rss_bytes(srv.proc.pid)
    client = NonReader(srv, cookie)
    request_ids = [str(uuid.uuid4()) for _ in range(GENERATIONS)]
    started = time.monotonic()
    for request_id in request_ids:
        client.send({**INPUTS, "request_id": request_id})
    peak = rss_before
    try:
        while not client.reset_by_server():
            peak = max(peak, rss_bytes(srv.proc.pid))
            assert time.monotonic() - started < 15, (
                f"not dropped; daphne RSS {rss_before / 2**20:.1f} → {peak / 2**20:.1f} MiB"
            )
            time.sleep(0.01)
        closed_after = time.monotonic() - started
    finally:
        client.close()

    def all_done() -> bool:
        rows = [generation_row(srv, request_id) for request_id in request_ids]
        return all(row is not None and row[1] == "done" for row in rows)

    wait_for(all_done, timeout=30)
    for request_id in request_ids:  # every generation outlived the socket, in full
        assert generation_row(srv, request_id)[1:] == (GenerationStatus.DONE, TEXT)
    rss_after = rss_bytes(srv.proc.pid)
    figures = {
        "frames_mb": round(2 * GENERATIONS * len(TEXT) / 2**20, 1),
        "limit_kb": LIMIT // 1024,
        "closed_after_s": round(closed_after, 2),
        "rss_before_mb": round(rss_before / 2**20, 1),
        "rss_peak_mb": round(peak / 2**20, 1),
        "rss_after_mb": round(rss_after / 2**20, 1),
    }
    record("slow_client_transport", **figures)
    print(figures)
    assert closed_after < 10
    assert peak - rss_before < 40 * 2**20
    log = Path(srv.log.name).read_text()
    assert log.count("closed a WebSocket whose client stopped reading") == 1
    assert "herons" not in log  # no diary text in the log


async def read_generations(srv: Server, cookie: str, n: int) -> dict[int, list[dict]]:
    """Start `n` generations on one socket that reads everything; each entry's frames."""
    frames: dict[int, list[dict]] = {}
    async with ws_connect(
        f"ws://127.0.0.1:{srv.port}/ws/diary/",
        additional_headers={"Origin": srv.base, "Cookie": cookie},
        max_size=None,
    ) as ws:
        for _ in range(n):
            await ws.send(json.dumps({**INPUTS, "request_id": str(uuid.uuid4())}))
        async with asyncio.timeout(30):
            while len(frames) < n or any(f[-1]["type"] != "done" for f in frames.values()):
                frame = json.loads(await ws.recv())
                frames.setdefault(frame["entry"], []).append(frame)
    return frames


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_a_client_that_reads_is_never_dropped_even_by_frames_over_the_limit(live):
    """The limit applies to what is still unread when the next frame is due, so one frame
    larger than the limit (here every one is) does not drop a client that reads."""
    srv, cookie = live
    streams = await read_generations(srv, cookie, 1)  # the socket stayed open to the end
    assert len(streams) == 1
    for frames in streams.values():
        assert [f["type"] for f in frames if f["type"] != "delta"] == ["started", "done"]
        deltas = [f for f in frames if f["type"] == "delta"]
        assert [f["seq"] for f in deltas] == list(range(1, len(deltas) + 1))
        assert "".join(f["text"] for f in deltas) == TEXT == frames[-1]["text"]
        assert len(frames[-1]["text"].encode()) > LIMIT  # one frame alone is over the limit


@pytest.mark.timeout(60)
def test_snapshots_for_a_client_that_stops_reading_do_not_grow_memory(live):
    """Snapshots of many long entries, each asked for no more often than the `watch` throttle
    allows: only the transport guard stands between them and daphne's memory."""
    srv, cookie = live
    entries = [
        entry for _ in range(GENERATIONS) for entry in asyncio.run(read_generations(srv, cookie, 1))
    ]
    time.sleep(0.5)
    rss_before = rss_bytes(srv.proc.pid)
    client = NonReader(srv, cookie)
    started = time.monotonic()
    peak, asked = rss_before, 0
    try:
        while not client.reset_by_server():
            assert time.monotonic() - started < 8, (
                f"not dropped after {asked} snapshots; "
                f"daphne RSS {rss_before / 2**20:.1f} → {peak / 2**20:.1f} MiB"
            )
            for entry in entries:
                client.send({"action": "watch", "entry": entry})
                asked += 1
            for _ in range(int(SNAPSHOT_EVERY / 0.01) + 1):
                peak = max(peak, rss_bytes(srv.proc.pid))
                time.sleep(0.01)
        closed_after = time.monotonic() - started
    finally:
        client.close()
    figures = {
        "snapshot_mb": round(len(TEXT) / 2**20, 2),
        "snapshots_asked": asked,
        "closed_after_s": round(closed_after, 2),
        "rss_before_mb": round(rss_before / 2**20, 1),
        "rss_peak_mb": round(peak / 2**20, 1),
    }
    record("slow_client_snapshots", **figures)
    print(figures)
    assert peak - rss_before < 16 * 2**20
