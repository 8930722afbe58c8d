"""The bench's phases, for each path: warm-up, memory, one stream, the sweep, the slow clients;
then the channel layers. A level is N concurrent generations, measured end to end."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from bench.analysis import (
    Measures,
    Stream,
    analyse,
    level_figures,
    ms,
    pct,
    ratios,
    shape_ratios,
)
from bench.processes import (
    Daphne,
    Deployment,
    Upstream,
    machine,
    proc_cpu,
    send_queue_bytes,
)
from bench.report import log_level
from bench.wsclient import WSClient, connect
from tests.support.servers import RedisServer

Server = Daphne | Deployment  # what a level runs against: one daphne, or nginx in front of some


def services_cpu(server: Server) -> dict[str, float]:
    """CPU of the processes beside the daphnes (nginx, Redis, PostgreSQL): none when embedded."""
    return server.services_cpu() if isinstance(server, Deployment) else {}


def refine_level(best: int, failing: int | None) -> int | None:
    """A level between the largest passing and the first failing, when they are far apart."""
    if failing is None or not best or failing - best <= 25:
        return None
    mid = (best + failing) // 2
    return mid - mid % 10


class LevelMeter:
    """CPU of the processes, the server's peak RSS and its counters over one level."""

    def __init__(self, server: Server, upstream: Upstream) -> None:
        self.server = server
        self.upstream = upstream

    async def start(self) -> None:
        self.stats0 = await self.server.stats()
        self.rss0 = self.peak = self.server.rss_kb()
        self.cpu0 = self.server.cpu()
        self.services0 = services_cpu(self.server)
        self.up0 = proc_cpu(self.upstream.pid)
        self.me0 = time.process_time()
        self.t0 = time.monotonic()
        self.sampler = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.server.rss_kb())
            await asyncio.sleep(0.2)

    def stop(self) -> None:
        """Take the CPU figures; the counters are read later by `measures`."""
        self.elapsed = time.monotonic() - self.t0
        self.cpu = self.server.cpu() - self.cpu0
        self.services = {k: v - self.services0[k] for k, v in services_cpu(self.server).items()}
        self.up_cpu = proc_cpu(self.upstream.pid) - self.up0
        self.me_cpu = time.process_time() - self.me0
        self.sampler.cancel()

    async def measures(self) -> Measures:
        return Measures(
            elapsed=self.elapsed,
            server_cpu=self.cpu,
            upstream_cpu=self.up_cpu,
            client_cpu=self.me_cpu,
            rss_start_kb=self.rss0,
            rss_peak_kb=self.peak,
            stats_before=self.stats0,
            stats_after=await self.server.stats(),
            services_cpu=self.services,
        )


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.upstream = Upstream(workdir, args.rate)
        self.levels = 0

    async def open_clients(self, server: Server, count: int, first: int = 0) -> list[WSClient]:
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

    # ----------------------------------------------------------------------- one level

    @staticmethod
    async def _start_streams(
        streams: list[Stream], clients: list[WSClient], ramp: float, t0: float
    ) -> None:
        """Send each stream's `generate`, the starts spread over `ramp` seconds."""
        n = len(streams)
        for i, (stream, client) in enumerate(zip(streams, clients, strict=False)):
            stream.client = client
            client.frames.clear()
            client.rx_bytes = client.rx_frames = 0
            client.finished = asyncio.get_running_loop().create_future()
            if n > 1 and ramp > 0:
                await asyncio.sleep(max(0.0, t0 + ramp * i / n - time.monotonic()))
            client.send_text(stream.message())

    @staticmethod
    async def _all_finished(streams: list[Stream], limit: float) -> bool:
        """Wait for every stream's end; False if `limit` seconds passed first."""
        try:
            async with asyncio.timeout(limit):
                await asyncio.gather(*(s.client.finished for s in streams))  # type: ignore[union-attr]
        except TimeoutError:
            return False
        return True

    async def run_level(
        self,
        server: Server,
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
        meter = LevelMeter(server, self.upstream)
        await meter.start()
        await self._start_streams(streams, clients, ramp, meter.t0)
        limit = ramp + ttft + tokens / rate + self.args.grace
        timed_out = not await self._all_finished(streams, limit)
        meter.stop()
        await asyncio.sleep(0.3)  # let `done` frames that race the timeout land
        measures = await meter.measures()
        await self.upstream.wait_for([s.tag for s in streams], timeout=5 if not timed_out else 1)
        if own_clients:
            await self.close_clients(clients)
        results = [analyse(s, self.upstream.entries.get(s.tag)) for s in streams]
        level = level_figures(
            results,
            measures,
            label=label or f"N={n_streams}",
            tokens=tokens,
            rate=rate,
            timed_out=timed_out,
            p99_limit_ms=self.args.p99_limit,
        )
        log_level(server.name, level)
        return level

    # ----------------------------------------------------------------------- the phases

    async def warm_up(self, server: Server) -> None:
        [client] = await self.open_clients(server, 1)
        for _ in range(2):
            await self.run_level(
                server, 1, tokens=20, rate=500, ttft=0, clients=[client], label="warm-up"
            )
        await self.close_clients([client])

    async def memory(self, server: Server) -> dict[str, Any]:
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

    async def single(self, server: Server) -> dict[str, Any]:
        a = self.args
        [client] = await self.open_clients(server, 1)
        levels = [
            await self.run_level(
                server,
                1,
                tokens=a.single_tokens,
                rate=a.rate,
                ttft=a.ttft,
                clients=[client],
                label="one stream",
            )
            for _ in range(a.single_runs)
        ]
        lat = [x for level in levels for x in level["_latencies"]]  # pool the runs
        pooled = [f for level in levels for f in level["_firsts"]]
        firsts = [first for first, _, _ in pooled]
        setups = [setup for _, setup, _ in pooled]
        relays = [relay for _, _, relay in pooled]
        slow = await self.run_level(
            server,
            1,
            tokens=max(10, int(a.slow_rate * 3)),
            rate=a.slow_rate,
            ttft=a.ttft,
            clients=[client],
            label=f"{a.slow_rate:g} tok/s",
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
            "below_window_rate": a.slow_rate,
            "below_window_latency_ms": slow["latency_ms"],
            "levels": levels,
            "below_window_level": slow,
        }

    async def sweep(self, server: Server, start_n: list[int]) -> dict[str, Any]:
        a = self.args
        levels = []
        best = 0
        worst_fail = None
        for n in start_n:
            level = await self.run_level(server, n, tokens=a.tokens, rate=a.rate, ttft=a.ttft)
            levels.append(level)
            if not level["ok"]:
                worst_fail = n
                break
            best = n
            await asyncio.sleep(1)
        mid = refine_level(best, worst_fail) if a.refine else None
        if mid:
            await asyncio.sleep(1)
            level = await self.run_level(server, mid, tokens=a.tokens, rate=a.rate, ttft=a.ttft)
            levels.append(level)
            if level["ok"]:
                best = mid
        return {"max_streams": best, "first_failing": worst_fail, "levels": levels}

    # ----------------------------------------------------------------------- slow clients

    @staticmethod
    async def _started_entries(clients: list[WSClient], timeout: float = 10) -> list[int]:
        """Wait for each client's `started`, to learn the entry to watch."""
        entries: list[int] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(entries) < len(clients):
            entries = []
            for client in clients:
                for _, payload in client.frames:
                    if payload.startswith(b'{"type": "started"'):
                        entries.append(json.loads(payload)["entry"])
                        break
            await asyncio.sleep(0.05)
        return entries

    async def _watch_without_reading(
        self, server: Server, clients: list[WSClient], entries: list[int]
    ) -> tuple[int, list[tuple[float, float]]]:
        """Ask for snapshots from clients that stopped reading; RSS samples along the way."""
        samples = []
        t0 = time.monotonic()
        asked = 0
        while time.monotonic() - t0 < self.args.slow_seconds:
            for client, entry in zip(clients, entries, strict=False):
                if not client.closed.done():
                    client.send_text(json.dumps({"action": "watch", "entry": entry}))
                    asked += 1
            await asyncio.sleep(1 / self.args.slow_watch_rate)
            samples.append((round(time.monotonic() - t0, 1), round(server.rss_kb() / 1024, 1)))
        return asked, samples

    async def slow_clients(self, server: Server) -> dict[str, Any]:
        """Clients that stop reading but keep asking for snapshots: does the server buffer?"""
        k, seconds = self.args.slow_clients, self.args.slow_seconds
        clients = await self.open_clients(server, k, first=1)
        for i, client in enumerate(clients):
            stream = Stream(tag=f"slowL{self.levels}c{i}", n=900, rate=50, ttft=0, tlen=80)
            client.send_text(stream.message())
        entries = await self._started_entries(clients)
        rss0 = server.rss_kb()
        for client in clients:
            client.pause()
        asked, samples = await self._watch_without_reading(server, clients, entries)
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
        return {
            "clients": k,
            "seconds": seconds,
            "watch_per_second_per_client": self.args.slow_watch_rate,
            "snapshots_asked": asked,
            "rss_before_mb": round(rss0 / 1024, 1),
            "rss_after_mb": round(rss1 / 1024, 1),
            "rss_growth_mb": round((rss1 - rss0) / 1024, 1),
            "growth_per_client_per_second_kb": round((rss1 - rss0) / k / seconds, 1),
            "rss_after_abort_mb": round(server.rss_kb() / 1024, 1),
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

    async def layer(self, name: str, redis: RedisServer, **env: str) -> dict[str, Any]:
        a = self.args
        app = "bench.nikki_asgi:application"
        server = Daphne(
            name, app, self.workdir, self.upstream.base_url, a, REDIS_URL=redis.url, **env
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

    async def layers(self) -> dict[str, Any]:
        """Nikki on RedisChannelLayer, then on production's pub/sub layer, one private Redis."""
        redis = RedisServer(self.workdir)
        redis.start()
        try:
            return {
                "RedisChannelLayer": await self.layer("redis", redis, CHANNEL_LAYER="core"),
                "LocalFirstPubSubChannelLayer": await self.layer(
                    "pubsub", redis, CHANNEL_LAYER="pubsub"
                ),
            }
        finally:
            redis.stop()

    # ----------------------------------------------------------------------- shapes

    def _start_shape(self, name: str, users: int, started: dict[str, Server]) -> None:
        """`embedded` (the default: SQLite, in-memory layer, one daphne, no proxy) or `prodK`
        (K daphnes on PostgreSQL and Redis behind nginx); in `started` before it starts, so
        that a failed start is cleaned up too."""
        a = self.args
        if name == "embedded":
            extra = dict(kv.split("=", 1) for kv in a.nikki_env)
            app = "bench.nikki_asgi:application"
            server = Daphne(name, app, self.workdir, self.upstream.base_url, a, **extra)
            started[name] = server
            server.prepare(users)
            server.start()
        else:
            count = int(name.removeprefix("prod"))
            deployment = Deployment(name, count, self.workdir, self.upstream.base_url, a)
            started[name] = deployment
            deployment.start(users)
        pids = [d.pid for d in getattr(started[name], "daphnes", [started[name]])]
        print(f"{name}: serving on port {started[name].port}, daphne pids {pids}", flush=True)

    async def _shape_level(self, server: Server, sweep: dict[str, Any], n: int) -> bool:
        a = self.args
        level = await self.run_level(server, n, tokens=a.tokens, rate=a.rate, ttft=a.ttft)
        sweep["levels"].append(level)
        if level["ok"]:
            sweep["max_streams"] = max(sweep["max_streams"], n)
        await asyncio.sleep(1)
        return level["ok"]

    async def _side_by_side(self, servers: dict[str, Server]) -> dict[str, dict[str, Any]]:
        """Each level on every shape still passing, the order turning at each level, so that
        the host's load weighs on every shape alike; then one level between, per shape."""
        a = self.args
        sweeps = {name: {"max_streams": 0, "first_failing": None, "levels": []} for name in servers}
        for i, n in enumerate(a.levels):
            running = [name for name in servers if sweeps[name]["first_failing"] is None]
            if not running:
                break
            turn = i % len(running)
            for name in running[turn:] + running[:turn]:
                if not await self._shape_level(servers[name], sweeps[name], n):
                    sweeps[name]["first_failing"] = n
        for name, sweep in sweeps.items():
            mid = refine_level(sweep["max_streams"], sweep["first_failing"]) if a.refine else None
            if mid:
                await self._shape_level(servers[name], sweep, mid)
        return sweeps

    async def shapes(self) -> dict[str, Any]:
        """The embedded default and the production shapes, side by side in this run."""
        a = self.args
        started: dict[str, Server] = {}
        try:
            for name in a.shapes:
                self._start_shape(name, max(a.levels) + 2, started)
            for server in started.values():
                await self.warm_up(server)
            sweeps = await self._side_by_side(started)
        finally:
            for server in started.values():
                server.stop()
        return {
            "order": a.shapes,
            "daphnes": {n: len(getattr(s, "daphnes", [s])) for n, s in started.items()},
            "sweeps": sweeps,
            "ratio": shape_ratios(sweeps),
        }

    def settings(self) -> dict[str, Any]:
        a = self.args
        return {
            "tokens_per_stream": a.tokens,
            "tokens_per_second": a.rate,
            "upstream_ttft_s": a.ttft,
            "flush_ms": a.flush_ms,
            "ramp_s": a.ramp,
            "p99_limit_ms": a.p99_limit,
            "levels": a.levels,
            "quick": a.quick,
            "nikki_env": a.nikki_env,
            "shapes": a.shapes,
        }

    async def run(self) -> dict[str, Any]:
        a = self.args
        self.upstream.start()
        out: dict[str, Any] = {"machine": machine(), "settings": self.settings()}
        try:
            for p in [p for p in ("nikki", "naive") if p in a.paths]:
                app = f"bench.{p}_asgi:application"
                extra = dict(kv.split("=", 1) for kv in a.nikki_env) if p == "nikki" else {}
                out[p] = await self.path(p, app, **extra)
            if "nikki" in out and "naive" in out:
                out["ratio"] = ratios(out["nikki"], out["naive"])
            if a.layers and shutil.which("redis-server"):
                out["layers"] = await self.layers()
            if a.shapes:
                out["shapes"] = await self.shapes()
        finally:
            out["upstream"] = self.upstream.stop()
        return out
