"""CPU per chunk of the OpenAI writer's two parsers, against the bench upstream in its own process.

    .venv/bin/python bench/parse_bench.py [--tokens 5000] [--rounds 3]

Prints the writer process's CPU time per relayed chunk for `parser="stock"` (the openai client's
own stream: pydantic models per chunk) and `parser="raw"` (the writer's SSE/JSON path).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from diaries.writers.base import Finish, WriterRequest  # noqa: E402
from diaries.writers.openai import OpenAIWriter  # noqa: E402


async def measure(base_url: str, parser: str, tokens: int, rounds: int) -> float:
    writer = OpenAIWriter.from_config(
        api_key="sk-bench", base_url=base_url, model="m", max_retries=0, parser=parser
    )
    note = f"benchtag:parse{parser}:n={tokens}:rate=0:ttft=0:tlen=6"
    request = WriterRequest(
        date="2026-01-01",
        morning="",
        afternoon="",
        evening="",
        notes="",
        tone="plain",
        language="en",
        messages=[{"role": "user", "content": note}],
        max_tokens=tokens,
    )
    best = float("inf")
    for _ in range(rounds):
        pieces = 0
        cpu = time.process_time()
        async for item in writer.stream(request):
            if not isinstance(item, Finish):
                pieces += 1
        cpu = time.process_time() - cpu
        assert pieces == tokens, pieces
        best = min(best, cpu / pieces)
    await writer.aclose()
    return best


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--tokens", type=int, default=5000)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "upstream.py"), "--log", f"{tmp}/log"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            base_url = proc.stdout.readline().split()[-1]
            out = {}
            for parser in ("stock", "raw"):
                out[parser] = round(
                    asyncio.run(measure(base_url, parser, a.tokens, a.rounds)) * 1e6, 1
                )
            out["ratio"] = round(out["stock"] / out["raw"], 1)
            print(json.dumps({"cpu_per_chunk_us": out}))
        finally:
            proc.terminate()
            proc.wait(5)


if __name__ == "__main__":
    main()
