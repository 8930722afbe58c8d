"""The streaming benchmark: Nikki's path against the naive path, on this machine.

    make bench                       # the full run (about 10 minutes)
    make bench BENCH_ARGS=--quick    # about 2 minutes
    .venv/bin/python bench/stream_bench.py --help

Three kinds of process share the machine, as in the issue: the paced OpenAI-compatible upstream
(bench/upstream.py, built on tests/sse_server.py: one token per chunk, each chunk its own write),
daphne serving the real app (bench/nikki_asgi.py = diary_project.asgi + counters) as deployed
(`python -m diary_project.serve`: daphne on uvloop; `--nikki-env DIARY_EVENT_LOOP=asyncio` for
the standard loop) or the naive app (bench/naive_asgi.py) on plain daphne, and this process,
which holds every WebSocket client (bench/wsclient.py). Only 127.0.0.1 is used. Each daphne gets
its own SQLite file in a temporary directory; users and their sessions are made with
`manage.py shell`, and one real sign-in over HTTP checks that path.

Phases, for each path (Nikki, then naive, each on a fresh daphne):
1. warm-up;
2. memory: K idle authenticated sockets (RSS per idle connection), then all K generate
   (RSS per active stream, at the peak);
3. one stream: a few generations at 50 tokens/s (added latency p50/p99, time to the first delta
   beyond the upstream's own time to first token), and one at 10 tokens/s, slower than the
   coalescing window, where the added latency is the path's own overhead;
4. the sweep: N concurrent streams at 50 tokens/s for growing N, until a level fails (p99 added
   latency > 100 ms, or any text lost or reordered, or any error); the largest passing N is the
   capacity. Each level also gives CPU per token, database writes per generation and bytes on the
   wire per token.
Then, for Nikki: the channel layers (RedisChannelLayer, RedisPubSubChannelLayer) at one N if
redis-server is installed, and the slow-client test (clients that stop reading while asking for
snapshots).

Added latency is measured without touching the chunks: the upstream logs the CLOCK_MONOTONIC
time of each content chunk's write; the client stamps each frame's arrival with the same clock;
tokens are distinct and fixed-length, so the received text maps back to token indices.

Output: a JSON document and Markdown tables, printed and saved under var/bench/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402

from bench.upstream import bench_tokens  # noqa: E402
from bench.wsclient import WSClient, connect  # noqa: E402
from tests.local_servers import RedisServer as Redis  # noqa: E402
from tests.local_servers import free_port  # noqa: E402

PY = sys.executable
PASSWORD = "bench-diary-passphrase-42"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# --------------------------------------------------------------------------- small helpers


def proc_cpu(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


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


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def ms(x: float | None, digits: int = 1) -> float | None:
    return None if x is None else round(x * 1000, digits)


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


# --------------------------------------------------------------------------- processes


class Upstream:
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
    def __init__(
        self,
        name: str,
        app: str,
        workdir: Path,
        upstream_url: str,
        args: argparse.Namespace,
        **env: str,
    ) -> None:
        self.name = name
        self.app = app
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
            "DJANGO_STATIC_ROOT": str(self.dir / "static"),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DIARY_WRITER": "openai",
            "OPENAI_BASE_URL": upstream_url,
            "OPENAI_API_KEY": "sk-bench-not-a-real-key",
            "OPENAI_MODEL": "bench-model",
            "OPENAI_MAX_RETRIES": "0",
            "DIARY_MAX_TOKENS": "100000",
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
    s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    s[HASH_SESSION_KEY] = user.get_session_auth_hash()
    s.create()
    keys.append(s.session_key)
print(json.dumps(keys))
"""
        out = self.manage("shell", "-c", script)
        self.sessions = json.loads(out.strip().splitlines()[-1])

    def start(self) -> None:
        self.log = open(self.dir / f"daphne-{self.port}.log", "w")
        self.proc = subprocess.Popen(
            [PY, "-m", self.module, "-b", "127.0.0.1", "-p", str(self.port), self.app],
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
                data={"username": "bench00000", "password": PASSWORD, "csrfmiddlewaretoken": token},
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


# --------------------------------------------------------------------------- one generation


@dataclass
class Stream:
    """One client's generation and what it received."""

    tag: str
    n: int
    rate: float
    ttft: float
    tlen: int
    client: WSClient | None = None
    entry: int | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)

    def message(self) -> str:
        notes = (
            f"benchtag:{self.tag}:n={self.n}:rate={self.rate:g}:ttft={self.ttft:g}:tlen={self.tlen}"
        )
        return json.dumps(
            {
                "action": "generate",
                "morning": "walked the dog along the river and watched the herons",
                "afternoon": "long meeting about the budget, then coffee with Ken",
                "evening": "cooked curry and read a novel until late",
                "notes": notes,
                "tone": "reflective",
                "language": "en",
            }
        )


def analyse(stream: Stream, upstream: dict[str, Any] | None) -> dict[str, Any]:
    """Latencies and integrity of one stream, from the client's frames and the upstream's log."""
    client = stream.client
    assert client is not None
    tokens = bench_tokens(stream.n, stream.tlen)
    expected = "".join(tokens)
    out: dict[str, Any] = {"ok": False, "latencies": [], "problems": []}
    deltas: list[tuple[float, int, str]] = []
    done = None
    # The client's view, as the protocol tells a client to build it: a snapshot replaces the
    # text; a delta with seq == last + 1 appends; seq <= last is skipped; a gap is a resync.
    view, last, resyncs, gaps = "", 0, 0, 0
    arrivals: list[tuple[float, int]] = []  # (receipt, length of the view after it)
    for at, payload in client.frames:
        frame = json.loads(payload)
        kind = frame.get("type")
        if kind == "delta":
            deltas.append((at, frame["seq"], frame["text"]))
            if frame["seq"] == last + 1:
                view += frame["text"]
                last = frame["seq"]
                arrivals.append((at, len(view)))
            elif frame["seq"] > last + 1:
                gaps += 1
        elif kind == "snapshot":
            resyncs += 1
            view, last = frame.get("text", ""), frame.get("seq", 0)
            arrivals.append((at, len(view)))
        elif kind == "done":
            done = frame
        elif kind == "error":
            stream.errors.append(frame)
        elif kind == "started":
            stream.entry = frame.get("entry")
    out["frames"] = client.rx_frames
    out["bytes"] = client.rx_bytes
    out["deltas"] = len(deltas)
    out["resyncs"] = resyncs
    if stream.errors:
        out["problems"].append("error: " + ",".join(e.get("code", "?") for e in stream.errors))
    if gaps:
        out["problems"].append("seq gap")
    if view != expected:
        out["problems"].append(f"text lost or reordered ({len(view)} of {len(expected)} chars)")
    if done is None:
        out["problems"].append("no done")
    elif done.get("text") != expected or done.get("status") != "done":
        out["problems"].append(f"done: status {done.get('status')}, text differs")
    if upstream is None:
        out["problems"].append("upstream log missing")
        return out
    sends = upstream["sends"]
    if len(sends) != stream.n:
        out["problems"].append(f"upstream sent {len(sends)} of {stream.n}")
    # Map received text to token indices: token i is complete once (i + 1) * tlen chars arrived.
    i, lat = 0, []
    for at, got in arrivals:
        while i < len(sends) and (i + 1) * stream.tlen <= got:
            lat.append(at - sends[i])
            i += 1
    out["latencies"] = lat
    if deltas and sends and client.sent_at is not None:
        first_at = deltas[0][0]
        upstream_own = sends[0] - upstream["received"]  # the upstream's own time to first token
        out["first_delta"] = first_at - client.sent_at
        out["first_delta_beyond_ttft"] = out["first_delta"] - upstream_own
        out["setup"] = upstream["received"] - client.sent_at  # generate → upstream request
        out["first_relay"] = first_at - sends[0]
    out["upstream_lag"] = upstream.get("lag", 0.0)
    out["ok"] = not out["problems"]
    return out


# --------------------------------------------------------------------------- a load level


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.upstream = Upstream(workdir, args.rate)
        self.levels = 0

    async def open_clients(self, server: Daphne, count: int, first: int = 0) -> list[WSClient]:
        clients: list[WSClient] = []
        batch = 50
        for start in range(0, count, batch):
            part = await asyncio.gather(
                *(
                    connect("127.0.0.1", server.port, server.cookie(first + i))
                    for i in range(start, min(count, start + batch))
                )
            )
            clients.extend(part)
        return clients

    @staticmethod
    async def close_clients(clients: list[WSClient]) -> None:
        for c in clients:
            c.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                await asyncio.gather(*(c.closed for c in clients))

    async def run_level(
        self,
        server: Daphne,
        n_streams: int,
        *,
        tokens: int,
        rate: float,
        ttft: float,
        tlen: int = 6,
        ramp: float | None = None,
        clients: list[WSClient] | None = None,
        label: str = "",
    ) -> dict[str, Any]:
        """N concurrent generations; everything measured about them."""
        self.levels += 1
        own_clients = clients is None
        if clients is None:
            clients = await self.open_clients(server, n_streams)
        await asyncio.sleep(0.5)
        ramp = self.args.ramp if ramp is None else ramp
        streams = [
            Stream(
                tag=f"{server.name}L{self.levels}c{i}", n=tokens, rate=rate, ttft=ttft, tlen=tlen
            )
            for i in range(n_streams)
        ]
        stats0 = await server.stats()
        rss0 = server.rss_kb()
        cpu0, up0, me0 = server.cpu(), proc_cpu(self.upstream.pid), time.process_time()
        t0 = time.monotonic()
        peak = [rss0]

        async def sample() -> None:
            while True:
                peak[0] = max(peak[0], server.rss_kb())
                await asyncio.sleep(0.2)

        sampler = asyncio.create_task(sample())
        for i, (stream, client) in enumerate(zip(streams, clients, strict=False)):
            stream.client = client
            client.frames.clear()
            client.rx_bytes = client.rx_frames = 0
            client.finished = asyncio.get_running_loop().create_future()
            if n_streams > 1 and ramp > 0:
                await asyncio.sleep(max(0.0, t0 + ramp * i / n_streams - time.monotonic()))
            client.send_text(stream.message())
        limit = ramp + ttft + tokens / rate + self.args.grace
        timed_out = False
        try:
            async with asyncio.timeout(limit):
                await asyncio.gather(*(s.client.finished for s in streams))  # type: ignore[union-attr]
        except TimeoutError:
            timed_out = True
        elapsed = time.monotonic() - t0
        cpu = server.cpu() - cpu0
        up_cpu = proc_cpu(self.upstream.pid) - up0
        me_cpu = time.process_time() - me0
        sampler.cancel()
        await asyncio.sleep(0.3)  # let `done` frames that race the timeout land
        stats1 = await server.stats()
        await self.upstream.wait_for([s.tag for s in streams], timeout=5 if not timed_out else 1)
        if own_clients:
            await self.close_clients(clients)

        results = [analyse(s, self.upstream.entries.get(s.tag)) for s in streams]
        lat = [x for r in results for x in r["latencies"]]
        relayed = len(lat)
        bad = [r for r in results if not r["ok"]]
        problems: dict[str, int] = {}
        for r in bad:
            for p in r["problems"]:
                key = p.split(" (")[0]
                problems[key] = problems.get(key, 0) + 1
        writes = {
            k: v - stats0["sql_writes"].get(k, 0)
            for k, v in stats1["sql_writes"].items()
            if v - stats0["sql_writes"].get(k, 0)
        }
        calls = {
            k: v - stats0["calls"].get(k, 0)
            for k, v in stats1["calls"].items()
            if v - stats0["calls"].get(k, 0)
        }
        total_writes = sum(writes.values())
        generation_seconds = tokens / rate
        p99 = pct(lat, 0.99)
        ok = not bad and not timed_out and p99 is not None and p99 <= self.args.p99_limit / 1000
        firsts = [r["first_delta_beyond_ttft"] for r in results if "first_delta_beyond_ttft" in r]
        setups = [r["setup"] for r in results if "setup" in r]
        relays = [r["first_relay"] for r in results if "first_relay" in r]
        frames = sum(r["frames"] for r in results)
        wire = sum(r["bytes"] for r in results)
        level = {
            "label": label or f"N={n_streams}",
            "streams": n_streams,
            "tokens_per_stream": tokens,
            "rate": rate,
            "ok": ok,
            "timed_out": timed_out,
            "failed_streams": len(bad),
            "resyncs": sum(r.get("resyncs", 0) for r in results),
            "problems": problems,
            "tokens_relayed": relayed,
            "elapsed_s": round(elapsed, 2),
            "latency_ms": {
                "p50": ms(pct(lat, 0.5)),
                "p90": ms(pct(lat, 0.9)),
                "p99": ms(p99),
                "max": ms(max(lat) if lat else None),
            },
            "first_delta_beyond_ttft_ms": {
                "p50": ms(pct(firsts, 0.5)),
                "p99": ms(pct(firsts, 0.99)),
                "setup_p50": ms(pct(setups, 0.5)),
                "relay_p50": ms(pct(relays, 0.5)),
            },
            "server_cpu_s": round(cpu, 2),
            "server_cpu_util": round(cpu / elapsed, 2) if elapsed else None,
            "server_cpu_per_token_us": round(cpu / relayed * 1e6, 1) if relayed else None,
            "upstream_cpu_util": round(up_cpu / elapsed, 2) if elapsed else None,
            "client_cpu_util": round(me_cpu / elapsed, 2) if elapsed else None,
            "frames_per_token": round(frames / relayed, 3) if relayed else None,
            "wire_bytes_per_token": round(wire / relayed, 1) if relayed else None,
            "rss_start_mb": round(rss0 / 1024, 1),
            "rss_peak_mb": round(peak[0] / 1024, 1),
            "rss_per_stream_kb": round((peak[0] - rss0) / n_streams, 1) if n_streams else None,
            "db_writes": writes,
            "db_writes_per_generation": round(total_writes / n_streams, 2) if n_streams else None,
            "service_calls": calls,
            "checkpoints_per_generation_second": round(
                (calls.get("generation_checkpoint", 0) + calls.get("generation_heartbeat", 0))
                / n_streams
                / generation_seconds,
                2,
            )
            if n_streams
            else None,
            "upstream_max_lag_ms": ms(
                max((r.get("upstream_lag", 0.0) for r in results), default=0.0)
            ),
        }
        if bad:
            level["example_problem"] = bad[0]["problems"][:3]
        level["_latencies"] = lat
        level["_firsts"] = [
            (r.get("first_delta_beyond_ttft"), r.get("setup"), r.get("first_relay"))
            for r in results
            if "first_delta_beyond_ttft" in r
        ]
        self.log_level(server.name, level)
        return level

    def log_level(self, name: str, level: dict[str, Any]) -> None:
        lat = level["latency_ms"]
        print(
            f"  [{name}] {level['label']:>10}: {'ok ' if level['ok'] else 'FAIL'} "
            f"p50 {lat['p50']} ms p99 {lat['p99']} ms, cpu {level['server_cpu_util']} "
            f"({level['server_cpu_per_token_us']} µs/token), upstream cpu "
            f"{level['upstream_cpu_util']}, clients cpu {level['client_cpu_util']}, "
            f"frames/token {level['frames_per_token']}, failed {level['failed_streams']}"
            + (f" {level['problems']}" if level["problems"] else ""),
            flush=True,
        )

    # ----------------------------------------------------------------------- the phases

    async def warm_up(self, server: Daphne) -> None:
        [client] = await self.open_clients(server, 1)
        for _ in range(2):
            await self.run_level(
                server, 1, tokens=20, rate=500, ttft=0, clients=[client], label="warm-up"
            )
        await self.close_clients([client])

    async def memory(self, server: Daphne) -> dict[str, Any]:
        k = self.args.memory_clients
        await asyncio.sleep(1)
        before = server.rss_kb()
        clients = await self.open_clients(server, k, first=1)
        await asyncio.sleep(2)
        idle = server.rss_kb()
        level = await self.run_level(
            server,
            k,
            tokens=self.args.tokens,
            rate=self.args.rate,
            ttft=self.args.ttft,
            clients=clients,
            label=f"mem N={k}",
        )
        await self.close_clients(clients)
        return {
            "idle_connections": k,
            "rss_before_mb": round(before / 1024, 1),
            "rss_idle_mb": round(idle / 1024, 1),
            "rss_per_idle_connection_kb": round((idle - before) / k, 1),
            "rss_per_active_stream_kb": level["rss_per_stream_kb"],
            "level": level,
        }

    async def single(self, server: Daphne) -> dict[str, Any]:
        [client] = await self.open_clients(server, 1)
        lat: list[float] = []
        firsts: list[float] = []
        setups: list[float] = []
        relays: list[float] = []
        levels = []
        for _ in range(self.args.single_runs):
            level = await self.run_level(
                server,
                1,
                tokens=self.args.single_tokens,
                rate=self.args.rate,
                ttft=self.args.ttft,
                clients=[client],
                label="one stream",
            )
            levels.append(level)
        for level in levels:  # pool the runs
            lat += level["_latencies"]
            for first, setup, relay in level["_firsts"]:
                firsts.append(first)
                setups.append(setup)
                relays.append(relay)
        slow = await self.run_level(
            server,
            1,
            tokens=max(10, int(self.args.slow_rate * 3)),
            rate=self.args.slow_rate,
            ttft=self.args.ttft,
            clients=[client],
            label=f"{self.args.slow_rate:g} tok/s",
        )
        await self.close_clients([client])
        return {
            "runs": len(levels),
            "latency_p50_ms": ms(pct(lat, 0.5)),
            "latency_p99_ms": ms(pct(lat, 0.99)),
            "first_delta_beyond_ttft_ms": ms(statistics.median(firsts)),
            "first_delta_beyond_ttft_max_ms": ms(max(firsts)),
            "setup_ms": ms(statistics.median(setups)),
            "first_relay_ms": ms(statistics.median(relays)),
            "below_window_rate": self.args.slow_rate,
            "below_window_latency_ms": slow["latency_ms"],
            "levels": levels,
            "below_window_level": slow,
        }

    async def sweep(self, server: Daphne, start_n: list[int]) -> dict[str, Any]:
        levels = []
        best = 0
        worst_fail = None
        for n in start_n:
            level = await self.run_level(
                server, n, tokens=self.args.tokens, rate=self.args.rate, ttft=self.args.ttft
            )
            levels.append(level)
            if level["ok"]:
                best = n
            else:
                worst_fail = n
                break
            await asyncio.sleep(1)
        if worst_fail is not None and best and self.args.refine and worst_fail - best > 25:
            mid = (best + worst_fail) // 2
            mid -= mid % 10
            await asyncio.sleep(1)
            level = await self.run_level(
                server, mid, tokens=self.args.tokens, rate=self.args.rate, ttft=self.args.ttft
            )
            levels.append(level)
            if level["ok"]:
                best = mid
        return {"max_streams": best, "first_failing": worst_fail, "levels": levels}

    async def slow_clients(self, server: Daphne) -> dict[str, Any]:
        """Clients that stop reading but keep asking for snapshots: does the server buffer?"""
        k, seconds = self.args.slow_clients, self.args.slow_seconds
        clients = await self.open_clients(server, k, first=1)
        streams = [
            Stream(tag=f"slowL{self.levels}c{i}", n=900, rate=50, ttft=0, tlen=80) for i in range(k)
        ]
        entries: list[int] = []
        for stream, client in zip(streams, clients, strict=True):
            client.send_text(stream.message())
        # Wait for each `started`, to learn the entry to watch.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(entries) < k:
            entries = []
            for client in clients:
                for _, payload in client.frames:
                    if payload.startswith(b'{"type": "started"'):
                        entries.append(json.loads(payload)["entry"])
                        break
            await asyncio.sleep(0.05)
        rss0 = server.rss_kb()
        for client in clients:
            client.pause()
        samples = []
        t0 = time.monotonic()
        asked = 0
        while time.monotonic() - t0 < seconds:
            for client, entry in zip(clients, entries, strict=False):
                if not client.closed.done():
                    client.send_text(json.dumps({"action": "watch", "entry": entry}))
                    asked += 1
            await asyncio.sleep(1 / self.args.slow_watch_rate)
            samples.append((round(time.monotonic() - t0, 1), round(server.rss_kb() / 1024, 1)))
        rss1 = server.rss_kb()
        kernel_queued = send_queue_bytes(server.port)
        # A client that does not read cannot see the server close it: read again and look.
        for client in clients:
            client.resume()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await asyncio.gather(*(c.closed for c in clients))
        closed_by_server = sum(1 for c in clients if c.closed.done())
        close_codes = sorted({c.close_code for c in clients if c.close_code is not None})
        for c in clients:
            c.abort()
        await asyncio.sleep(2)
        rss2 = server.rss_kb()
        return {
            "clients": k,
            "seconds": seconds,
            "watch_per_second_per_client": self.args.slow_watch_rate,
            "snapshots_asked": asked,
            "rss_before_mb": round(rss0 / 1024, 1),
            "rss_after_mb": round(rss1 / 1024, 1),
            "rss_growth_mb": round((rss1 - rss0) / 1024, 1),
            "growth_per_client_per_second_kb": round((rss1 - rss0) / k / seconds, 1),
            "rss_after_abort_mb": round(rss2 / 1024, 1),
            "closed_by_server": closed_by_server,
            "close_codes": close_codes,
            "kernel_send_queue_mb": round(kernel_queued / 1024 / 1024, 1),
            "samples_mb": samples[:: max(1, len(samples) // 12)],
        }

    # ----------------------------------------------------------------------- one path

    async def path(self, name: str, app: str, **env: str) -> dict[str, Any]:
        a = self.args
        server = Daphne(name, app, self.workdir, self.upstream.base_url, a, **env)
        users = max([*a.levels, a.memory_clients, a.layer_clients, a.slow_clients]) + 2
        server.prepare(users)
        server.start()
        print(f"{name}: daphne pid {server.pid} on port {server.port}", flush=True)
        try:
            await self.warm_up(server)
            result: dict[str, Any] = {"app": app}
            if not a.sweep_only:
                result["memory"] = await self.memory(server)
                await asyncio.sleep(1)
                result["single"] = await self.single(server)
                await asyncio.sleep(1)
            result["sweep"] = await self.sweep(server, a.levels)
            if name == "nikki" and a.slow_clients:
                await asyncio.sleep(1)
                result["slow_clients"] = await self.slow_clients(server)
            return result
        finally:
            server.stop()

    async def layer(self, name: str, redis: Redis, **env: str) -> dict[str, Any]:
        a = self.args
        server = Daphne(
            name,
            "bench.nikki_asgi:application",
            self.workdir,
            self.upstream.base_url,
            a,
            REDIS_URL=redis.url,
            **env,
        )
        server.prepare(a.layer_clients + 2)
        server.start()
        print(f"{name}: daphne pid {server.pid} on port {server.port}", flush=True)
        try:
            await self.warm_up(server)
            return await self.run_level(
                server, a.layer_clients, tokens=a.tokens, rate=a.rate, ttft=a.ttft
            )
        finally:
            server.stop()

    async def run(self) -> dict[str, Any]:
        a = self.args
        self.upstream.start()
        out: dict[str, Any] = {
            "machine": machine(),
            "settings": {
                "tokens_per_stream": a.tokens,
                "tokens_per_second": a.rate,
                "upstream_ttft_s": a.ttft,
                "flush_ms": a.flush_ms,
                "ramp_s": a.ramp,
                "p99_limit_ms": a.p99_limit,
                "levels": a.levels,
                "quick": a.quick,
                "nikki_env": a.nikki_env,
            },
        }
        try:
            paths = [p for p in ("nikki", "naive") if p in a.paths]
            for p in paths:
                app = (
                    "bench.nikki_asgi:application"
                    if p == "nikki"
                    else "bench.naive_asgi:application"
                )
                extra = dict(kv.split("=", 1) for kv in a.nikki_env) if p == "nikki" else {}
                out[p] = await self.path(p, app, **extra)
            if "nikki" in out and "naive" in out:
                out["ratio"] = ratios(out["nikki"], out["naive"])
            if a.layers and shutil.which("redis-server"):
                redis = Redis(self.workdir)
                redis.start()
                try:
                    out["layers"] = {
                        "RedisChannelLayer": await self.layer("redis", redis, CHANNEL_LAYER="core"),
                        "RedisPubSubChannelLayer": await self.layer(
                            "pubsub", redis, CHANNEL_LAYER="pubsub"
                        ),
                    }
                finally:
                    redis.stop()
        finally:
            out["upstream"] = self.upstream.stop()
        return out


def ratios(nikki: dict[str, Any], naive: dict[str, Any]) -> dict[str, Any]:
    def at_common(key: str) -> tuple[float | None, float | None, int | None]:
        """The figure at the largest N both paths ran and passed."""
        mine = {lv["streams"]: lv for lv in nikki["sweep"]["levels"] if lv["ok"]}
        theirs = {lv["streams"]: lv for lv in naive["sweep"]["levels"] if lv["ok"]}
        common = sorted(set(mine) & set(theirs))
        if not common:  # no level both passed: the largest both ran
            mine = {lv["streams"]: lv for lv in nikki["sweep"]["levels"]}
            theirs = {lv["streams"]: lv for lv in naive["sweep"]["levels"]}
            common = sorted(set(mine) & set(theirs))
        if not common:
            return None, None, None
        n = common[-1]
        return mine[n][key], theirs[n][key], n

    cpu_me, cpu_them, n = at_common("server_cpu_per_token_us")
    held_me, held_them = nikki["sweep"]["max_streams"], naive["sweep"]["max_streams"]
    return {
        "streams_held": round(held_me / held_them, 2) if held_them else None,
        "cpu_per_token_at_n": n,
        "cpu_per_token_naive_over_nikki": round(cpu_them / cpu_me, 2) if cpu_me else None,
        "frames_per_token_naive_over_nikki": _ratio_of(nikki, naive, "frames_per_token"),
        "wire_bytes_per_token_naive_over_nikki": _ratio_of(nikki, naive, "wire_bytes_per_token"),
    }


def _ratio_of(nikki: dict[str, Any], naive: dict[str, Any], key: str) -> float | None:
    if "memory" not in nikki or "memory" not in naive:
        return None
    a = nikki["memory"]["level"][key]
    b = naive["memory"]["level"][key]
    return round(b / a, 2) if a and b else None


# --------------------------------------------------------------------------- report


def _strip_raw(value: Any) -> None:
    """Drop the raw samples (keys starting with "_") before saving."""
    if isinstance(value, dict):
        for key in [k for k in value if isinstance(k, str) and k.startswith("_")]:
            del value[key]
        for v in value.values():
            _strip_raw(v)
    elif isinstance(value, list):
        for v in value:
            _strip_raw(v)


def markdown(out: dict[str, Any]) -> str:
    m = out["machine"]
    s = out["settings"]
    lines = [
        f"Run {m['date']} on {m['cpus']} x {m['cpu_model']}, {m['memory_gib']} GiB, "
        f"Linux {m['kernel']}, Python {m['python']}. Upstream: {s['tokens_per_stream']} tokens "
        f"per stream at {s['tokens_per_second']:g} tokens/s, one token per chunk, time to first "
        f"token {s['upstream_ttft_s']:g} s; coalescing window {s['flush_ms']} ms; "
        f"starts spread over {s['ramp_s']:g} s.",
        "",
    ]
    paths = [p for p in ("nikki", "naive") if p in out]
    if paths:
        lines += ["| figure | " + " | ".join(paths) + " |", "|---|" + "---|" * len(paths)]

        def row(label: str, fn) -> None:
            vals = []
            for p in paths:
                try:
                    vals.append(str(fn(out[p])))
                except (KeyError, TypeError, IndexError):
                    vals.append("-")
            lines.append(f"| {label} | " + " | ".join(vals) + " |")

        row("largest N at p99 ≤ 100 ms, nothing lost", lambda r: r["sweep"]["max_streams"])
        row("first failing N", lambda r: r["sweep"]["first_failing"])
        row(
            "one stream: added latency p50 / p99 (ms)",
            lambda r: f"{r['single']['latency_p50_ms']} / {r['single']['latency_p99_ms']}",
        )
        below = out[paths[0]].get("single", {}).get("below_window_rate", 0)
        row(
            f"one stream at {below:g} tok/s (slower than the window): added latency p50 / p99 (ms)",
            lambda r: (
                f"{r['single']['below_window_latency_ms']['p50']} / "
                f"{r['single']['below_window_latency_ms']['p99']}"
            ),
        )
        row(
            "first delta beyond the upstream's TTFT, p50 / max (ms)",
            lambda r: (
                f"{r['single']['first_delta_beyond_ttft_ms']} / "
                f"{r['single']['first_delta_beyond_ttft_max_ms']}"
            ),
        )
        row("… of which generate → upstream request (ms)", lambda r: r["single"]["setup_ms"])
        row("… of which first token → client (ms)", lambda r: r["single"]["first_relay_ms"])
        row("RSS per idle connection (KB)", lambda r: r["memory"]["rss_per_idle_connection_kb"])
        idle_n = out[paths[0]].get("memory", {}).get("idle_connections")
        row(
            f"RSS per active stream (KB, N={idle_n})",
            lambda r: r["memory"]["rss_per_active_stream_kb"],
        )
        row(
            "server CPU per token (µs), memory level",
            lambda r: r["memory"]["level"]["server_cpu_per_token_us"],
        )
        row("frames per token", lambda r: r["memory"]["level"]["frames_per_token"])
        row("WebSocket bytes per token", lambda r: r["memory"]["level"]["wire_bytes_per_token"])
        row("DB writes per generation", lambda r: r["memory"]["level"]["db_writes_per_generation"])
        row(
            "checkpoints per generation-second",
            lambda r: r["memory"]["level"]["checkpoints_per_generation_second"],
        )
        lines.append("")
        for p in paths:
            lines += [
                f"Sweep, {p}:",
                "",
                "| N | ok | p50 ms | p99 ms | max ms | server CPU | µs/token | upstream CPU | "
                "clients CPU | frames/token | B/token | DB writes/gen | RSS peak MB | problems |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            ]
            memory = [out[p]["memory"]["level"]] if "memory" in out[p] else []
            for lv in [*memory, *out[p]["sweep"]["levels"]]:
                lat = lv["latency_ms"]
                lines.append(
                    f"| {lv['label']} | {'yes' if lv['ok'] else 'no'} | {lat['p50']} | "
                    f"{lat['p99']} | {lat['max']} | {lv['server_cpu_util']} | "
                    f"{lv['server_cpu_per_token_us']} | {lv['upstream_cpu_util']} | "
                    f"{lv['client_cpu_util']} | {lv['frames_per_token']} | "
                    f"{lv['wire_bytes_per_token']} | {lv['db_writes_per_generation']} | "
                    f"{lv['rss_peak_mb']} | {lv['problems'] or ''} |"
                )
            lines.append("")
    if "ratio" in out:
        r = out["ratio"]
        lines += [
            f"Ratio (naive ÷ Nikki, Nikki ÷ naive for streams held): streams held "
            f"{r['streams_held']}x; CPU per token {r['cpu_per_token_naive_over_nikki']}x "
            f"(at N={r['cpu_per_token_at_n']}); frames per token "
            f"{r['frames_per_token_naive_over_nikki']}x; bytes per token "
            f"{r['wire_bytes_per_token_naive_over_nikki']}x.",
            "",
        ]
    if "layers" in out:
        lines += [
            "Channel layers (Nikki, one daphne, Redis on loopback):",
            "",
            "| layer | N | ok | p50 ms | p99 ms | server CPU | µs/token | problems |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, lv in out["layers"].items():
            lat = lv["latency_ms"]
            lines.append(
                f"| {name} | {lv['streams']} | {'yes' if lv['ok'] else 'no'} | {lat['p50']} | "
                f"{lat['p99']} | {lv['server_cpu_util']} | {lv['server_cpu_per_token_us']} | "
                f"{lv['problems'] or ''} |"
            )
        lines.append("")
    slow = out.get("nikki", {}).get("slow_clients")
    if slow:
        lines += [
            f"Slow clients (Nikki): {slow['clients']} clients stop reading and ask for a "
            f"snapshot {slow['watch_per_second_per_client']:g}x/s for {slow['seconds']} s: "
            f"server RSS {slow['rss_before_mb']} → {slow['rss_after_mb']} MB "
            f"(+{slow['growth_per_client_per_second_kb']} KB per client per second), "
            f"{slow['kernel_send_queue_mb']} MB more queued in the kernel; "
            f"{slow['closed_by_server']} closed by the server (close codes "
            f"{slow.get('close_codes') or '-'}, seen when they read again); after the clients "
            "vanish "
            f"{slow['rss_after_abort_mb']} MB.",
            "",
        ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Nikki's streaming benchmark (see the module doc).")
    p.add_argument("--quick", action="store_true", help="a 1-2 minute run with fewer levels")
    p.add_argument("--paths", default="nikki,naive", help="which paths: nikki,naive")
    p.add_argument("--levels", default=None, help="N to sweep, e.g. 50,100,200,300,400")
    p.add_argument("--tokens", type=int, default=None, help="tokens per stream (default 300)")
    p.add_argument("--rate", type=float, default=50.0, help="tokens per second per stream")
    p.add_argument("--ttft", type=float, default=0.3, help="upstream time to first token (s)")
    p.add_argument("--flush-ms", type=int, default=40, help="DIARY_FLUSH_MS for Nikki")
    p.add_argument("--ramp", type=float, default=2.0, help="spread the starts over this (s)")
    p.add_argument("--grace", type=float, default=20.0, help="extra wait for a level (s)")
    p.add_argument("--p99-limit", type=float, default=100.0, help="p99 added latency bound (ms)")
    p.add_argument("--memory-clients", type=int, default=None)
    p.add_argument("--single-runs", type=int, default=None)
    p.add_argument("--single-tokens", type=int, default=100)
    p.add_argument("--slow-rate", type=float, default=10.0, help="the below-window rate")
    p.add_argument("--slow-clients", type=int, default=None, help="0 skips the slow-client test")
    p.add_argument("--slow-seconds", type=float, default=None)
    p.add_argument("--slow-watch-rate", type=float, default=4.0)
    p.add_argument("--layer-clients", type=int, default=None)
    p.add_argument("--no-layers", dest="layers", action="store_false")
    p.add_argument(
        "--nikki-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for Nikki's daphne, e.g. BENCH_PATCHES=stock_writer or "
        "OPENAI_HTTP_CLIENT=httpx (repeatable)",
    )
    p.add_argument("--no-refine", dest="refine", action="store_false")
    p.add_argument(
        "--sweep-only", action="store_true", help="skip the memory and one-stream phases"
    )
    p.add_argument("--out", default=str(ROOT / "var" / "bench"), help="where results are saved")
    a = p.parse_args(argv)
    quick = a.quick
    a.paths = [x.strip() for x in a.paths.split(",") if x.strip()]
    if a.levels:
        a.levels = [int(x) for x in a.levels.split(",")]
    else:
        a.levels = [50, 150, 300] if quick else [50, 100, 200, 300, 400, 500, 600]
    a.tokens = a.tokens or (150 if quick else 300)
    a.memory_clients = a.memory_clients or (50 if quick else 100)
    a.single_runs = a.single_runs or (2 if quick else 5)
    a.slow_clients = (4 if quick else 10) if a.slow_clients is None else a.slow_clients
    a.slow_seconds = a.slow_seconds or (10.0 if quick else 30.0)
    a.layer_clients = a.layer_clients or (30 if quick else 50)
    if quick:
        a.refine = False
    return a


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nikki-bench-") as tmp:
        bench = Bench(args, Path(tmp))
        try:
            out = asyncio.run(bench.run())
        except KeyboardInterrupt:
            bench.upstream.stop()
            raise
    out["bench_seconds"] = round(time.monotonic() - started)
    _strip_raw(out)
    report = markdown(out)
    dest = Path(args.out)
    dest.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (dest / f"bench-{stamp}.json").write_text(json.dumps(out, indent=2))
    (dest / f"bench-{stamp}.md").write_text(report + "\n")
    print()
    print(json.dumps({k: v for k, v in out.items() if k not in ("nikki", "naive")}, indent=2))
    print()
    print(report)
    print(f"saved {dest / f'bench-{stamp}.json'} and .md ({out['bench_seconds']} s)")


if __name__ == "__main__":
    main()
