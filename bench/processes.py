"""The bench's processes: the paced upstream (bench/upstream.py) and daphne serving Nikki or the
naive app, each on 127.0.0.1 with its own SQLite file; the production shape (daphnes on
PostgreSQL and a private Redis behind the repo's nginx config); and what /proc says about a
process."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2
import psycopg
from cryptography.fernet import Fernet
from psycopg import sql

from tests.support.nginx import NginxProxy
from tests.support.servers import RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PASSWORD = "bench-diary-passphrase-42"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
# The servers' encryption key, one per bench run (its diaries are thrown away with it).
BENCH_ENCRYPTION_KEY = Fernet.generate_key().decode()


def proc_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found.extend(int(c) for c in f.read().split())
    return found


def tree_cpu(pid: int) -> float:
    """CPU of a process, of the children it has reaped, and of its live descendants (seconds).

    The difference between two readings is what the tree spent in between, children that came
    and went included (a PostgreSQL backend per connection)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = sum(int(x) for x in fields[11:15]) / CLK_TCK  # utime stime cutime cstime
    return own + sum(tree_cpu(child) for child in _children(pid))


def proc_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE_KB


def send_queue_bytes(port: int) -> int:
    """Bytes the kernel holds unsent on the server's side of connections to `port` (ss)."""
    try:
        out = subprocess.run(
            ["ss", "-tnH", "state", "established", f"( sport = :{port} )"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except OSError:
        return 0
    total = 0
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[1].isdigit():
            total += int(fields[1])
    return total


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


class Upstream:
    """bench/upstream.py as its own process, and the send-time log it writes."""

    def __init__(self, workdir: Path, rate: float) -> None:
        self.log_path = workdir / "upstream.jsonl"
        self.rate = rate
        self.proc: subprocess.Popen | None = None
        self.base_url = ""
        self._offset = 0
        self.entries: dict[str, dict[str, Any]] = {}

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                PY,
                str(ROOT / "bench" / "upstream.py"),
                "--log",
                str(self.log_path),
                "--tokens-per-second",
                str(self.rate),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"upstream did not start: {line!r}")
        self.base_url = line.split()[-1]

    def read(self) -> None:
        """Pick up the log lines written since the last read."""
        if not self.log_path.exists():
            return
        with open(self.log_path) as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind("\n") + 1
        self._offset += len(data[:end].encode())
        for line in data[:end].splitlines():
            entry = json.loads(line)
            self.entries[entry["tag"]] = entry

    async def wait_for(self, tags: list[str], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read()
            if all(t in self.entries for t in tags):
                return
            await asyncio.sleep(0.1)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> str:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                out, _ = self.proc.communicate(timeout=10)
                return out.strip()
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return ""


class Daphne:
    """One daphne serving Nikki (as deployed) or the naive app, with its users and sessions."""

    def __init__(
        self,
        name: str,
        app: str,
        workdir: Path,
        upstream_url: str,
        args: argparse.Namespace,
        *,
        options: tuple[str, ...] = (),
        **env: str,
    ) -> None:
        self.name = name
        self.app = app
        self.options = options  # more of daphne's options, e.g. --proxy-headers
        # Nikki runs as deployed (daphne on uvloop, diary_project/serve.py); the naive path on
        # daphne as it comes.
        self.module = "daphne" if name == "naive" else "diary_project.serve"
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.env = {
            **os.environ,
            "DJANGO_SECRET_KEY": "bench-only-secret-key-" + "x" * 40,
            "DATABASE_URL": f"sqlite:///{self.dir / 'bench.sqlite3'}",
            "KEYS_DATABASE_URL": f"sqlite:///{self.dir / 'keys.sqlite3'}",
            "NIKKI_ENCRYPTION_KEYS": BENCH_ENCRYPTION_KEY,
            "DJANGO_STATIC_ROOT": str(self.dir / "static"),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DIARY_WRITER": "openai",
            "OPENAI_BASE_URL": upstream_url,
            "OPENAI_API_KEY": "sk-bench-not-a-real-key",
            "OPENAI_MODEL": "bench-model",
            "OPENAI_MAX_RETRIES": "0",
            "DIARY_MAX_TOKENS": "100000",
            "DIARY_MAX_TEXT_CHARS": "10000000",  # the writer's own stop: never in the bench
            "DIARY_DAILY_GENERATIONS": "1000000",
            "DIARY_MAX_RUNNING_PER_USER": "1000",
            "DIARY_MESSAGES_PER_SECOND": "1000",
            "DIARY_MESSAGE_BURST": "1000",
            "DIARY_FLUSH_MS": str(args.flush_ms),
            **env,
        }
        for name_ in ("DJANGO_DEBUG", "REDIS_URL", "DJANGO_SETTINGS_MODULE"):
            if name_ not in env:
                self.env.pop(name_, None)
        self.proc: subprocess.Popen | None = None
        self.sessions: list[str] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *args: str) -> str:
        return subprocess.run(
            [PY, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout

    def prepare(self, users: int) -> None:
        """Migrate, then make `users` users, each with a signed-in session (one hash for all)."""
        self.manage("migrate", "--database", "keys", "--noinput")
        self.manage("migrate", "--noinput")
        self.manage("collectstatic", "--noinput")
        script = f"""
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
digest = make_password({PASSWORD!r})
User.objects.bulk_create(
    [User(username=f"bench{{i:05d}}", password=digest) for i in range({users})]
)
keys = []
for user in User.objects.filter(username__startswith="bench").order_by("username")[1:]:
    s = SessionStore()
    s[SESSION_KEY] = str(user.pk)
    s[BACKEND_SESSION_KEY] = "allauth.account.auth_backends.AuthenticationBackend"
    s[HASH_SESSION_KEY] = user.get_session_auth_hash()
    s.create()
    keys.append(s.session_key)
print(json.dumps(keys))
"""
        out = self.manage("shell", "-c", script)
        self.sessions = json.loads(out.strip().splitlines()[-1])

    def start(self) -> None:
        self.log = open(self.dir / f"daphne-{self.port}.log", "w")
        bind = ("-b", "127.0.0.1", "-p", str(self.port))
        self.proc = subprocess.Popen(
            [PY, "-m", self.module, *bind, *self.options, self.app],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx2.HTTPError):
                if httpx2.get(f"{self.base}/__bench__/stats", timeout=1).status_code == 200:
                    break
            if self.proc.poll() is not None:
                raise RuntimeError(f"daphne {self.name} exited at start; see {self.log.name}")
            time.sleep(0.1)
        else:
            raise RuntimeError(f"daphne {self.name} did not start")
        # One real sign-in over HTTP (the first user); the others use sessions made above.
        with httpx2.Client(base_url=self.base) as client:
            page = client.get("/accounts/login/")
            token = page.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
            response = client.post(
                "/accounts/login/",
                data={"login": "bench00000", "password": PASSWORD, "csrfmiddlewaretoken": token},
            )
            if response.status_code != 302:
                raise RuntimeError(f"sign-in failed: {response.status_code}")
            self.sessions.insert(0, client.cookies["sessionid"])

    def cookie(self, i: int) -> str:
        return f"sessionid={self.sessions[i % len(self.sessions)]}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu(self) -> float:
        return proc_cpu(self.pid)

    def rss_kb(self) -> int:
        return proc_rss_kb(self.pid)

    async def stats(self) -> dict[str, Any]:
        async with httpx2.AsyncClient() as client:
            return (await client.get(f"{self.base}/__bench__/stats", timeout=10)).json()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc:
            self.log.close()


class PostgresDatabase:
    """A database of the bench's own on a PostgreSQL server (dropped first if left over)."""

    def __init__(self, server_url: str, name: str) -> None:
        self.server_url = server_url
        self.name = name
        parts = urlsplit(server_url)
        self.url = urlunsplit(parts._replace(path=f"/{name}"))

    def _run(self, statement: sql.Composable) -> None:
        with psycopg.connect(self.server_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(statement)

    def create(self) -> None:
        self.drop()
        self._run(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))

    def drop(self) -> None:
        self._run(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
        )

    def postmaster_pid(self) -> int | None:
        """The server's main process, if it runs on this machine (for its CPU)."""
        with psycopg.connect(self.url, connect_timeout=5) as conn:
            backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        try:
            with open(f"/proc/{backend}/stat") as f:
                return int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            return None


class Deployment:
    """The production shape: `count` daphnes (`python -m diary_project.serve --proxy-headers`)
    on one PostgreSQL database and a private Redis (`CHANNEL_LAYER=pubsub`), behind nginx with
    docker/nginx.conf. Clients connect to nginx; CPU is counted per kind of process."""

    def __init__(self, name: str, count: int, workdir: Path, upstream_url: str, args) -> None:
        self.name = name
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.redis = RedisServer(self.dir)
        self.database = PostgresDatabase(args.pg_url, f"{args.pg_prefix}_{name}")
        env = {
            "DATABASE_URL": self.database.url,
            # One key store for the cluster's daphnes, as they share the diary's database.
            "KEYS_DATABASE_URL": f"sqlite:///{self.dir / 'keys.sqlite3'}",
            "CHANNEL_LAYER": "pubsub",
            "DJANGO_STATIC_ROOT": str(self.dir / "static"),
            **dict(kv.split("=", 1) for kv in args.nikki_env),
        }
        self.daphnes = [
            Daphne(
                f"{name}-{i}",
                "bench.nikki_asgi:application",
                self.dir,
                upstream_url,
                args,
                options=("--proxy-headers",),
                REDIS_URL=self.redis.url,
                **env,
            )
            for i in range(count)
        ]
        self.proxy: NginxProxy | None = None
        self.postmaster: int | None = None

    def start(self, users: int) -> None:
        self.redis.start()
        self.database.create()
        self.postmaster = self.database.postmaster_pid()
        first = self.daphnes[0]
        first.prepare(users)
        for daphne in self.daphnes:
            daphne.start()
        self.proxy = NginxProxy(self.dir / "nginx", [d.port for d in self.daphnes])
        self.proxy.start()

    @property
    def port(self) -> int:
        assert self.proxy is not None
        return self.proxy.port

    @property
    def pid(self) -> int:
        return self.daphnes[0].pid

    def cookie(self, i: int) -> str:
        return self.daphnes[0].cookie(i)

    def cpu(self) -> float:
        return sum(d.cpu() for d in self.daphnes)

    def services_cpu(self) -> dict[str, float]:
        """CPU of the other processes: nginx (master and workers), Redis, and the PostgreSQL
        server as a whole (its backends come and go with Django's connections)."""
        assert self.proxy is not None and self.redis.proc is not None
        out = {"nginx": tree_cpu(self.proxy.pid), "redis": tree_cpu(self.redis.proc.pid)}
        if self.postmaster:
            out["postgres"] = tree_cpu(self.postmaster)
        return out

    def rss_kb(self) -> int:
        return sum(d.rss_kb() for d in self.daphnes)

    async def stats(self) -> dict[str, Any]:
        """The daphnes' counters, added up."""
        total: dict[str, Any] = {"sql_writes": {}, "calls": {}}
        for daphne in self.daphnes:
            stats = await daphne.stats()
            for key in ("sql_writes", "calls"):
                for name, count in stats[key].items():
                    total[key][name] = total[key].get(name, 0) + count
        return total

    def stop(self) -> None:
        if self.proxy:
            self.proxy.stop()
        for daphne in self.daphnes:
            daphne.stop()
        self.redis.stop()
        with contextlib.suppress(psycopg.Error):
            self.database.drop()
