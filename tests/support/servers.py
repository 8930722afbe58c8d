"""Local helper servers shared by the live tests, the fault tests and the benchmark: a real
daphne as deployed (`Server`), a private Redis, raw WebSocket clients, and the small helpers the
live tiers share (the inputs of a generation, reading frames, waiting, recording figures)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import select
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from .paths import ROOT
from .sealed import open_as_server

PASSWORD = "a-long-diary-passphrase-42"


# A generation's inputs as the socket takes them.
INPUTS = {
    "action": "generate",
    "morning": "walked the dog along the river and watched the herons",
    "afternoon": "long meeting about the budget, then coffee with Ken",
    "evening": "cooked curry and read a novel until late",
    "tone": "reflective",
    "language": "en",
}


def daphne_command(port: int) -> list[str]:
    """daphne as it is deployed (`python -m diary_project.serve`: on uvloop), on 127.0.0.1;
    the ASGI application and any other daphne option follow."""
    return [sys.executable, "-m", "diary_project.serve", "-b", "127.0.0.1", "-p", str(port)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A private redis-server that a test may stop and start again on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self._answers():
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def _answers(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), 1) as s,
        ):
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def wait_healthy(
    base: str, proc: subprocess.Popen, *, timeout: float = 30, details=lambda: ""
) -> None:
    """Wait until a started server answers /healthz with 200; fail at once if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx2.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        if proc.poll() is not None:
            raise AssertionError(f"the server exited at start\n{details()}")
        time.sleep(0.1)
    raise AssertionError(f"the server did not answer /healthz\n{details()}")


def record(name: str, **figures) -> None:
    """Keep a measured figure for the issue notes (test-artifacts/faults.json)."""
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    path = artifacts / "faults.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = figures
    path.write_text(json.dumps(data, indent=2))


async def frames_until(ws, frame_type: str, timeout: float = 10) -> list[dict]:
    seen = []
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            seen.append(frame)
            if frame["type"] == frame_type:
                return seen


async def close_code(ws) -> int:
    """Read a real client's socket until the server closes it; the close code received."""
    async with asyncio.timeout(10):
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, f"no close frame: {closed!r}"
            return closed.rcvd.code


def wait_for(predicate, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def form_signup(client: httpx2.Client, username: str) -> str:
    """Sign up with the page's form and its CSRF token through `client` (its base URL the
    site's), as a browser does; the session cookie."""
    page = client.get("/accounts/signup/")
    assert page.status_code == 200, page.status_code
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = client.post(
        "/accounts/signup/",
        data={
            "username": username,
            "password1": PASSWORD,
            "password2": PASSWORD,
            "csrfmiddlewaretoken": token,
        },
        headers={"Referer": str(client.base_url).rstrip("/") + "/accounts/signup/"},
    )
    assert response.status_code == 302, response.text[:500]
    return f"sessionid={client.cookies['sessionid']}"


def keys_file_for(workdir: Path, env: dict[str, str]) -> Path:
    """The key store of a server: beside its SQLite file, or, on a database server, one per
    diary database, shared by the servers of sibling work directories that share it."""
    database = env["DATABASE_URL"]
    if database.startswith("sqlite:"):
        return workdir / "keys.sqlite3"
    return workdir.parent / f"keys-{urlsplit(database).path.strip('/')}.sqlite3"


class Server:
    manage_timeout = 60

    def __init__(self, workdir: Path, **env: str) -> None:
        self.workdir = workdir
        self.db_path = workdir / "live.sqlite3"
        self.port = free_port()
        self.env = {
            **os.environ,
            "DJANGO_SECRET_KEY": "live-test-secret-key-" + "x" * 40,
            "DATABASE_URL": f"sqlite:///{self.db_path}",
            "DJANGO_STATIC_ROOT": str(workdir / "static"),
            "DIARY_WRITER": "offline",
            "DIARY_OFFLINE_DELAY": "0.03",
            "DIARY_CHECKPOINT_SECONDS": "0.5",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            # Every test signs up from 127.0.0.1: more than one address's hourly allowance.
            "DIARY_SIGNUPS_PER_HOUR": "1000",
            **env,
        }
        self.env.pop("DJANGO_DEBUG", None)
        if "KEYS_DATABASE_URL" not in env:
            self.env["KEYS_DATABASE_URL"] = f"sqlite:///{keys_file_for(workdir, self.env)}"
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=self.manage_timeout,
        )
        return result.stdout

    def migrate(self) -> None:
        """Both databases, the key store first (the diary's migrations use it)."""
        self.manage("migrate", "--database", "keys", "--noinput")
        self.manage("migrate", "--noinput")

    def prepare(self, username: str = "diarist") -> None:
        self.migrate()
        self.manage("collectstatic", "--noinput")
        self.manage(
            "shell",
            "-c",
            "from django.contrib.auth.models import User; "
            f"User.objects.create_user('{username}', password='{PASSWORD}')",
        )

    def start(self) -> None:
        self.log = open(self.workdir / f"daphne-{self.port}.log", "w")
        self.proc = subprocess.Popen(
            [*daphne_command(self.port), "diary_project.asgi:application"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_healthy(self.base, self.proc)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc:
            self.log.close()

    def login(self, username: str = "diarist") -> str:
        with httpx2.Client(base_url=self.base) as client:
            page = client.get("/accounts/login/")
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
            response = client.post(
                "/accounts/login/",
                data={"login": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
            )
            assert response.status_code == 302, response.text[:500]
            return f"sessionid={client.cookies['sessionid']}"

    def signup(self, username: str) -> str:
        """Sign up through the page's form, as a newcomer does; the session cookie."""
        with httpx2.Client(base_url=self.base) as client:
            return form_signup(client, username)

    def socket(self, cookie: str, **options):
        return connect(
            f"ws://127.0.0.1:{self.port}/ws/diary/",
            additional_headers={"Origin": self.base, "Cookie": cookie},
            **options,
        )

    def query(self, sql: str, *params) -> list[tuple]:
        with sqlite3.connect(self.db_path, timeout=10) as db:
            return db.execute(sql, params).fetchall()

    def opened(self, stored: str) -> str:
        """A text as this server stores it (sealed for its owner), read as the server reads it."""
        keys = Path(self.env["KEYS_DATABASE_URL"].removeprefix("sqlite:///"))
        return open_as_server(stored, keys) if stored else stored

    def generation(self, entry_id: int) -> tuple[str, str, int]:
        [(status, text, seq)] = self.query(
            "SELECT status, text, seq FROM diaries_generation WHERE entry_id = ? "
            "ORDER BY id DESC LIMIT 1",
            entry_id,
        )
        return status, self.opened(text), seq


def vm_rss(pid: int) -> int:
    """A process's resident memory in bytes (VmRSS in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


class RawWebSocket:
    """A WebSocket client on a plain socket: it completes the handshake, writes the frames it is
    told to, and reads nothing afterwards (what a client that stopped reading looks like)."""

    def __init__(self, srv: Server, cookie: str, *, rcvbuf: int = 4096) -> None:
        self.sock = socket.socket()
        # A small receive buffer (the kernel doubles it): the server's bytes back up quickly.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", srv.port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /ws/diary/ HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: {srv.base}\r\nCookie: {cookie}\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:  # the 101 response, byte by byte: nothing more is read
            byte = self.sock.recv(1)
            assert byte, "closed during the handshake"
            head += byte
        assert b" 101 " in head.split(b"\r\n", 1)[0], head

    @staticmethod
    def frame(opcode: int, payload: bytes) -> bytes:
        """One final, masked client frame."""
        n = len(payload)
        if n < 126:
            head = bytes((0x80 | opcode, 0x80 | n))
        elif n < 65536:
            head = bytes((0x80 | opcode, 0xFE)) + n.to_bytes(2, "big")
        else:
            head = bytes((0x80 | opcode, 0xFF)) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

    def write(self, data: bytes, timeout: float = 5) -> bool:
        """Write bytes; False if the server dropped the connection (or stopped reading)."""
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(data)
        except (ConnectionResetError, BrokenPipeError, TimeoutError):
            return False
        return True

    def reset_by_server(self) -> bool:
        """True once the server has dropped the connection (RST: POLLERR / POLLHUP)."""
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        return any(mask & (select.POLLERR | select.POLLHUP) for _, mask in poller.poll(0))

    def close(self) -> None:
        self.sock.close()
