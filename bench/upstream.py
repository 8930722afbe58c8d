"""The bench's paced OpenAI-compatible upstream: tests/support/openai_server.py, plus a send-time
log.

Runs as its own process (so its CPU is not the server's):

    python bench/upstream.py --port 0 --log FILE

Every streamed answer is exactly the scripted server's ``chat.completion.chunk`` SSE stream
(role chunk, one chunk per token — each chunk its own write on a TCP_NODELAY socket — the finish
chunk, the usage chunk, ``[DONE]``). What this file adds:

- **Per-request scripts from the prompt.** The bench client writes a tag such as
  ``benchtag:c17:n=300:rate=50:ttft=0.3:tlen=6`` into the entry's notes; the tag reaches the
  upstream inside the prompt, and the upstream answers that request with that many tokens, at
  that rate, after that time to first token. Tokens are distinct and fixed-length
  (``w0000 w0001 …``, ``tlen`` characters each) so the client can map text back to token indices.
- **Absolute pacing.** Token *i* leaves at ``first + i / rate`` (not "sleep 1/rate after the
  previous one"), so a loaded box cannot quietly lower the offered rate: a late upstream bursts.
- **The send-time log.** For each streamed request one JSON line is appended to ``--log`` when
  it ends: the tag, when the request arrived, when the headers and the first token left, and the
  ``time.monotonic()`` of every content chunk's write. CLOCK_MONOTONIC is system-wide on Linux,
  so the client process compares these with its own receipt times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from tests.support.openai_server import (  # noqa: E402
    RecordedRequest,
    Script,
    ScriptedOpenAIServer,
    SSEStream,
    serve_until_signalled,
)

TAG_RE = re.compile(r"benchtag:([A-Za-z0-9_-]+)((?::[a-z]+=[0-9.]+)*)")


def bench_tokens(n: int, tlen: int = 6) -> list[str]:
    """`n` distinct tokens of `tlen` characters each: "w0000 ", "w0001 ", … (tlen >= 6)."""
    width = max(4, tlen - 2)
    return [f"w{i:0{width}d} " for i in range(n)]


def parse_tag(body: Any) -> tuple[str, dict[str, float]] | None:
    """The bench tag in the request's messages: (client tag, options)."""
    text = json.dumps(body.get("messages", "")) if isinstance(body, dict) else ""
    match = TAG_RE.search(text)
    if match is None:
        return None
    options: dict[str, float] = {}
    for part in match.group(2).split(":"):
        if "=" in part:
            key, _, value = part.partition("=")
            options[key] = float(value)
    return match.group(1), options


class BenchUpstream(ScriptedOpenAIServer):
    def __init__(self, *, log_path: Path, default_rate: float, default_n: int, **kw: Any):
        super().__init__(Script(), **kw)
        self.log_path = log_path
        self.log = open(log_path, "a", buffering=1)
        self.default_rate = default_rate
        self.default_n = default_n
        self.active = 0
        self.max_lag = 0.0  # how far behind its schedule the upstream ever was (s)

    async def stream(
        self, request: web.Request, record: RecordedRequest, body: dict[str, Any], model: str
    ) -> web.StreamResponse:
        """The tagged answer, each token sent at its absolute time; one log line at the end."""
        tag, opts = parse_tag(body) or ("untagged", {})
        rate = float(opts.get("rate", self.default_rate))
        ttft = float(opts.get("ttft", 0.0))
        tokens = bench_tokens(int(opts.get("n", self.default_n)), int(opts.get("tlen", 6)))
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        finish = "stop"
        if isinstance(limit, int) and 0 <= limit < len(tokens):
            tokens, finish = tokens[:limit], "length"
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        sse = SSEStream(request, body, model, include_usage)
        sends: list[float] = []
        entry: dict[str, Any] = {
            "tag": tag,
            "n": len(tokens),
            "rate": rate,
            "ttft": ttft,
            "received": record.received_at,
            "sends": sends,
            "lag": 0.0,
            "completed": False,
        }
        self.active += 1
        try:
            record.status = 200
            await sse.open()
            entry["headers"] = time.monotonic()
            first = time.monotonic() + ttft
            interval = 1.0 / rate if rate > 0 else 0.0
            for i, token in enumerate(tokens):
                await self._until(first + i * interval, entry)
                sends.append(await sse.send(sse.choice({"content": token})))
                record.chunks_sent += 1
            await sse.finish(len(tokens), finish, done=True)
            await sse.end()
            record.completed = entry["completed"] = True
            return sse.response
        finally:
            self.active -= 1
            entry["ended"] = time.monotonic()
            entry["sent"] = len(sends)
            self.log.write(json.dumps(entry) + "\n")

    async def _until(self, at: float, entry: dict[str, Any]) -> None:
        """Sleep until `at`; when already late, note by how much."""
        delay = at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        elif -delay > entry["lag"]:
            entry["lag"] = -delay
            self.max_lag = max(self.max_lag, -delay)


async def _amain(args: argparse.Namespace) -> None:
    server = BenchUpstream(
        log_path=Path(args.log),
        default_rate=args.tokens_per_second,
        default_n=args.tokens,
        host="127.0.0.1",
        port=args.port,
    )
    await serve_until_signalled(server)
    server.log.close()
    print(f"served {server.request_count} requests; max lag {server.max_lag * 1000:.1f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--log", required=True)
    p.add_argument("--tokens", type=int, default=300)
    p.add_argument("--tokens-per-second", type=float, default=50.0)
    asyncio.run(_amain(p.parse_args()))


if __name__ == "__main__":
    main()
