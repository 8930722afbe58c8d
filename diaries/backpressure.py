"""daphne's WebSocket write path: a frame goes out at once, and a client that stops reading is
dropped, not buffered forever.

**Eager writes.** Twisted's `transport.write()` never sends: it queues the bytes, registers the
socket for writability (an `epoll_ctl`), sends on the next loop turn and unregisters (another).
For a stream of small frames that is three system calls and a loop turn per frame. A WebSocket
transport here sends at once when nothing is queued before it, as asyncio's own transports do,
and queues only what the kernel did not take (Twisted then writes the rest as usual). Measured
with the bench at 200 streams, three runs each: p99 added latency 79 to 90 ms instead of 88 to
129 ms (docs/benchmark.md). Plain TCP only: a TLS transport is left as it is.

**Slow clients.**

daphne has no back-pressure of its own: every frame goes to Twisted's `transport.write()`, which
keeps whatever the kernel will not take in the transport's user-space buffer, without limit.
Nor is it only the application's frames: autobahn answers each ping with a pong written to the
transport, so a client that sends pings and never reads makes the server queue pongs. daphne
only pings a socket that has been *silent* for 20 s, so a client that keeps sending but never
reads is never closed, and what is queued for it piles up in the server's memory.

`install()` (called from diary_project/asgi.py) makes daphne's WebSocket factory build protocols
that register a `BufferGuard` as their transport's streaming producer (Twisted's
`registerProducer`): the transport calls `pauseProducing()` once more than its `bufferSize`
(64 KiB) is queued, and `resumeProducing()` only once the client has taken everything. Every
frame autobahn writes goes through its `sendData()`, control frames included; the bytes written
while the transport is paused are counted, and over `DIARY_WS_MAX_BUFFER_BYTES` the connection
is aborted: the browser reconnects and resynchronises with a snapshot, as it does after any
dropped connection; the generation itself goes on and is saved (guarantee 3). What is queued
for one client is thus at most 64 KiB plus the limit plus one frame, whatever the frames are.

The count starts when the buffer fills, so a client that reads is never dropped because one
frame is large (a long snapshot); it is dropped only if, without ever catching up, it leaves
more than the limit unread on top of the transport's own buffer.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.conf import settings
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer

logger = logging.getLogger(__name__)

_GUARDED = "_diary_buffer_guard"


def eager_writes(transport: Any) -> bool:
    """Make a Twisted TCP transport send at once when nothing is queued; whether it could."""
    if not (
        isinstance(getattr(transport, "dataBuffer", None), bytes)
        and isinstance(getattr(transport, "_tempDataBuffer", None), list)
        and hasattr(transport, "socket")
    ):
        return False  # not a plain TCP transport (TLS wraps one): Twisted's write as it is
    queued_write = transport.write

    def write(data: bytes) -> None:
        if (
            data
            and type(data) is bytes
            and transport.connected
            and not transport._writeDisconnected
            and not transport._tempDataBuffer
            and transport.offset >= len(transport.dataBuffer)
        ):
            try:
                sent = transport.socket.send(data)
            except OSError:  # full (EAGAIN), or an error the queued write meets and reports
                sent = 0
            if sent == len(data):
                return
            data = data[sent:]
        queued_write(data)

    transport.write = write
    return True


def plain_writes(transport: Any) -> None:
    """Undo eager_writes: the closure refers back to the transport, a cycle that would leave
    every closed connection to the cyclic collector."""
    vars(transport).pop("write", None)


@implementer(IPushProducer)
class BufferGuard:
    """A connection's streaming producer: counts the bytes written while the transport's
    buffer is full (between its `pauseProducing()` and `resumeProducing()` calls)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.paused = False
        self.written = 0

    def pauseProducing(self) -> None:  # Twisted's: called on every write while full
        if not self.paused:
            self.paused, self.written = True, 0

    def resumeProducing(self) -> None:  # Twisted's: the client took everything
        self.paused = False

    def stopProducing(self) -> None:  # Twisted's: the connection is gone
        self.paused = False

    def over_limit(self, size: int) -> bool:
        """Whether writing `size` more bytes would put the client over the limit."""
        if not self.paused:
            return False
        self.written += size
        return self.written > self.limit


def guarded_protocol(base: type) -> type:
    """A subclass of daphne's WebSocketProtocol that writes eagerly and drops a client that
    stops reading."""

    class GuardedWebSocketProtocol(base):
        max_buffer_bytes = 0
        buffer_guard: BufferGuard | None = None
        buffer_guard_tripped = False
        eager = False

        def connectionMade(self):  # Twisted's; daphne hands over the upgraded transport
            self.eager = eager_writes(self.transport)
            if self.max_buffer_bytes > 0:
                # daphne's HTTPChannel, which read the upgrade request, is still registered
                # as the transport's producer; it has handed the connection over.
                self.buffer_guard = BufferGuard(self.max_buffer_bytes)
                self.transport.unregisterProducer()
                self.transport.registerProducer(self.buffer_guard, True)
            super().connectionMade()

        def connectionLost(self, reason):  # Twisted's
            if self.eager:
                plain_writes(self.transport)
            super().connectionLost(reason)

        def sendData(self, data, sync=False, chopsize=None):  # autobahn's: every frame
            if self.buffer_guard_tripped:
                return  # dropped: nothing more is queued for this client
            guard = self.buffer_guard
            if guard is not None and guard.over_limit(len(data)):
                self.drop_slow_client(guard.written, guard.limit)
                return
            super().sendData(data, sync, chopsize)

        def drop_slow_client(self, queued: int, limit: int) -> None:
            self.buffer_guard_tripped = True
            logger.info(
                "closed a WebSocket whose client stopped reading: "
                "%d bytes queued on top of a full buffer (limit %d)",
                queued,
                limit,
            )
            # autobahn's own way out (as for a ping timeout): the consumer gets its
            # websocket.disconnect (1006) and the client sees the connection reset.
            self.wasClean = False
            self.wasNotCleanReason = "client not reading: send buffer over the limit"
            self.dropConnection(abort=True)

    GuardedWebSocketProtocol.__name__ = GuardedWebSocketProtocol.__qualname__ = (
        f"Guarded{base.__name__}"
    )
    setattr(GuardedWebSocketProtocol, _GUARDED, True)
    return GuardedWebSocketProtocol


def install() -> bool:
    """Under daphne, write eagerly on every WebSocket connection it builds from now on, and
    guard it (unless DIARY_WS_MAX_BUFFER_BYTES is 0).

    daphne's command line (and its runserver) imports `daphne.server`, hence
    `daphne.ws_protocol`, before it imports the application, and builds its
    `WebSocketFactory` only when the server runs: replacing the factory's `protocol` class here
    covers `daphne …`, `python -m daphne …` and `manage.py runserver`. Anywhere else (the
    in-process tests, a management command) there is no daphne and nothing to do.
    Returns whether the guard is in place.
    """
    ws_protocol = sys.modules.get("daphne.ws_protocol")
    if ws_protocol is None:
        return False
    factory = ws_protocol.WebSocketFactory
    if not getattr(factory.protocol, _GUARDED, False):
        factory.protocol = guarded_protocol(factory.protocol)
    factory.protocol.max_buffer_bytes = max(0, settings.DIARY_WS_MAX_BUFFER_BYTES)
    return factory.protocol.max_buffer_bytes > 0
