"""What the bench makes of what it saw: one stream's latencies and integrity (from the client's
frames and the upstream's send-time log), a level's figures, and Nikki against naive."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from bench.upstream import bench_tokens
from bench.wsclient import WSClient


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def ms(x: float | None, digits: int = 1) -> float | None:
    return None if x is None else round(x * 1000, digits)


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


@dataclass
class ClientView:
    """The text as the protocol tells a client to build it, and when each piece landed."""

    text: str = ""
    deltas: list[tuple[float, int, str]] = field(default_factory=list)
    arrivals: list[tuple[float, int]] = field(default_factory=list)  # (receipt, text length)
    resyncs: int = 0
    gaps: int = 0
    done: dict[str, Any] | None = None


def client_view(stream: Stream) -> ClientView:
    """Replay the frames: a snapshot replaces the text; a delta with seq == last + 1 appends;
    seq <= last is skipped; a gap is a resync."""
    assert stream.client is not None
    view, last = ClientView(), 0
    for at, payload in stream.client.frames:
        frame = json.loads(payload)
        kind = frame.get("type")
        if kind == "delta":
            view.deltas.append((at, frame["seq"], frame["text"]))
            if frame["seq"] == last + 1:
                view.text += frame["text"]
                last = frame["seq"]
                view.arrivals.append((at, len(view.text)))
            elif frame["seq"] > last + 1:
                view.gaps += 1
        elif kind == "snapshot":
            view.resyncs += 1
            view.text, last = frame.get("text", ""), frame.get("seq", 0)
            view.arrivals.append((at, len(view.text)))
        elif kind == "done":
            view.done = frame
        elif kind == "error":
            stream.errors.append(frame)
        elif kind == "started":
            stream.entry = frame.get("entry")
    return view


def _problems(stream: Stream, view: ClientView, expected: str) -> list[str]:
    problems = []
    if stream.errors:
        problems.append("error: " + ",".join(e.get("code", "?") for e in stream.errors))
    if view.gaps:
        problems.append("seq gap")
    if view.text != expected:
        problems.append(f"text lost or reordered ({len(view.text)} of {len(expected)} chars)")
    if view.done is None:
        problems.append("no done")
    elif view.done.get("text") != expected or view.done.get("status") != "done":
        problems.append(f"done: status {view.done.get('status')}, text differs")
    return problems


def _timings(stream: Stream, view: ClientView, upstream: dict[str, Any], out: dict) -> None:
    """Added latency per token, and the first delta's delay split into setup and relay."""
    sends = upstream["sends"]
    # Map received text to token indices: token i is complete once (i + 1) * tlen chars arrived.
    i, lat = 0, []
    for at, got in view.arrivals:
        while i < len(sends) and (i + 1) * stream.tlen <= got:
            lat.append(at - sends[i])
            i += 1
    out["latencies"] = lat
    client = stream.client
    assert client is not None
    if view.deltas and sends and client.sent_at is not None:
        first_at = view.deltas[0][0]
        upstream_own = sends[0] - upstream["received"]  # the upstream's own time to first token
        out["first_delta"] = first_at - client.sent_at
        out["first_delta_beyond_ttft"] = out["first_delta"] - upstream_own
        out["setup"] = upstream["received"] - client.sent_at  # generate → upstream request
        out["first_relay"] = first_at - sends[0]


def analyse(stream: Stream, upstream: dict[str, Any] | None) -> dict[str, Any]:
    """Latencies and integrity of one stream, from the client's frames and the upstream's log."""
    client = stream.client
    assert client is not None
    expected = "".join(bench_tokens(stream.n, stream.tlen))
    view = client_view(stream)
    out: dict[str, Any] = {"ok": False, "latencies": [], "problems": []}
    out["frames"] = client.rx_frames
    out["bytes"] = client.rx_bytes
    out["deltas"] = len(view.deltas)
    out["resyncs"] = view.resyncs
    out["problems"] = _problems(stream, view, expected)
    if upstream is None:
        out["problems"].append("upstream log missing")
        return out
    if len(upstream["sends"]) != stream.n:
        out["problems"].append(f"upstream sent {len(upstream['sends'])} of {stream.n}")
    _timings(stream, view, upstream, out)
    out["upstream_lag"] = upstream.get("lag", 0.0)
    out["ok"] = not out["problems"]
    return out


# --------------------------------------------------------------------------- a level


@dataclass
class Measures:
    """What the processes did during a level: CPU, memory, and the server's counters."""

    elapsed: float
    server_cpu: float
    upstream_cpu: float
    client_cpu: float
    rss_start_kb: int
    rss_peak_kb: int
    stats_before: dict[str, Any]
    stats_after: dict[str, Any]
    services_cpu: dict[str, float] = field(default_factory=dict)  # nginx, redis, postgres


def _counter_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def _latency_figures(results: list[dict[str, Any]]) -> dict[str, Any]:
    lat = [x for r in results for x in r["latencies"]]
    firsts = [r["first_delta_beyond_ttft"] for r in results if "first_delta_beyond_ttft" in r]
    setups = [r["setup"] for r in results if "setup" in r]
    relays = [r["first_relay"] for r in results if "first_relay" in r]
    return {
        "latency_ms": {
            "p50": ms(pct(lat, 0.5)),
            "p90": ms(pct(lat, 0.9)),
            "p99": ms(pct(lat, 0.99)),
            "max": ms(max(lat) if lat else None),
        },
        "first_delta_beyond_ttft_ms": {
            "p50": ms(pct(firsts, 0.5)),
            "p99": ms(pct(firsts, 0.99)),
            "setup_p50": ms(pct(setups, 0.5)),
            "relay_p50": ms(pct(relays, 0.5)),
        },
    }


def _cost_figures(m: Measures, results: list[dict[str, Any]], relayed: int, n: int) -> dict:
    frames = sum(r["frames"] for r in results)
    wire = sum(r["bytes"] for r in results)
    elapsed = m.elapsed
    return {
        "server_cpu_s": round(m.server_cpu, 2),
        "server_cpu_util": round(m.server_cpu / elapsed, 2) if elapsed else None,
        "server_cpu_per_token_us": round(m.server_cpu / relayed * 1e6, 1) if relayed else None,
        "services_cpu_per_token_us": {
            name: round(cpu / relayed * 1e6, 1) if relayed else None
            for name, cpu in m.services_cpu.items()
        },
        "upstream_cpu_util": round(m.upstream_cpu / elapsed, 2) if elapsed else None,
        "client_cpu_util": round(m.client_cpu / elapsed, 2) if elapsed else None,
        "frames_per_token": round(frames / relayed, 3) if relayed else None,
        "wire_bytes_per_token": round(wire / relayed, 1) if relayed else None,
        "rss_start_mb": round(m.rss_start_kb / 1024, 1),
        "rss_peak_mb": round(m.rss_peak_kb / 1024, 1),
        "rss_per_stream_kb": round((m.rss_peak_kb - m.rss_start_kb) / n, 1) if n else None,
    }


def _database_figures(m: Measures, n: int, generation_seconds: float) -> dict[str, Any]:
    writes = _counter_delta(m.stats_before["sql_writes"], m.stats_after["sql_writes"])
    calls = _counter_delta(m.stats_before["calls"], m.stats_after["calls"])
    saves = calls.get("generation_checkpoint", 0) + calls.get("generation_heartbeat", 0)
    return {
        "db_writes": writes,
        "db_writes_per_generation": round(sum(writes.values()) / n, 2) if n else None,
        "service_calls": calls,
        "checkpoints_per_generation_second": round(saves / n / generation_seconds, 2)
        if n
        else None,
    }


def level_figures(
    results: list[dict[str, Any]],
    m: Measures,
    *,
    label: str,
    tokens: int,
    rate: float,
    timed_out: bool,
    p99_limit_ms: float,
) -> dict[str, Any]:
    """Everything measured about one level of N concurrent generations."""
    n = len(results)
    lat = [x for r in results for x in r["latencies"]]
    bad = [r for r in results if not r["ok"]]
    problems: dict[str, int] = {}
    for r in bad:
        for p in r["problems"]:
            key = p.split(" (")[0]
            problems[key] = problems.get(key, 0) + 1
    p99 = pct(lat, 0.99)
    level = {
        "label": label,
        "streams": n,
        "tokens_per_stream": tokens,
        "rate": rate,
        "ok": not bad and not timed_out and p99 is not None and p99 <= p99_limit_ms / 1000,
        "timed_out": timed_out,
        "failed_streams": len(bad),
        "resyncs": sum(r.get("resyncs", 0) for r in results),
        "problems": problems,
        "tokens_relayed": len(lat),
        "elapsed_s": round(m.elapsed, 2),
        **_latency_figures(results),
        **_cost_figures(m, results, len(lat), n),
        **_database_figures(m, n, tokens / rate),
        "upstream_max_lag_ms": ms(max((r.get("upstream_lag", 0.0) for r in results), default=0.0)),
    }
    if bad:
        level["example_problem"] = bad[0]["problems"][:3]
    level["_latencies"] = lat
    level["_firsts"] = [
        (r.get("first_delta_beyond_ttft"), r.get("setup"), r.get("first_relay"))
        for r in results
        if "first_delta_beyond_ttft" in r
    ]
    return level


# --------------------------------------------------------------------------- Nikki against naive


def common_level(
    mine: list[dict[str, Any]], theirs: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The two levels at the largest N both sweeps passed (else the largest both ran)."""
    for passed_only in (True, False):
        a = {lv["streams"]: lv for lv in mine if lv["ok"] or not passed_only}
        b = {lv["streams"]: lv for lv in theirs if lv["ok"] or not passed_only}
        common = sorted(set(a) & set(b))
        if common:
            return a[common[-1]], b[common[-1]]
    return None


def ratios(nikki: dict[str, Any], naive: dict[str, Any]) -> dict[str, Any]:
    pair = common_level(nikki["sweep"]["levels"], naive["sweep"]["levels"])
    cpu_me, cpu_them, n = None, None, None
    if pair:
        cpu_me, cpu_them = (lv["server_cpu_per_token_us"] for lv in pair)
        n = pair[0]["streams"]
    held_me, held_them = nikki["sweep"]["max_streams"], naive["sweep"]["max_streams"]
    return {
        "streams_held": round(held_me / held_them, 2) if held_them else None,
        "cpu_per_token_at_n": n,
        "cpu_per_token_naive_over_nikki": round(cpu_them / cpu_me, 2) if cpu_me else None,
        "frames_per_token_naive_over_nikki": _ratio_of(nikki, naive, "frames_per_token"),
        "wire_bytes_per_token_naive_over_nikki": _ratio_of(nikki, naive, "wire_bytes_per_token"),
    }


def _all_cpu(level: dict[str, Any]) -> float | None:
    """µs per token of the daphnes and the services beside them."""
    own = level["server_cpu_per_token_us"]
    if own is None:
        return None
    return round(own + sum(v or 0 for v in level["services_cpu_per_token_us"].values()), 1)


def shape_ratios(sweeps: dict[str, dict[str, Any]], base: str = "embedded") -> dict[str, Any]:
    """Each production shape against the embedded default of the same run: streams held, and
    CPU per token (the daphnes; and everything: daphnes, nginx, Redis, PostgreSQL) at the
    largest N both held."""
    if base not in sweeps:
        return {}
    out: dict[str, Any] = {}
    for name, sweep in sweeps.items():
        if name == base:
            continue
        pair = common_level(sweep["levels"], sweeps[base]["levels"])
        held = sweeps[base]["max_streams"]
        entry: dict[str, Any] = {
            "streams_held": round(sweep["max_streams"] / held, 2) if held else None
        }
        if pair:
            mine, theirs = pair
            own, base_cpu = mine["server_cpu_per_token_us"], theirs["server_cpu_per_token_us"]
            everything = _all_cpu(mine)
            entry["at_n"] = mine["streams"]
            entry["daphne_cpu_per_token"] = round(own / base_cpu, 2) if own and base_cpu else None
            entry["all_cpu_per_token"] = (
                round(everything / base_cpu, 2) if everything and base_cpu else None
            )
        out[name] = entry
    return out


def _ratio_of(nikki: dict[str, Any], naive: dict[str, Any], key: str) -> float | None:
    if "memory" not in nikki or "memory" not in naive:
        return None
    a = nikki["memory"]["level"][key]
    b = naive["memory"]["level"][key]
    return round(b / a, 2) if a and b else None
