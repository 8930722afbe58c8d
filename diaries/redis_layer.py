"""channels_redis's RedisPubSubChannelLayer with local delivery first (production's layer,
`CHANNEL_LAYER=pubsub`).

The stock layer sends every group message through Redis, even to a socket of the sending
process: a PUBLISH (a system call that wakes Redis), the message read back, one decoding per
member. Here each process (each event loop) has one Redis channel of its own, its inbox; its
consumers' channels are names under it (`<inbox>!<id>`) with their queues in the process, and
the inbox stands for them in every group they are in (the stock `group_add`/`group_discard`):

- `group_send` puts the message on the queue of each member in this process, then publishes it,
  marked with the sender's inbox, for the other processes; a process drops its own message
  when Redis brings it back, so each member gets it once. PUBLISH answers how many processes
  heard it: when only the sender did, the group is *local* and the next messages skip Redis
  (for `recheck` seconds at most, then one is published again to look);
- a process whose first member joins a group says so through Redis once it is subscribed
  (`join`); every process that hears it stops skipping Redis for that group and answers
  (`heard`), and `group_add` returns once every one has answered. So a message sent after
  `group_add` returns reaches the new member, as with the stock layer;
- `send` to a consumer's channel goes through Redis to the inbox its name names (the health
  check still proves Redis answers); other names are the stock layer's.

Every publication of a process goes out on one connection, in order. Consumers still receive
everything from their channel: one path, whatever the sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import create_pool, decode_hosts
from redis import asyncio as aioredis

from diaries.layers import copy_message

logger = logging.getLogger(__name__)

RELAY = "nikki.relay"  # the envelope a message travels in between processes


@dataclass
class Process:
    """This event loop's inbox on Redis, its channels and groups, its publishing connection."""

    inbox: str = ""
    redis: aioredis.Redis | None = None
    channels: dict[str, asyncio.Queue] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)
    subscribed: set[str] = field(default_factory=set)  # groups the inbox is in on Redis
    local_until: dict[str, float] = field(default_factory=dict)  # group → skip Redis until
    joins: dict[str, int] = field(default_factory=dict)  # group → `join`s heard
    waiting: dict[str, asyncio.Queue] = field(default_factory=dict)  # group → `heard` answers
    pump: asyncio.Task | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def owns(self, channel: str) -> bool:
        return bool(self.inbox) and channel.partition("!")[0] == self.inbox

    def deliver(self, group: str, message: dict[str, Any]) -> None:
        """Put a copy of the message on each member's queue in this process."""
        for channel in self.groups.get(group, ()):
            queue = self.channels.get(channel)
            if queue is not None:
                queue.put_nowait(copy_message(message))


class LocalFirstPubSubChannelLayer(RedisPubSubChannelLayer):
    recheck = 1.0  # seconds a group found local skips Redis before one message looks again
    join_timeout = 2.0  # how long `group_add` waits for the other processes' answers

    def __init__(self, hosts=None, prefix: str = "asgi", **kwargs: Any) -> None:
        super().__init__(hosts=hosts, prefix=prefix, **kwargs)
        [self._host] = decode_hosts(hosts)  # one Redis: no sharding of channels
        self._prefix = prefix
        self._processes: dict[asyncio.AbstractEventLoop, Process] = {}

    def _stock(self, name: str) -> Any:
        """The stock layer's method `name` (served by its `__getattr__`)."""
        return super().__getattr__(name)

    def _group_channel(self, group: str) -> str:
        """The Redis channel the stock layer subscribes a group's members to."""
        return f"{self._prefix}__group__{group}"

    def _here(self) -> Process | None:
        return self._processes.get(asyncio.get_running_loop())

    async def _process(self) -> Process:
        """This loop's Process, its inbox subscribed and its pump running."""
        loop = asyncio.get_running_loop()
        process = self._processes.setdefault(loop, Process())
        if process.pump is None:
            async with process.lock:
                if process.pump is None:
                    process.inbox = await self._stock("new_channel")("process.")
                    process.redis = aioredis.Redis(connection_pool=create_pool(self._host))
                    process.pump = asyncio.create_task(self._pump(process), name="layer-pump")
                    self._stop_with_loop(loop)
        return process

    def _stop_with_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Stop the pump when its loop closes, as channels_redis closes its connections then
        (a short-lived loop, e.g. a test's, leaves no task behind)."""
        close = loop.close

        def closing() -> None:
            process = self._processes.pop(loop, None)
            if process is not None:
                with contextlib.suppress(BaseException):
                    loop.run_until_complete(self._stop(process))
            loop.close = close  # type: ignore[method-assign]
            close()

        loop.close = closing  # type: ignore[method-assign]

    @staticmethod
    async def _stop(process: Process) -> None:
        if process.pump is not None:
            process.pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await process.pump
        if process.redis is not None:
            await process.redis.aclose(close_connection_pool=True)

    async def _publish(self, process: Process | None, channel: str, envelope: dict) -> int | None:
        """Publish on this process's connection (in order); how many processes heard it."""
        if process is None or process.redis is None:
            # A loop without channels of its own (e.g. `async_to_sync` in a thread): the stock
            # `send` is a PUBLISH on the channel named.
            await self._stock("send")(channel, envelope)
            return None
        return await process.redis.publish(channel, self.serialize(envelope))

    # --- what Redis brings ---------------------------------------------------------------------

    async def _pump(self, process: Process) -> None:
        receive = self._stock("receive")
        while True:
            envelope = await receive(process.inbox)
            try:
                await self._arrived(process, envelope)
            except Exception:
                logger.exception("a channel layer message could not be handled")

    async def _arrived(self, process: Process, envelope: dict[str, Any]) -> None:
        if envelope.get("type") != RELAY or envelope.get("from") == process.inbox:
            return  # not ours to read, or our own group message back: delivered when sent
        if "to" in envelope:
            queue = process.channels.get(envelope["to"])
            if queue is not None:
                queue.put_nowait(envelope["message"])
        elif "group" in envelope:
            process.deliver(envelope["group"], envelope["message"])
        elif "join" in envelope:
            group = envelope["join"]
            process.joins[group] = process.joins.get(group, 0) + 1
            process.local_until.pop(group, None)
            answer = {"type": RELAY, "heard": envelope["join"], "from": process.inbox}
            await self._publish(process, envelope["from"], answer)
        elif "heard" in envelope:
            waiting = process.waiting.get(envelope["heard"])
            if waiting is not None:
                waiting.put_nowait(envelope["from"])

    # --- the channel layer API -----------------------------------------------------------------

    async def new_channel(self, prefix: str = "specific.") -> str:
        process = await self._process()
        channel = f"{process.inbox}!{prefix}{uuid.uuid4().hex}"
        process.channels[channel] = asyncio.Queue()
        return channel

    async def receive(self, channel: str) -> dict[str, Any]:
        process = self._here()
        if process is None or not process.owns(channel):
            return await self._stock("receive")(channel)
        queue = process.channels.setdefault(channel, asyncio.Queue())
        try:
            return await queue.get()
        except BaseException:
            # The receiver went away (a consumer closing), as the stock layer assumes.
            process.channels.pop(channel, None)
            raise

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        inbox, bang, _ = channel.partition("!")
        if not bang:
            await self._stock("send")(channel, message)
            return
        envelope = {"type": RELAY, "to": channel, "message": message}
        await self._publish(self._here(), inbox, envelope)

    async def group_add(self, group: str, channel: str) -> None:
        process = await self._process()
        members = process.groups.setdefault(group, set())
        first = not members
        members.add(channel)
        # Every time, not only for the first member: it returns once Redis has subscribed.
        await self._stock("group_add")(group, process.inbox)
        if first and group not in process.subscribed:
            process.subscribed.add(group)
            await self._join(process, group)

    async def _join(self, process: Process, group: str) -> None:
        """Tell the group's other processes, and wait until each has heard."""
        waiting = process.waiting[group] = asyncio.Queue()
        try:
            envelope = {"type": RELAY, "join": group, "from": process.inbox}
            heard_by = await self._publish(process, self._group_channel(group), envelope)
            others = max(0, (heard_by or 1) - 1)
            async with asyncio.timeout(self.join_timeout):
                for _ in range(others):
                    await waiting.get()
        except TimeoutError:
            logger.warning("joining %s: not every process answered in time", group)
        finally:
            process.waiting.pop(group, None)

    async def group_discard(self, group: str, channel: str) -> None:
        process = self._here()
        members = process.groups.get(group) if process else None
        if process is None or not members or channel not in members:
            return
        members.discard(channel)
        if not members:
            del process.groups[group]
            process.subscribed.discard(group)
            process.local_until.pop(group, None)
            process.joins.pop(group, None)
            await self._stock("group_discard")(group, process.inbox)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        process = self._here()
        subscribed = process is not None and group in process.subscribed
        sender = ""
        if process is not None and process.inbox:
            sender = process.inbox
            process.deliver(group, message)
            if subscribed and process.local_until.get(group, 0.0) > time.monotonic():
                return  # nobody else listened a moment ago, and nobody has joined since
        envelope = {"type": RELAY, "group": group, "from": sender, "message": message}
        joins = process.joins.get(group, 0) if process is not None else 0
        heard_by = await self._publish(process, self._group_channel(group), envelope)
        if not subscribed or heard_by is None or group not in process.subscribed:
            return
        # This process alone, and no `join` heard while the PUBLISH was on its way (its answer
        # and a join come on two connections, in either order).
        if heard_by <= 1 and process.joins.get(group, 0) == joins:
            process.local_until[group] = time.monotonic() + self.recheck
        else:
            process.local_until.pop(group, None)

    async def flush(self) -> None:
        process = self._processes.pop(asyncio.get_running_loop(), None)
        if process is not None:
            await self._stop(process)
        await self._stock("flush")()
