"""A prototype for the recommendation in docs/benchmark.md: Channels' InMemoryChannelLayer
without its O(connections) cost per message. Bench-only; not used by the app.

`InMemoryChannelLayer._clean_expired()` walks every channel and every group membership of the
process, and runs on every `receive()` and every `group_send()`: with N sockets each delta costs
O(N), so N streams cost O(N²). Here the walk runs at most once a second (messages then expire up
to a second late; nothing else changes), and flat messages (str / int / float / bool / None
values, which is every diary event) are copied with `dict()` instead of `deepcopy()`.
"""

from __future__ import annotations

import asyncio
import time
from copy import deepcopy

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

_FLAT = (str, int, float, bool, type(None))


class FastInMemoryChannelLayer(InMemoryChannelLayer):
    clean_every = 1.0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._cleaned_at = 0.0

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
