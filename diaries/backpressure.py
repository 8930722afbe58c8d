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

daphne has no back-pressure of its own: every frame the consumer sends goes to Twisted's
`transport.write()`, which keeps whatever the kernel will not take in the transport's user-space
buffer, without limit. daphne only pings a socket that has been *silent* for 20 s, so a client
that keeps sending (`watch`, say) but never reads is never closed and its frames pile up in the
server's memory.

`install()` (called from diary_project/asgi.py) makes daphne's WebSocket factory build protocols
that, before writing a frame the application sent, look at the bytes still queued in the
transport (written by us, not yet taken by the kernel). Over `DIARY_WS_MAX_BUFFER_BYTES` the
connection is aborted: the browser reconnects and resynchronises with a snapshot, as it does after
any dropped connection; the generation itself goes on and is saved (guarantee 3). A server that
holds a backlog for a client is thus bounded by the limit plus one frame per socket.

Why not Twisted's producer API: `transport.registerProducer(p, streaming=True)` calls
`p.pauseProducing()` when the buffer passes the transport's `bufferSize` (64 KiB, which is also
the size of every `recv()` in `tcp.Connection.doRead`, so it is not a knob to raise to 1 MiB),
and after daphne's HTTP-to-WebSocket upgrade the transport still has daphne's `HTTPChannel`
registered as its producer. The buffered length Twisted compares (`_isSendBufferFull`) has no
public accessor; `queued_bytes()` computes the same figure, and treats a transport it does not
recognise as empty (the guard then does nothing rather than guess).

The check runs before each write, so a well-behaved client is never dropped because one frame is
large (a long snapshot); it is dropped only if it has not taken the earlier bytes by the time the
next frame is due.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

_GUARDED = "_diary_buffer_guard"


def queued_bytes(transport: Any) -> int:
    """Bytes written to a Twisted transport that the kernel has not taken yet.

    A TCP transport is a `twisted.internet.abstract.FileDescriptor`: `dataBuffer[offset:]` is
    being written, `_tempDataBuffer` (of total length `_tempDataLen`) waits behind it. A
    wrapping transport (TLS) is unwrapped to the TCP transport under it.
    """
    for _ in range(4):
        if transport is None:
            return 0
        data = getattr(transport, "dataBuffer", None)
        if data is not None:
            offset = getattr(transport, "offset", 0)
            return len(data) - offset + getattr(transport, "_tempDataLen", 0)
        transport = getattr(transport, "transport", None)
    return 0


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


def guarded_protocol(base: type) -> type:
    """A subclass of daphne's WebSocketProtocol that writes eagerly and drops a client that
    stops reading."""

    class GuardedWebSocketProtocol(base):
        max_buffer_bytes = 0
        buffer_guard_tripped = False
        eager = False

        def connectionMade(self):  # Twisted's; daphne hands over the upgraded transport
            self.eager = eager_writes(self.transport)
            super().connectionMade()

        def connectionLost(self, reason):  # Twisted's
            if self.eager:
                plain_writes(self.transport)
            super().connectionLost(reason)

        def serverSend(self, content, binary=False):  # daphne's method
            if self.buffer_guard_tripped:
                return  # dropped: nothing more is queued for this client
            limit = self.max_buffer_bytes
            if limit > 0:
                queued = queued_bytes(self.transport)
                if queued > limit:
                    self.drop_slow_client(queued, limit)
                    return
            super().serverSend(content, binary)

        def drop_slow_client(self, queued: int, limit: int) -> None:
            self.buffer_guard_tripped = True
            logger.info(
                "closed a WebSocket whose client stopped reading: %d bytes queued (limit %d)",
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
