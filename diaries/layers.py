"""Channels' InMemoryChannelLayer without its O(connections) cost per message (the embedded
default's layer; measured in docs/benchmark.md).

`InMemoryChannelLayer._clean_expired()` walks every channel and every group membership of the
process, and runs on every `receive()` and every `group_send()`: with N sockets each delta costs
O(N), so N streams cost O(N²). Here the walk runs at most once a second (messages then expire up
to a second late; nothing else changes), and flat messages (str / int / float / bool / None
values, which is every diary event) are copied with `dict()` instead of `deepcopy()`.

Direct members: a consumer in this process may join a group with a handler instead of its
channel (`direct_add`). `group_send` then awaits the handler itself, in the sender's task, in
the order of the sends: no queue, no task switch, and none of Channels' per-message task and
`asyncio.wait` in the consumer's receive loop. The in-memory layer only ever reaches this
process, so every member of every group is local; a layer between processes (Redis) has no
`direct_add` and the consumers join its groups as usual.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from copy import deepcopy
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

_FLAT = (str, int, float, bool, type(None))

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class FastInMemoryChannelLayer(InMemoryChannelLayer):
    clean_every = 1.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._cleaned_at = 0.0
        self._direct: dict[str, dict[str, Handler]] = {}

    # --- direct members ----------------------------------------------------------------------

    def direct_add(self, group: str, name: str, handler: Handler) -> None:
        """`handler` receives the group's messages (`name`: the member's channel name)."""
        self.require_valid_group_name(group)
        self._direct.setdefault(group, {})[name] = handler

    def direct_discard(self, group: str, name: str) -> None:
        members = self._direct.get(group)
        if members is not None:
            members.pop(name, None)
            if not members:
                del self._direct[group]

    async def group_send(self, group, message):
        members = self._direct.get(group)
        if members:
            flat = all(type(v) in _FLAT for v in message.values())
            for name, handler in list(members.items()):
                try:
                    await handler(dict(message) if flat else deepcopy(message))
                except Exception:
                    # One member's failure must not cost the others (or the sender) a message.
                    logger.exception("direct member %s of %s failed", name, group)
        if group in self.groups:
            await super().group_send(group, message)

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._cleaned_at < self.clean_every:
            return
        self._cleaned_at = now
        super()._clean_expired()

    async def send(self, channel, message):
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        queue = self.channels.get(channel)
        if queue is None:
            queue = self.channels[channel] = asyncio.Queue(maxsize=self.get_capacity(channel))
        flat = all(type(v) in _FLAT for v in message.values())
        try:
            queue.put_nowait(
                (time.time() + self.expiry, dict(message) if flat else deepcopy(message))
            )
        except asyncio.queues.QueueFull:
            raise ChannelFull(channel) from None
