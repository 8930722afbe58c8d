"""Services tier: the container's start and two daphne processes on real PostgreSQL and Redis.

daphne is started the way the image starts it — through docker/entrypoint.sh — against a fresh
PostgreSQL database on 127.0.0.1 (created and dropped here) and a Redis database of its own.
Without PostgreSQL or Redis these tests skip, except in CI (`CI` set), where they fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx2
import psycopg
import pytest
import redis
from psycopg import sql

from tests.support.nginx import NginxProxy, nginx_binary
from tests.support.sealed import open_as_server
from tests.support.servers import (
    INPUTS,
    ROOT,
    Server,
    daphne_command,
    frames_until,
    wait_healthy,
)

# The server databases to use; each test gets a database of its own on this PostgreSQL.
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/3")
ADMIN = {
    "DJANGO_SUPERUSER_USERNAME": "boss",
    "DJANGO_SUPERUSER_EMAIL": "boss@example.com",
    "DJANGO_SUPERUSER_PASSWORD": "an-admin-passphrase-for-tests-7",
}

ASGI_APP = "diary_project.asgi:application"

pytestmark = [pytest.mark.pg_redis, pytest.mark.timeout(180)]


def _unreachable() -> str | None:
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL at {POSTGRES_URL}: {exc}"
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        return f"Redis at {REDIS_URL}: {exc}"
    return None


@pytest.fixture(scope="module")
def services_up() -> None:
    problem = _unreachable()
    if problem is None:
        redis.Redis.from_url(REDIS_URL).flushdb()  # this tier's own Redis database
        return
    message = f"the services tier needs {problem}"
    if os.environ.get("CI"):
        pytest.fail(message + " (.ci/run starts PostgreSQL and Redis)", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def database(services_up):
    """A fresh, empty PostgreSQL database: its URL. Dropped afterwards."""
    name = f"nikki_services_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    parts = urlsplit(POSTGRES_URL)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def query(database_url: str, statement: str, *params) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(statement, params).fetchall()


class EntrypointServer(Server):
    """daphne started through docker/entrypoint.sh, as in the image, on PostgreSQL and Redis."""

    def __init__(self, workdir: Path, database_url: str, **env: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(
            workdir,
            DATABASE_URL=database_url,
            # The servers of one test share its diary database, and so its key store.
            KEYS_DATABASE_URL=f"sqlite:///{workdir.parent / 'keys.sqlite3'}",
            REDIS_URL=REDIS_URL,
            # The entrypoint runs `python manage.py`: this interpreter, as the image's.
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            DJANGO_STATIC_ROOT=str(workdir.parent / "static"),
            **env,
        )
        self.database_url = database_url

    def entrypoint(self, *command: str, **env: str) -> subprocess.CompletedProcess:
        """Run the entrypoint with a short command to completion."""
        return subprocess.run(
            ["bash", "docker/entrypoint.sh", *command],
            cwd=ROOT,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    def start(self) -> None:
        self.log_path = self.workdir / f"entrypoint-{self.port}.log"
        self.log = open(self.log_path, "w")
        command = [*daphne_command(self.port), "--proxy-headers", ASGI_APP]
        self.proc = subprocess.Popen(
            ["bash", "docker/entrypoint.sh", *command],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_healthy(self.base, self.proc, timeout=60, details=self.output)

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def create_user(self, username: str = "diarist") -> None:
        self.manage(
            "shell",
            "-c",
            "from django.contrib.auth.models import User; "
            f"User.objects.create_user('{username}', password='a-long-diary-passphrase-42')",
        )

    def collectstatic(self) -> None:
        """As the image's build step does: a throwaway key, no database."""
        env = {k: v for k, v in self.env.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        result = subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput"],
            cwd=ROOT,
            env={**env, "DJANGO_SECRET_KEY": "collectstatic-only"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr


@pytest.fixture
def servers():
    started: list[EntrypointServer] = []

    def make(workdir: Path, database_url: str, **env: str) -> EntrypointServer:
        srv = EntrypointServer(workdir, database_url, **env)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


def latest_generation(database_url: str, entry_id: int, keys: Path) -> tuple[str, str, int]:
    """The entry's latest generation in the database; its text decrypted with the key store
    `keys` of the servers (EntrypointServer)."""
    [(status, text, seq)] = query(
        database_url,
        "SELECT status, text, seq FROM diaries_generation WHERE entry_id = %s "
        "ORDER BY id DESC LIMIT 1",
        entry_id,
    )
    return status, open_as_server(text, keys) if text else text, seq


def test_entrypoint_migrates_creates_the_admin_and_serves(tmp_path, database, servers):
    srv = servers(tmp_path / "a", database, **ADMIN)
    srv.collectstatic()
    srv.start()
    log = srv.output()
    assert "Applying diaries.0001_initial... OK" in log
    assert "Superuser created successfully." in log

    # Every migration is applied.
    assert (
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--check"], cwd=ROOT, env=srv.env, timeout=60
        ).returncode
        == 0
    )
    [(is_superuser, is_staff, email)] = query(
        database, "SELECT is_superuser, is_staff, email FROM auth_user WHERE username = %s", "boss"
    )
    assert is_superuser and is_staff and email == "boss@example.com"

    health = httpx2.get(f"{srv.base}/healthz", timeout=5)
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "database": "ok", "channel_layer": "ok"}
    probe = subprocess.run(
        [sys.executable, "docker/healthcheck.py", f"{srv.base}/healthz"],
        cwd=ROOT,
        env=srv.env,
        capture_output=True,
        timeout=30,
    )
    assert probe.returncode == 0, probe.stderr

    with httpx2.Client(base_url=srv.base, timeout=10) as client:
        # The collected, hashed static files are served by servestatic.
        page = client.get("/accounts/login/")
        stylesheet = re.search(r'href="(/static/[^"]+\.[0-9a-f]{12}\.css)"', page.text)
        assert stylesheet, page.text[:500]
        assert client.get(stylesheet.group(1)).status_code == 200
        # The admin signs in to the admin site, through the site's sign-in (two-factor aware).
        page = client.get("/admin/login/?next=/admin/", follow_redirects=True)
        assert str(page.url).endswith("/accounts/login/?next=%2Fadmin%2F"), page.url
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        response = client.post(
            "/accounts/login/?next=/admin/",
            data={
                "login": "boss",
                "password": ADMIN["DJANGO_SUPERUSER_PASSWORD"],
                "csrfmiddlewaretoken": token,
                "next": "/admin/",
            },
        )
        assert response.status_code == 302 and response.headers["location"] == "/admin/"
        # A new admin has no second factor yet: setting one up comes before anything else.
        admin = client.get("/admin/")
        assert admin.status_code == 302
        assert admin.headers["location"] == "/accounts/2fa/totp/activate/"
    srv.stop()

    # A second start on the same database: nothing to migrate, the admin exists, it still runs.
    again = srv.entrypoint(sys.executable, "-c", "print('the command ran')")
    assert again.returncode == 0, again.stderr
    assert "No migrations to apply." in again.stdout
    assert "the admin boss exists already" in again.stdout
    assert again.stdout.rstrip().endswith("the command ran")
    assert query(database, "SELECT count(*) FROM auth_user") == [(1,)]

    # A scaled replica skips the step; the command still runs.
    replica = srv.entrypoint(sys.executable, "-c", "print('replica')", DJANGO_MIGRATE="false")
    assert replica.returncode == 0, replica.stderr
    assert "Applying" not in replica.stdout and "replica" in replica.stdout


def test_entrypoint_gives_up_when_the_database_never_answers(tmp_path, services_up):
    srv = EntrypointServer(tmp_path, "postgres://postgres@127.0.0.1:1/nowhere")
    result = srv.entrypoint(
        sys.executable, "-c", "print('must not run')", DJANGO_DATABASE_WAIT_SECONDS="2"
    )
    assert result.returncode == 1
    assert "must not run" not in result.stdout
    assert "did not answer within 2s" in result.stderr


@pytest.mark.asyncio
async def test_a_watch_through_another_process_gets_snapshot_and_rest_with_no_gap(
    tmp_path, database, servers
):
    # Checkpoints far apart: a snapshot this far along can only come from the owning process
    # (given time to answer on a busy machine, rather than falling back to the checkpoint).
    tuning = {
        "DIARY_OFFLINE_DELAY": "0.03",
        "DIARY_CHECKPOINT_SECONDS": "5",
        "DIARY_SNAPSHOT_TIMEOUT": "10",
    }
    first = servers(tmp_path / "a", database, **tuning)
    first.collectstatic()
    first.start()
    first.create_user()
    second = servers(tmp_path / "b", database, DJANGO_MIGRATE="false", **tuning)
    second.start()
    assert "no migrations here" in second.output()
    cookie = first.login()  # the session lives in PostgreSQL: good on both

    async with first.socket(cookie) as ws_a, second.socket(cookie) as ws_b:
        await ws_a.send(json.dumps(INPUTS))
        started = (await frames_until(ws_a, "started"))[-1]
        entry_id = started["entry"]
        seen_by_a = [started]
        for _ in range(6):
            seen_by_a += await frames_until(ws_a, "delta")
        await ws_b.send(json.dumps({"action": "watch", "entry": entry_id}))
        rest_of_a, seen_by_b = await asyncio.gather(
            frames_until(ws_a, "done", timeout=60), frames_until(ws_b, "done", timeout=60)
        )
    seen_by_a += rest_of_a

    snapshot = next(f for f in seen_by_b if f["type"] == "snapshot")
    assert snapshot["status"] == "generating" and snapshot["seq"] >= 6
    deltas = [f for f in seen_by_b if f["type"] == "delta"]
    seqs = [f["seq"] for f in deltas]
    assert seqs == list(range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(seqs)))
    done = seen_by_b[-1]
    assert done["status"] == "done"
    assert snapshot["text"] + "".join(f["text"] for f in deltas) == done["text"]
    a_deltas = [f for f in seen_by_a if f["type"] == "delta"]
    assert [f["seq"] for f in a_deltas] == list(range(1, len(a_deltas) + 1))
    assert "".join(f["text"] for f in a_deltas) == done["text"] == seen_by_a[-1]["text"]

    status, text, seq = latest_generation(database, entry_id, tmp_path / "keys.sqlite3")
    assert (status, text, seq) == ("done", done["text"], a_deltas[-1]["seq"])
    [(entry_text,)] = query(database, "SELECT text FROM diaries_diaryentry WHERE id = %s", entry_id)
    assert open_as_server(entry_text, tmp_path / "keys.sqlite3") == text and "herons" in text


@pytest.mark.asyncio
async def test_cancel_through_another_process_stops_the_generation(tmp_path, database, servers):
    tuning = {"DIARY_OFFLINE_DELAY": "0.03"}
    first = servers(tmp_path / "a", database, **tuning)
    first.collectstatic()
    first.start()
    first.create_user()
    second = servers(tmp_path / "b", database, DJANGO_MIGRATE="false", **tuning)
    second.start()
    cookie = first.login()

    async with first.socket(cookie) as ws_a, second.socket(cookie) as ws_b:
        await ws_a.send(json.dumps(INPUTS))
        entry_id = (await frames_until(ws_a, "started"))[-1]["entry"]
        for _ in range(4):
            await frames_until(ws_a, "delta")
        await ws_b.send(json.dumps({"action": "cancel", "entry": entry_id}))
        done_a, done_b = await asyncio.gather(
            frames_until(ws_a, "done", timeout=30), frames_until(ws_b, "done", timeout=30)
        )
    assert done_a[-1]["status"] == done_b[-1]["status"] == "cancelled"
    status, text, _seq = latest_generation(database, entry_id, tmp_path / "keys.sqlite3")
    assert status == "cancelled" and text == done_a[-1]["text"] == done_b[-1]["text"]
    # The owning process stopped writing: nothing comes after the saved end.
    await asyncio.sleep(0.5)
    assert latest_generation(database, entry_id, tmp_path / "keys.sqlite3")[1] == text


@pytest.mark.asyncio
async def test_a_diary_written_through_the_server_is_nowhere_in_a_pg_dump(
    tmp_path, database, servers
):
    """The server's checkpoints (many here) and its end write ciphertext only: a pg_dump of the
    diary database holds no word of the notes nor of the text written from them."""
    word = "Heronry" + secrets.token_hex(5)
    srv = servers(
        tmp_path / "a", database, DIARY_OFFLINE_DELAY="0.02", DIARY_CHECKPOINT_SECONDS="0.2"
    )
    srv.collectstatic()
    srv.start()
    srv.create_user()
    cookie = srv.login()

    async with srv.socket(cookie) as ws:
        await ws.send(json.dumps({**INPUTS, "morning": f"watched {word} by the river"}))
        done = (await frames_until(ws, "done", timeout=60))[-1]

    assert done["status"] == "done" and word in done["text"]
    parts = urlsplit(database)
    dump = subprocess.run(
        [
            "pg_dump",
            "-h",
            parts.hostname,
            "-p",
            str(parts.port),
            "-U",
            parts.username,
            parts.path.strip("/"),
        ],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    assert b"diaries_generation" in dump and b"diarist" in dump  # the right database
    assert word.encode() not in dump and b"budget" not in dump


class Proxy(NginxProxy):
    """docker/nginx.conf in front of daphne processes, as compose runs it
    (tests/support/nginx.py); signing in and opening a socket work through it as against
    daphne itself."""

    login = Server.login
    socket = Server.socket


@pytest.fixture
def nginx_available() -> None:
    if nginx_binary() is not None:
        return
    if os.environ.get("CI"):
        pytest.fail("nginx is not installed; .ci/run installs it (apt nginx)", pytrace=False)
    pytest.skip("nginx not installed (apt-get install nginx)")


@pytest.mark.asyncio
async def test_the_proxy_config_spreads_requests_and_passes_the_socket(
    tmp_path, database, servers, nginx_available
):
    first = servers(tmp_path / "a", database, DIARY_OFFLINE_DELAY="0.02")
    first.collectstatic()
    first.start()
    first.create_user()
    second = servers(tmp_path / "b", database, DJANGO_MIGRATE="false", DIARY_OFFLINE_DELAY="0.02")
    second.start()
    proxy = Proxy(tmp_path / "proxy", [first.port, second.port])
    proxy.start()
    try:
        for _ in range(4):
            assert httpx2.get(f"{proxy.base}/healthz", timeout=5).status_code == 200
        assert set(proxy.upstreams()) == {f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}"}

        # Sign in and write through the proxy: each socket lands on one replica or the other.
        cookie = proxy.login()
        async with proxy.socket(cookie) as ws, proxy.socket(cookie) as watcher:
            await ws.send(json.dumps(INPUTS))
            entry_id = (await frames_until(ws, "started"))[-1]["entry"]
            await frames_until(ws, "delta")
            await watcher.send(json.dumps({"action": "watch", "entry": entry_id}))
            frames, watched = await asyncio.gather(
                frames_until(ws, "done", timeout=60), frames_until(watcher, "done", timeout=60)
            )
    finally:
        proxy.stop()
    assert frames[-1]["status"] == "done"
    assert (
        frames[-1]["text"]
        == watched[-1]["text"]
        == latest_generation(database, entry_id, tmp_path / "keys.sqlite3")[1]
    )
    log = (proxy.workdir / "access.log").read_text()
    assert log.count(' 101 "GET /ws/diary/ ') == 2  # both handshakes upgraded through nginx
