"""Production's channel layer between two real daphnes on PostgreSQL and a private Redis: a
watcher on the other process gets every frame with no gap, and a second socket on the writing
process (served in-process, never through Redis as well) gets each frame exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from tests.support.servers import INPUTS, RedisServer, Server, frames_until

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")

pytestmark = [pytest.mark.pg_redis, pytest.mark.timeout(180)]


def _skip_or_fail(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture
def database():
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        _skip_or_fail(f"PostgreSQL at {POSTGRES_URL}: {exc}")
    name = f"nikki_layer_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{name}"))
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def redis_url(tmp_path):
    if not shutil.which("redis-server"):
        _skip_or_fail("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def two_daphnes(tmp_path, database, redis_url):
    # Checkpoints far apart: the watcher's snapshot comes from the owning process.
    env = {
        "DATABASE_URL": database,
        "REDIS_URL": redis_url,
        "CHANNEL_LAYER": "pubsub",
        "DIARY_CHECKPOINT_SECONDS": "5",
        "DIARY_SNAPSHOT_TIMEOUT": "10",
    }
    servers = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        servers.append(Server(tmp_path / name, **env))
    servers[0].prepare()
    try:
        for srv in servers:
            srv.start()
        yield servers
    finally:
        for srv in servers:
            srv.stop()


async def frames_for(ws, seconds: float) -> list[dict]:
    """Whatever arrives within `seconds`."""
    seen = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                seen.append(json.loads(await ws.recv()))
    except TimeoutError:
        return seen


def deltas(frames: list[dict]) -> list[dict]:
    return [f for f in frames if f["type"] == "delta"]


@pytest.mark.asyncio
async def test_watchers_on_both_processes_get_every_frame_once_with_no_gap(two_daphnes):
    one, two = two_daphnes
    cookie = one.login()
    async with one.socket(cookie) as writer, one.socket(cookie) as local, two.socket(cookie) as far:
        await writer.send(json.dumps(INPUTS))
        entry = (await frames_until(writer, "started"))[-1]["entry"]
        seen_by_writer = await frames_until(writer, "delta")
        for watcher in (local, far):
            await watcher.send(json.dumps({"action": "watch", "entry": entry}))
        rest, seen_local, seen_far = await asyncio.gather(
            frames_until(writer, "done", timeout=60),
            frames_until(local, "done", timeout=60),
            frames_until(far, "done", timeout=60),
        )
        # The consumer drops a delta it already sent, but not an end: a second `done` on any
        # socket would be a message delivered twice.
        extra = await asyncio.gather(*(frames_for(ws, 1.5) for ws in (writer, local, far)))
    assert extra == [[], [], []]
    seen_by_writer += rest
    done = seen_by_writer[-1]
    assert done["status"] == "done" and "herons" in done["text"]

    writer_seqs = [f["seq"] for f in deltas(seen_by_writer)]
    assert writer_seqs == list(range(1, len(writer_seqs) + 1))  # each frame once, in order
    assert "".join(f["text"] for f in deltas(seen_by_writer)) == done["text"]

    for frames in (seen_local, seen_far):
        [snapshot] = [f for f in frames if f["type"] == "snapshot"]
        seqs = [f["seq"] for f in deltas(frames)]
        # After its snapshot, every frame exactly once: no gap, nothing twice.
        assert seqs == list(range(snapshot["seq"] + 1, writer_seqs[-1] + 1))
        assert snapshot["text"] + "".join(f["text"] for f in deltas(frames)) == done["text"]
        assert frames[-1]["status"] == "done" and frames[-1]["text"] == done["text"]
    assert len(deltas(seen_far)) >= 3  # the far watcher saw frames relayed, not only the end
