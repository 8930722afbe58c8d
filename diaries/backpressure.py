"""The slow-client rule: daphne drops a WebSocket whose client stopped reading, instead of
buffering what it sends without bound. Twisted's public API only.

daphne has no back-pressure of its own: every frame goes to Twisted's `transport.write()`, which
keeps whatever the kernel will not take in the transport's user-space buffer, without limit.
Nor is it only the application's frames: autobahn answers each ping with a pong written to the
transport, so a client that sends pings and never reads makes the server queue pongs. daphne
only pings a socket that has been *silent* for 20 s, so a client that keeps sending but never
reads is never closed, and what is queued for it piles up in the server's memory.

The guard stands between each connection and its protocol, the way Twisted's own policies do
(`twisted.protocols.policies`): a `WrappingFactory` whose `ProtocolWrapper` is the protocol's
transport. It is installed as a Twisted endpoint, `nikki-guard:max_buffer=N:<endpoint>` (the
plugin in twisted/plugins/), which `diary_project/serve.py` puts around each endpoint daphne
listens on. On a WebSocket upgrade daphne hands a wrapping transport on to the WebSocket
protocol (as it does under TLS), so every byte autobahn writes, pongs included, goes through
`GuardedConnection.write`.

From the upgrade on, a `BufferGuard` is the transport's streaming producer (`registerProducer`,
in place of daphne's HTTP channel): the transport calls its `pauseProducing()` once more than
its `bufferSize` (64 KiB) is queued, and `resumeProducing()` only once the client has taken
everything. The bytes written while it is paused are counted, and over the limit the connection
is aborted (`abortConnection()`): the browser reconnects and resynchronises with a snapshot, as
after any dropped connection; the generation itself goes on and is saved. What is queued for one
client is thus at most 64 KiB plus the limit plus one frame, whatever the frames are.

The count starts when the buffer fills, so a client that reads is never dropped because one
frame is large (a long snapshot). Plain HTTP responses are not limited: a slow download is not
a WebSocket that stopped reading.
"""

from __future__ import annotations

import logging
from typing import Any

from autobahn.twisted.websocket import WebSocketServerProtocol
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import (
    IPushProducer,
    IStreamServerEndpoint,
    IStreamServerEndpointStringParser,
)
from twisted.plugin import IPlugin
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from zope.interface import implementer

logger = logging.getLogger(__name__)

PREFIX = "nikki-guard"


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


class GuardedConnection(ProtocolWrapper):
    """The transport of one connection's protocol; guards it once it is a WebSocket."""

    factory: GuardingFactory
    guard: BufferGuard | None = None
    dropped = False

    @property
    def wrappedProtocol(self) -> Any:
        return self._protocol

    @wrappedProtocol.setter
    def wrappedProtocol(self, protocol: Any) -> None:
        # daphne's upgrade hands the connection to its WebSocket protocol by setting this.
        self._protocol = protocol
        if isinstance(protocol, WebSocketServerProtocol) and self.transport is not None:
            self.guard = BufferGuard(self.factory.limit)
            self.transport.unregisterProducer()  # daphne's HTTP channel, done with the request
            self.transport.registerProducer(self.guard, True)

    def write(self, data: bytes) -> None:
        guard = self.guard
        if guard is not None and (self.dropped or guard.over_limit(len(data))):
            if not self.dropped:
                self.drop_slow_client(guard)
            return  # dropped: nothing more is queued for this client
        self.transport.write(data)

    def writeSequence(self, data: list[bytes]) -> None:
        self.write(b"".join(data))

    def drop_slow_client(self, guard: BufferGuard) -> None:
        self.dropped = True
        logger.info(
            "closed a WebSocket whose client stopped reading: "
            "%d bytes queued on top of a full buffer (limit %d)",
            guard.written,
            guard.limit,
        )
        # The WebSocket protocol sees the connection lost (its consumer gets
        # websocket.disconnect, 1006); the client sees it reset.
        self.transport.abortConnection()


class GuardingFactory(WrappingFactory):
    """Wraps daphne's HTTP factory: each connection gets a `GuardedConnection`."""

    protocol = GuardedConnection

    def __init__(self, wrappedFactory: Any, limit: int) -> None:
        super().__init__(wrappedFactory)
        self.limit = limit


@implementer(IStreamServerEndpoint)
class GuardedEndpoint:
    """Listens on another endpoint, with every connection guarded."""

    def __init__(self, endpoint: Any, limit: int) -> None:
        self.endpoint = endpoint
        self.limit = limit

    def listen(self, protocolFactory: Any) -> Any:
        return self.endpoint.listen(GuardingFactory(protocolFactory, self.limit))


@implementer(IPlugin, IStreamServerEndpointStringParser)
class GuardedEndpointParser:
    """Twisted's endpoint string plugin: `nikki-guard:max_buffer=N:<endpoint>`."""

    prefix = PREFIX

    def parseStreamServer(self, reactor: Any, *args: str, **kwargs: str) -> GuardedEndpoint:
        limit = int(kwargs.pop("max_buffer"))
        if limit <= 0:
            raise ValueError(f"{PREFIX}: max_buffer must be a positive number of bytes")
        return GuardedEndpoint(serverFromString(reactor, unparse(args, kwargs)), limit)


def guarded_description(description: str, limit: int) -> str:
    """The endpoint `description` (as daphne takes them) with the guard around it."""
    return f"{PREFIX}:max_buffer={int(limit)}:{description}"


def unparse(args: tuple[str, ...], kwargs: dict[str, str]) -> str:
    """An endpoint description from its parsed parts, escaped as Twisted's parser expects."""

    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")

    parts = [escape(arg) for arg in args]
    parts += [f"{escape(key)}={escape(value)}" for key, value in kwargs.items()]
    return ":".join(parts)
