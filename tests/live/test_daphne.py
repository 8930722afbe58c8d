"""Real daphne processes: the generation outlives the tab, SIGTERM and SIGKILL mid-stream.

Each test starts daphne on a free loopback port with its own SQLite file, signs in over HTTP and
talks to `/ws/diary/` with a real WebSocket client.
"""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.support.servers import INPUTS, Server, frames_until, record, wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(90)]


@pytest.fixture
def server(tmp_path):
    servers: list[Server] = []

    def make(**env: str) -> Server:
        srv = Server(tmp_path, **env)
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.stop()


async def start_and_read_some(srv: Server, cookie: str, deltas: int = 8) -> int:
    """Start a generation, read a few deltas, return the entry id (the socket then closes)."""
    async with srv.socket(cookie) as ws:
        await ws.send(json.dumps(INPUTS))
        started = (await frames_until(ws, "started"))[-1]
        for _ in range(deltas):
            await frames_until(ws, "delta")
        return started["entry"]


async def test_closing_the_tab_mid_stream_still_finishes_and_saves(server):
    srv = server()
    srv.prepare()
    srv.start()
    cookie = srv.login()
    entry_id = await start_and_read_some(srv, cookie)
    assert srv.generation(entry_id)[0] == "generating"
    wait_for(lambda: srv.generation(entry_id)[0] == "done", timeout=30)
    _status, text, _seq = srv.generation(entry_id)
    [(entry_text, entry_status)] = srv.query(
        "SELECT text, status FROM diaries_diaryentry WHERE id = ?", entry_id
    )
    assert entry_status == "done" and srv.opened(entry_text) == text and "herons" in text


async def test_reload_mid_stream_resumes_with_no_gap_or_repeat(server):
    srv = server()
    srv.prepare()
    srv.start()
    cookie = srv.login()
    entry_id = await start_and_read_some(srv, cookie, deltas=5)
    async with srv.socket(cookie) as ws:  # the reloaded page
        await ws.send(json.dumps({"action": "watch", "entry": entry_id}))
        frames = await frames_until(ws, "done", timeout=30)
    snapshot = next(f for f in frames if f["type"] == "snapshot")
    assert snapshot["status"] == "generating" and snapshot["seq"] >= 5
    deltas = [f for f in frames if f["type"] == "delta"]
    seqs = [f["seq"] for f in deltas]
    assert seqs == list(range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(seqs)))
    done = frames[-1]
    assert snapshot["text"] + "".join(f["text"] for f in deltas) == done["text"]
    assert srv.generation(entry_id)[1] == done["text"]


async def test_sigterm_mid_stream_saves_the_generation_as_interrupted(server):
    srv = server()
    srv.prepare()
    srv.start()
    cookie = srv.login()
    entry_id = await start_and_read_some(srv, cookie)
    signalled = time.monotonic()
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(20) is not None
    record("sigterm", exit_after_s=round(time.monotonic() - signalled, 2), entries_lost=0)
    status, text, seq = srv.generation(entry_id)
    assert status == "interrupted" and text and seq >= 8
    [(entry_status,)] = srv.query("SELECT status FROM diaries_diaryentry WHERE id = ?", entry_id)
    assert entry_status == "interrupted"


async def test_sigkill_mid_stream_is_swept_to_interrupted_and_retry_works(server):
    srv = server(DIARY_HEARTBEAT_STALE_SECONDS="2", DIARY_SWEEP_SECONDS="0.5")
    srv.prepare()
    srv.start()
    cookie = srv.login()
    entry_id = await start_and_read_some(srv, cookie, deltas=40)
    checkpoint = srv.generation(entry_id)
    srv.proc.kill()
    srv.proc.wait(10)
    killed_at = time.monotonic()
    assert srv.generation(entry_id)[0] == "generating"  # nobody saved it on the way down
    srv.start()  # a restarted server sweeps
    wait_for(lambda: srv.generation(entry_id)[0] == "interrupted", timeout=20)
    recovered_in = time.monotonic() - killed_at
    _status, text, seq = srv.generation(entry_id)
    assert text and seq >= checkpoint[2] and text.startswith(checkpoint[1])
    assert recovered_in < 20
    record(
        "sigkill",
        interrupted_after_kill_s=round(recovered_in, 2),
        stale_after_s=2,
        restart_included=True,
        entries_lost=0,
    )
    # The person retries: a new generation of the same entry finishes.
    async with srv.socket(cookie) as ws:
        await ws.send(json.dumps({"action": "generate", "entry": entry_id}))
        frames = await frames_until(ws, "done", timeout=30)
    assert frames[-1]["status"] == "done"
    assert [
        row[0]
        for row in srv.query(
            "SELECT status FROM diaries_generation WHERE entry_id = ? ORDER BY id", entry_id
        )
    ] == ["interrupted", "done"]
