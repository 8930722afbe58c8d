"""Faults against real daphne + PostgreSQL + Redis: Redis restarted mid-stream, PostgreSQL
briefly unreachable. Each test uses its own PostgreSQL database, its own redis-server and, for
the database outage, a TCP proxy in front of PostgreSQL that it cuts and restores — the
machine's shared services are never stopped.

Recovery times are written to test-artifacts/faults.json for the issue note.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import threading
import time
from pathlib import Path

import httpx2
import psycopg
import pytest

from tests.support.servers import (
    INPUTS,
    RedisServer,
    Server,
    frames_until,
    free_port,
    record,
    wait_for,
)

pytestmark = [pytest.mark.pg_redis, pytest.mark.asyncio, pytest.mark.timeout(150)]

PG = "postgresql://postgres@127.0.0.1:5432"


def require(service: str, ok: bool) -> None:
    if not ok:
        message = f"{service} is not reachable on 127.0.0.1; the services tier needs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def pg_reachable() -> bool:
    try:
        with psycopg.connect(f"{PG}/postgres", connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@pytest.fixture
def pg_database():
    require("PostgreSQL", pg_reachable())
    name = f"nikki_fault_{secrets.token_hex(4)}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_server(tmp_path):
    require("redis-server", shutil.which("redis-server") is not None)
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


class TcpProxy:
    """Forwards 127.0.0.1:<port> to PostgreSQL; `cut()` drops every connection and refuses
    new ones until `restore()`."""

    def __init__(self, target_port: int = 5432) -> None:
        self.port = free_port()
        self.target = ("127.0.0.1", target_port)
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.AbstractServer | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.restore()

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _pipe(self, reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self.writers -= {writer, up_writer}

    async def _start(self):
        self.server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )

    async def _cut(self):
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    def restore(self) -> None:
        self._call(self._start())

    def cut(self) -> None:
        self._call(self._cut())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)


class PgServer(Server):
    """A daphne on PostgreSQL (and optionally Redis) with PostgreSQL-reading helpers."""

    def __init__(self, workdir: Path, database: str, db_port: int = 5432, **env: str) -> None:
        super().__init__(
            workdir, DATABASE_URL=f"postgres://postgres@127.0.0.1:{db_port}/{database}", **env
        )
        self.dsn = f"{PG}/{database}"

    def query(self, sql: str, *params) -> list[tuple]:
        with psycopg.connect(self.dsn) as conn:
            return conn.execute(sql.replace("?", "%s"), params).fetchall()


@pytest.fixture
def servers():
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


async def test_redis_restarted_mid_stream_recovers_with_no_entry_lost(
    tmp_path, pg_database, redis_server, servers
):
    srv = PgServer(tmp_path, pg_database, REDIS_URL=redis_server.url, DIARY_OFFLINE_DELAY="0.05")
    servers.append(srv)
    srv.prepare()
    srv.start()
    cookie = srv.login()
    async with srv.socket(cookie) as ws:
        await ws.send(json.dumps(INPUTS))
        entry_id = (await frames_until(ws, "started"))[-1]["entry"]
        for _ in range(5):
            await frames_until(ws, "delta")
        redis_server.stop()
        await asyncio.sleep(1.0)
        redis_server.start()
        restarted_at = time.monotonic()
    # New generations stream again through the restarted Redis.
    recovered = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and recovered is None:
        try:
            async with srv.socket(cookie) as ws:
                await ws.send(json.dumps({**INPUTS, "morning": "after the restart"}))
                await frames_until(ws, "delta", timeout=10)
                first_delta = time.monotonic() - restarted_at
                frames = await frames_until(ws, "done", timeout=20)
                if frames[-1]["status"] == "done":
                    recovered = first_delta
        except Exception:
            await asyncio.sleep(0.5)
    assert recovered is not None, "no generation streamed after Redis came back"
    # The generation that was running when Redis went away still finished and was saved.
    wait_for(lambda: srv.generation(entry_id)[0] == "done", timeout=60)
    status, text, _seq = srv.generation(entry_id)
    assert status == "done" and text
    lost = srv.query("SELECT count(*) FROM diaries_diaryentry WHERE status <> 'done'")[0][0]
    assert lost == 0
    assert srv.proc.poll() is None, "daphne died"
    record(
        "redis_restart",
        redis_down_seconds=1.0,
        first_delta_of_a_new_generation_after_restart_s=round(recovered, 2),
        entries_lost=lost,
    )


async def test_postgres_briefly_unreachable_gives_clear_errors_then_recovers(
    tmp_path, pg_database, servers
):
    proxy = TcpProxy()
    try:
        srv = PgServer(tmp_path, pg_database, db_port=proxy.port, DIARY_OFFLINE_DELAY="0.05")
        servers.append(srv)
        srv.prepare()
        srv.start()
        cookie = srv.login()
        async with srv.socket(cookie) as ws:
            await ws.send(json.dumps(INPUTS))
            entry_id = (await frames_until(ws, "started"))[-1]["entry"]
            await frames_until(ws, "delta")
            proxy.cut()
            cut_at = time.monotonic()
            # The database is gone: a new request gets a clear error, the socket stays up.
            await ws.send(json.dumps({"action": "watch", "entry": entry_id}))
            error = next(
                f for f in await frames_until(ws, "error", timeout=15) if f["type"] == "error"
            )
            assert "database" in error["message"] and error["code"] == "internal"
            health = httpx2.get(f"{srv.base}/healthz", timeout=10)
            assert health.status_code == 503 and "error" in health.json()["database"]
            # The stream itself goes on: it needs the database only for checkpoints.
            await frames_until(ws, "delta", timeout=5)
            await asyncio.sleep(2)
            proxy.restore()
            restored_at = time.monotonic()
            done = (await frames_until(ws, "done", timeout=60))[-1]
        assert done["status"] == "done"
        saved_after = time.monotonic() - restored_at
        status, text, _seq = srv.generation(entry_id)
        assert (status, text) == ("done", done["text"])
        healthy_after = wait_for(
            lambda: httpx2.get(f"{srv.base}/healthz", timeout=5).status_code == 200,
            timeout=30,
        )
        assert srv.proc.poll() is None, "daphne died"
        record(
            "postgres_outage",
            outage_seconds=round(restored_at - cut_at, 2),
            saved_after_restore_s=round(saved_after, 2),
            healthz_ok_after_restore_s=round(healthy_after, 2),
            entries_lost=0,
        )
    finally:
        proxy.close()
