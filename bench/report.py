"""The bench's output: a line per level while it runs, then Markdown tables and the JSON saved
under var/bench/."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def log_level(name: str, level: dict[str, Any]) -> None:
    """One line per level, as it finishes."""
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


def strip_raw(value: Any) -> None:
    """Drop the raw samples (keys starting with "_") before saving."""
    if isinstance(value, dict):
        for key in [k for k in value if isinstance(k, str) and k.startswith("_")]:
            del value[key]
        for v in value.values():
            strip_raw(v)
    elif isinstance(value, list):
        for v in value:
            strip_raw(v)


def _header(out: dict[str, Any]) -> list[str]:
    m = out["machine"]
    s = out["settings"]
    return [
        f"Run {m['date']} on {m['cpus']} x {m['cpu_model']}, {m['memory_gib']} GiB, "
        f"Linux {m['kernel']}, Python {m['python']}. Upstream: {s['tokens_per_stream']} tokens "
        f"per stream at {s['tokens_per_second']:g} tokens/s, one token per chunk, time to first "
        f"token {s['upstream_ttft_s']:g} s; coalescing window {s['flush_ms']} ms; "
        f"starts spread over {s['ramp_s']:g} s.",
        "",
    ]


def _summary(out: dict[str, Any], paths: list[str]) -> list[str]:
    """One row per figure, one column per path."""
    lines = ["| figure | " + " | ".join(paths) + " |", "|---|" + "---|" * len(paths)]

    def row(label: str, fn: Callable[[dict[str, Any]], Any]) -> None:
        vals = []
        for p in paths:
            try:
                vals.append(str(fn(out[p])))
            except (KeyError, TypeError, IndexError):
                vals.append("-")
        lines.append(f"| {label} | " + " | ".join(vals) + " |")

    below = out[paths[0]].get("single", {}).get("below_window_rate", 0)
    idle_n = out[paths[0]].get("memory", {}).get("idle_connections")
    rows: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
        ("largest N at p99 ≤ 100 ms, nothing lost", lambda r: r["sweep"]["max_streams"]),
        ("first failing N", lambda r: r["sweep"]["first_failing"]),
        (
            "one stream: added latency p50 / p99 (ms)",
            lambda r: f"{r['single']['latency_p50_ms']} / {r['single']['latency_p99_ms']}",
        ),
        (
            f"one stream at {below:g} tok/s (slower than the window): added latency p50 / p99 (ms)",
            lambda r: (
                f"{r['single']['below_window_latency_ms']['p50']} / "
                f"{r['single']['below_window_latency_ms']['p99']}"
            ),
        ),
        (
            "first delta beyond the upstream's TTFT, p50 / max (ms)",
            lambda r: (
                f"{r['single']['first_delta_beyond_ttft_ms']} / "
                f"{r['single']['first_delta_beyond_ttft_max_ms']}"
            ),
        ),
        ("… of which generate → upstream request (ms)", lambda r: r["single"]["setup_ms"]),
        ("… of which first token → client (ms)", lambda r: r["single"]["first_relay_ms"]),
        ("RSS per idle connection (KB)", lambda r: r["memory"]["rss_per_idle_connection_kb"]),
        (
            f"RSS per active stream (KB, N={idle_n})",
            lambda r: r["memory"]["rss_per_active_stream_kb"],
        ),
    ]
    level_rows = [
        ("server CPU per token (µs), memory level", "server_cpu_per_token_us"),
        ("frames per token", "frames_per_token"),
        ("WebSocket bytes per token", "wire_bytes_per_token"),
        ("DB writes per generation", "db_writes_per_generation"),
        ("checkpoints per generation-second", "checkpoints_per_generation_second"),
    ]
    for label, fn in rows:
        row(label, fn)
    for label, key in level_rows:
        row(label, lambda r, key=key: r["memory"]["level"][key])
    lines.append("")
    return lines


def _sweep_table(name: str, result: dict[str, Any]) -> list[str]:
    lines = [
        f"Sweep, {name}:",
        "",
        "| N | ok | p50 ms | p99 ms | max ms | server CPU | µs/token | upstream CPU | "
        "clients CPU | frames/token | B/token | DB writes/gen | RSS peak MB | problems |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    memory = [result["memory"]["level"]] if "memory" in result else []
    for lv in [*memory, *result["sweep"]["levels"]]:
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
    return lines


def _ratio(r: dict[str, Any]) -> list[str]:
    return [
        f"Ratio (naive ÷ Nikki, Nikki ÷ naive for streams held): streams held "
        f"{r['streams_held']}x; CPU per token {r['cpu_per_token_naive_over_nikki']}x "
        f"(at N={r['cpu_per_token_at_n']}); frames per token "
        f"{r['frames_per_token_naive_over_nikki']}x; bytes per token "
        f"{r['wire_bytes_per_token_naive_over_nikki']}x.",
        "",
    ]


def _layers(layers: dict[str, Any]) -> list[str]:
    lines = [
        "Channel layers (Nikki, one daphne, Redis on loopback):",
        "",
        "| layer | N | ok | p50 ms | p99 ms | server CPU | µs/token | problems |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, lv in layers.items():
        lat = lv["latency_ms"]
        lines.append(
            f"| {name} | {lv['streams']} | {'yes' if lv['ok'] else 'no'} | {lat['p50']} | "
            f"{lat['p99']} | {lv['server_cpu_util']} | {lv['server_cpu_per_token_us']} | "
            f"{lv['problems'] or ''} |"
        )
    lines.append("")
    return lines


def _slow_clients(slow: dict[str, Any]) -> list[str]:
    return [
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


def _services(level: dict[str, Any]) -> str:
    per = level.get("services_cpu_per_token_us") or {}
    return " / ".join(str(per.get(k, "-")) for k in ("nginx", "redis", "postgres"))


def _shape_summary(shapes: dict[str, Any]) -> list[str]:
    names = shapes["order"]
    sweeps, ratio = shapes["sweeps"], shapes["ratio"]
    lines = [
        "Deployment shapes, side by side (each level on every shape still passing; CPU per "
        "token: all daphnes together; nginx / Redis / PostgreSQL separately, the PostgreSQL "
        "server as a whole):",
        "",
        "| shape | daphnes | largest N at p99 ≤ 100 ms, nothing lost | first failing N | "
        "held ÷ embedded | at N | daphnes µs/token ÷ embedded | everything ÷ embedded's "
        "daphne |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        r = ratio.get(name, {})
        lines.append(
            f"| {name} | {shapes['daphnes'][name]} | {sweeps[name]['max_streams']} | "
            f"{sweeps[name]['first_failing'] or '-'} | {r.get('streams_held', '-')} | "
            f"{r.get('at_n', '-')} | {r.get('daphne_cpu_per_token', '-')} | "
            f"{r.get('all_cpu_per_token', '-')} |"
        )
    lines.append("")
    return lines


def _shape_levels(shapes: dict[str, Any]) -> list[str]:
    lines = [
        "| shape | N | ok | p50 ms | p99 ms | daphnes CPU | daphnes µs/token | "
        "nginx / redis / postgres µs/token | frames/token | problems |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in shapes["order"]:
        for lv in shapes["sweeps"][name]["levels"]:
            lat = lv["latency_ms"]
            lines.append(
                f"| {name} | {lv['streams']} | {'yes' if lv['ok'] else 'no'} | {lat['p50']} | "
                f"{lat['p99']} | {lv['server_cpu_util']} | {lv['server_cpu_per_token_us']} | "
                f"{_services(lv)} | {lv['frames_per_token']} | {lv['problems'] or ''} |"
            )
    lines.append("")
    return lines


def markdown(out: dict[str, Any]) -> str:
    lines = _header(out)
    paths = [p for p in ("nikki", "naive") if p in out]
    if paths:
        lines += _summary(out, paths)
        for p in paths:
            lines += _sweep_table(p, out[p])
    if "ratio" in out:
        lines += _ratio(out["ratio"])
    if "layers" in out:
        lines += _layers(out["layers"])
    if "shapes" in out:
        lines += _shape_summary(out["shapes"]) + _shape_levels(out["shapes"])
    slow = out.get("nikki", {}).get("slow_clients")
    if slow:
        lines += _slow_clients(slow)
    return "\n".join(lines)


def save_and_print(out: dict[str, Any], dest: Path) -> None:
    """Save the JSON and the Markdown under `dest`, and print both."""
    strip_raw(out)
    report = markdown(out)
    dest.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (dest / f"bench-{stamp}.json").write_text(json.dumps(out, indent=2))
    (dest / f"bench-{stamp}.md").write_text(report + "\n")
    print()
    brief = {k: v for k, v in out.items() if k not in ("nikki", "naive", "shapes")}
    if "shapes" in out:
        brief["shapes"] = {k: v for k, v in out["shapes"].items() if k != "sweeps"}
    print(json.dumps(brief, indent=2))
    print()
    print(report)
    print(f"saved {dest / f'bench-{stamp}.json'} and .md ({out['bench_seconds']} s)")
