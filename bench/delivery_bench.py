"""CPU per frame per socket of the delivery path alone (docs/benchmark.md, issue 14).

    DJANGO_DEBUG=true .venv/bin/python bench/delivery_bench.py [--sockets 300] [--frames 100]
        [--layer nikki|stock|pubsub|localfirst] [--dispatch nikki|stock]

N consumers each join an entry group of their own (plus a user and a session group, as a diary
socket does); every round sends one `delta` to every entry group, as N streams flushing, and
waits until every consumer has turned it into a JSON frame. Delivery is Channels' own: each
consumer receives from its channel and handles the event in its own task. `--layer stock` uses
Channels' InMemoryChannelLayer (its sweep on every receive and group_send); `--dispatch stock`
keeps Channels' `dispatch`, which closes stale database connections before every event.
`--layer pubsub` is channels_redis's RedisPubSubChannelLayer, `--layer localfirst` production's
layer (diaries/redis_layer.py), both on a private redis-server whose CPU is shown apart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "diary_project.settings")

import django  # noqa: E402

django.setup()

from channels.consumer import AsyncConsumer  # noqa: E402
from channels.layers import InMemoryChannelLayer, channel_layers  # noqa: E402
from channels_redis.pubsub import RedisPubSubChannelLayer  # noqa: E402

from bench.processes import proc_cpu  # noqa: E402
from diaries.layers import FastInMemoryChannelLayer  # noqa: E402
from diaries.realtime import entry_group, events, session_group, user_group  # noqa: E402
from diaries.redis_layer import LocalFirstPubSubChannelLayer  # noqa: E402
from tests.support.servers import RedisServer  # noqa: E402

LAYERS = {
    "nikki": FastInMemoryChannelLayer,
    "stock": InMemoryChannelLayer,
    "pubsub": RedisPubSubChannelLayer,
    "localfirst": LocalFirstPubSubChannelLayer,
}


class Socket(AsyncConsumer):
    """A stand-in for DiaryConsumer's stream handling: one JSON frame per delta."""

    handled = 0
    stock_dispatch = False
    target = 0
    reached: asyncio.Future | None = None

    async def dispatch(self, message):
        if message["type"].startswith("diary.") and not self.stock_dispatch:
            await getattr(self, message["type"].replace(".", "_"))(message)
            return
        await super().dispatch(message)

    async def diary_delta(self, event):
        Socket.handled += 1
        if Socket.handled >= Socket.target and Socket.reached and not Socket.reached.done():
            Socket.reached.set_result(None)
        frame = {"type": "delta", "entry": event["entry"], "seq": event["seq"]}
        await self.send({"type": "websocket.send", "text": json.dumps(frame | event)})


async def run(sockets: int, frames: int, layer) -> tuple[float, float]:
    channel_layers.backends["default"] = layer
    never = asyncio.get_running_loop().create_future()

    async def receive():
        return await never

    async def send(message):
        pass

    consumers = [Socket() for _ in range(sockets)]
    tasks = [asyncio.create_task(c({"type": "websocket"}, receive, send)) for c in consumers]
    await asyncio.sleep(0.1)
    for i, consumer in enumerate(consumers):
        for group in (entry_group(i), user_group(i), session_group(str(i))):
            await layer.group_add(group, consumer.channel_name)
    cpu, wall = time.process_time(), time.perf_counter()
    for seq in range(1, frames + 1):
        for i in range(sockets):
            await layer.group_send(
                entry_group(i), events.delta(entry=i, generation=1, seq=seq, text="w0001 ")
            )
        if Socket.handled < seq * sockets:  # wait without spinning: Redis may take a while
            Socket.target = seq * sockets
            Socket.reached = asyncio.get_running_loop().create_future()
            await Socket.reached
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return cpu, wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sockets", type=int, default=300)
    p.add_argument("--frames", type=int, default=100, help="frames per socket")
    p.add_argument("--layer", choices=[*LAYERS], default="nikki")
    p.add_argument("--dispatch", choices=["nikki", "stock"], default="nikki")
    a = p.parse_args()
    Socket.stock_dispatch = a.dispatch == "stock"
    redis = None
    if a.layer in ("pubsub", "localfirst"):
        redis = RedisServer(Path(tempfile.mkdtemp(prefix="nikki-delivery-")))
        redis.start()
        layer = LAYERS[a.layer](hosts=[redis.url])
    else:
        layer = LAYERS[a.layer](capacity=1000)
    redis_cpu = proc_cpu(redis.proc.pid) if redis and redis.proc else 0.0
    try:
        cpu, wall = asyncio.run(run(a.sockets, a.frames, layer))
        if redis and redis.proc:
            redis_cpu = proc_cpu(redis.proc.pid) - redis_cpu
    finally:
        if redis:
            redis.stop()
    n = a.sockets * a.frames
    print(
        f"layer={a.layer} dispatch={a.dispatch} sockets={a.sockets} frames={n}: "
        f"{cpu / n * 1e6:.1f} µs CPU per frame per socket"
        + (f", redis-server {redis_cpu / n * 1e6:.1f}" if redis else "")
        + f" (wall {wall:.2f} s)"
    )


if __name__ == "__main__":
    main()
