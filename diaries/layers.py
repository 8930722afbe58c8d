"""Channels' InMemoryChannelLayer without its O(connections) cost per message (the embedded
default's layer).

The stock layer sweeps every channel and every group membership of the process for expired
messages on every `receive()` and every `group_send()`: with N sockets each frame costs O(N), so
N streams cost O(N²). This subclass overrides those public methods (and `send`) so that the sweep
runs at most once every `sweep_every` seconds (a message then expires up to that much late;
nothing else changes), `group_send` puts the message on each member's queue without a task per
member, and flat messages (str / int / float / bool / None values, every stream frame) are
copied with `dict()` instead of `deepcopy()`. Delivery is Channels' own: each consumer receives
from its channel and handles the message in its own task.

The state is the stock layer's (`channels`: name → queue of `(expires_at, message)`, `groups`:
name → {channel: joined_at}), so its `group_add`, `group_discard`, `flush` and `new_channel`
serve unchanged; queues are touched through asyncio's public `Queue` methods only.
"""

from __future__ import annotations

import asyncio
import time
from copy import deepcopy
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

_FLAT = (str, int, float, bool, type(None))


def copy_message(message: dict[str, Any]) -> dict[str, Any]:
    """Each receiver gets its own copy, as with the stock layer."""
    if all(type(value) in _FLAT for value in message.values()):
        return dict(message)
    return deepcopy(message)


class FastInMemoryChannelLayer(InMemoryChannelLayer):
    sweep_every = 1.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._swept_at = time.monotonic()

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        self._put(channel, copy_message(message))

    async def receive(self, channel: str) -> dict[str, Any]:
        self.require_valid_channel_name(channel)
        self._sweep_due()
        queue = self._queue(channel)
        try:
            _expires, message = await queue.get()
        except BaseException:
            # The receiver went away (a consumer closing): an empty queue is not kept.
            if queue.empty() and self.channels.get(channel) is queue:
                del self.channels[channel]
            raise
        return message

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._sweep_due()
        members = self.groups.get(group)
        if not members:
            return
        flat = all(type(value) in _FLAT for value in message.values())
        for channel in list(members):
            try:
                self._put(channel, dict(message) if flat else deepcopy(message))
            except ChannelFull:
                pass  # as the stock layer: a full member misses it, the others get it

    # --- helpers -------------------------------------------------------------------------------

    def _queue(self, channel: str) -> asyncio.Queue:
        queue = self.channels.get(channel)
        if queue is None:
            queue = self.channels[channel] = asyncio.Queue(maxsize=self.get_capacity(channel))
        return queue

    def _put(self, channel: str, message: dict[str, Any]) -> None:
        try:
            self._queue(channel).put_nowait((time.time() + self.expiry, message))
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None

    def _sweep_due(self) -> None:
        now = time.monotonic()
        if now - self._swept_at >= self.sweep_every:
            self._swept_at = now
            self.sweep()

    def sweep(self) -> None:
        """Drop expired messages (their channel, whose receiver is gone, leaves every group, as
        with the stock layer) and group memberships older than `group_expiry`."""
        now = time.time()
        for channel, queue in list(self.channels.items()):
            if queue.empty():
                continue
            queued = [queue.get_nowait() for _ in range(queue.qsize())]
            kept = [item for item in queued if item[0] >= now]
            for item in kept:
                queue.put_nowait(item)
            if len(kept) < len(queued):
                for members in self.groups.values():
                    members.pop(channel, None)
            if not kept:
                del self.channels[channel]
        self._expire_memberships(int(now) - self.group_expiry)

    def _expire_memberships(self, joined_before: int) -> None:
        for group, members in list(self.groups.items()):
            for channel, joined_at in list(members.items()):
                if joined_at and joined_at < joined_before:
                    del members[channel]
            if not members:
                del self.groups[group]
