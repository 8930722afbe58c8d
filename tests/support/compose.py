"""docker-compose.yml run for real by the compose tier: the project, its containers and their
logs, and a browser's way in through the proxy's published port (sign-up with CSRF, sockets).

Which replica served a socket or a generation is read from that container's own log: daphne's
access log (`WSCONNECT /ws/diary/`) and the `diaries` logger (`generation N ended STATUS`).
Nothing is added to the application for it.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import httpx2
from websockets.asyncio.client import connect

from .servers import ROOT, form_signup, free_port

# What reaches docker-compose from the test's environment: the engine's address and the tools'
# own settings, never the test run's Django or diary settings (the stack must run on its
# defaults, as on a laptop with no `.env`).
_PASSED_ON = (
    "PATH",
    "HOME",
    "LANG",
    "DOCKER_HOST",
    "DOCKER_CONFIG",
    "DOCKER_CONTEXT",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS_VERIFY",
    "XDG_RUNTIME_DIR",
    "TMPDIR",
)


def compose_command() -> list[str] | None:
    """Debian's docker-compose (1.29), else the Compose v2 plugin; None without either."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and _runs(["docker", "compose", "version"]):
        return ["docker", "compose"]
    return None


def _runs(command: list[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def engine_missing() -> str | None:
    """Why the compose tier cannot run here, or None."""
    if shutil.which("docker") is None:
        return "no docker client on PATH"
    if compose_command() is None:
        return "neither docker-compose nor `docker compose` is installed"
    if not _runs(["docker", "info"]):
        return "no Docker engine answers (`docker info` fails): start dockerd"
    return None


class Stack:
    """One compose project of docker-compose.yml, published on a free loopback port."""

    def __init__(self, project: str, workdir: Path, **env: str) -> None:
        self.project = project
        self.port = free_port()
        env_file = workdir / "empty.env"  # no `.env`: the stack on its defaults
        env_file.write_text("")
        self.command = [
            *(compose_command() or ["docker-compose"]),
            "--project-name",
            project,
            "--project-directory",
            str(ROOT),
            "--file",
            str(ROOT / "docker-compose.yml"),
            "--env-file",
            str(env_file),
        ]
        self.env = {key: os.environ[key] for key in _PASSED_ON if key in os.environ}
        self.env.update(COMPOSE_HTTP_TIMEOUT="300", NIKKI_PORT=str(self.port), **env)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- the engine -------------------------------------------------------------------------

    def run(self, *args: str, timeout: float = 600, check: bool = True) -> str:
        result = subprocess.run(
            [*self.command, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} exited {result.returncode}\n{result.stdout[-3000:]}"
                f"\n{result.stderr[-3000:]}"
            )
        return result.stdout + result.stderr

    @staticmethod
    def docker(*args: str, timeout: float = 300) -> str:
        result = subprocess.run(
            ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {result.stderr[-2000:]}")
        return result.stdout

    def containers(self, service: str) -> list[str]:
        """The ids of the service's running containers."""
        ids = self.run("ps", "-q", service).split()
        return [cid for cid in ids if self.state(cid) == "running"]

    def state(self, cid: str) -> str:
        return self.docker("inspect", "--format", "{{.State.Status}}", cid).strip()

    def health(self, cid: str) -> str:
        return self.docker("inspect", "--format", "{{.State.Health.Status}}", cid).strip()

    def name(self, cid: str) -> str:
        return self.docker("inspect", "--format", "{{.Name}}", cid).strip().lstrip("/")

    def logs(self, cid: str) -> str:
        result = subprocess.run(
            ["docker", "logs", cid], capture_output=True, text=True, timeout=60, check=False
        )
        return result.stdout + result.stderr

    def wait_healthy(self, service: str, count: int, timeout: float = 240) -> list[str]:
        """Wait until `count` containers of `service` run and their HEALTHCHECK says healthy."""
        deadline = time.monotonic() + timeout
        while True:
            ids = self.containers(service)
            if len(ids) == count and all(self.health(cid) == "healthy" for cid in ids):
                return ids
            if time.monotonic() > deadline:
                states = {self.name(c): self.health(c) for c in ids}
                raise AssertionError(f"{service}: {states}, not {count} healthy")
            time.sleep(2)

    def wait_http(self, path: str = "/healthz", timeout: float = 240) -> float:
        """Seconds until `path` answers 200 through the proxy."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                if httpx2.get(self.base + path, timeout=5).status_code == 200:
                    return time.monotonic() - started
            except httpx2.HTTPError:
                pass
            time.sleep(1)
        raise AssertionError(f"{path} did not answer 200 through the proxy in {timeout:.0f} s")

    # --- which replica served ---------------------------------------------------------------

    def socket_counts(self) -> dict[str, int]:
        """Diary sockets each running web replica has accepted (daphne's access log)."""
        return {
            cid: self.logs(cid).count('"WSCONNECT /ws/diary/"') for cid in self.containers("web")
        }

    def generation_replica(self, generation_id: int, status: str) -> str:
        """The web replica whose log says it ended generation `generation_id` with `status`."""
        line = re.compile(rf"generation {generation_id} ended {status}\b")
        found = [cid for cid in self.run("ps", "-q", "web").split() if line.search(self.logs(cid))]
        assert len(found) == 1, f"generation {generation_id} ended {status} in {found}"
        return found[0]

    # --- a browser's way in -----------------------------------------------------------------

    def client(self) -> httpx2.Client:
        return httpx2.Client(base_url=self.base, timeout=30, headers={"Origin": self.base})

    def signup(self, username: str) -> str:
        """Sign up through the proxy with the page's form and its CSRF token; the cookie."""
        with self.client() as client:
            return form_signup(client, username)

    def page(self, cookie: str, path: str) -> httpx2.Response:
        with self.client() as client:
            return client.get(path, headers={"Cookie": cookie})

    async def socket(self, cookie: str):
        """A diary socket through the proxy, and the web replica that accepted it."""
        before = await asyncio.to_thread(self.socket_counts)
        ws = await connect(
            f"ws://127.0.0.1:{self.port}/ws/diary/",
            additional_headers={"Origin": self.base, "Cookie": cookie},
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            after = await asyncio.to_thread(self.socket_counts)
            grown = [cid for cid, n in after.items() if n > before.get(cid, 0)]
            if len(grown) == 1:
                return ws, grown[0]
            assert len(grown) < 2, "another diary socket was opened meanwhile"
            await asyncio.sleep(0.2)
        await ws.close()
        raise AssertionError("no web replica logged the socket")
