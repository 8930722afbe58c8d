"""The slow-client guard (diaries/backpressure.py), piece by piece, through Twisted's public API.

A real Twisted TCP transport over real sockets tells the guard when its buffer is full and when
the client took everything; the wrapping transport counts what is written meanwhile and aborts a
WebSocket over the limit, never plain HTTP; the `nikki-guard:` endpoint wraps any endpoint.
The live tiers (tests/live/: test_slow_clients, test_outside_socket) run the whole path in daphne.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import daphne.server  # noqa: F401  (installs Twisted's asyncio reactor first, as daphne does)
import pytest
from autobahn.twisted.websocket import WebSocketServerProtocol
from twisted.internet import reactor, tcp
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import StringTransport

from diaries.backpressure import (
    BufferGuard,
    GuardedEndpoint,
    GuardingFactory,
    guarded_description,
    unparse,
)

LIMIT = 100_000


@pytest.fixture
def pair() -> Iterator[tuple[tcp.Server, socket.socket]]:
    """A Twisted server transport on one end of a loopback TCP connection, a plain socket on
    the other."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        peer = socket.create_connection(listener.getsockname())
        conn, addr = listener.accept()
    conn.setblocking(False)
    transport = tcp.Server(conn, Protocol(), addr, None, 1, reactor)
    yield transport, peer
    transport.stopReading()  # Twisted registered the socket for reading on creation
    transport.stopWriting()
    conn.close()
    peer.close()


def test_the_transport_tells_the_buffer_guard_when_it_is_full_and_when_it_drained(pair):
    """The contract diaries.backpressure relies on, through Twisted's public producer API:
    paused once the transport holds more than its buffer, resumed once the client took all."""
    transport, peer = pair
    transport.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    guard = BufferGuard(limit=LIMIT)
    transport.registerProducer(guard, True)
    transport.write(b"x" * 1024)
    assert not guard.paused and not guard.over_limit(10**9)  # nothing counted while not full
    transport.write(bytes(2 * 2**20))  # the peer reads nothing: far over the buffer
    assert guard.paused
    assert not guard.over_limit(60_000)
    assert guard.over_limit(60_000)  # 120,000 bytes more since it filled
    received, total = 0, 1024 + 2 * 2**20
    peer.settimeout(5)
    while received < total:
        transport.doWrite()  # what the reactor does when the socket is writable
        received += len(peer.recv(1 << 20))
    transport.doWrite()
    assert not guard.paused and not guard.over_limit(10**9)
    transport.unregisterProducer()


class HTTPChannelLike(Protocol):
    """What daphne's HTTP channel does on a new connection: it is the transport's producer."""

    def connectionMade(self) -> None:
        self.transport.registerProducer(self, True)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


def connection(limit: int = LIMIT):
    """A guarded connection over a test transport, serving HTTP (not yet upgraded)."""
    transport = StringTransport()
    wrapper = GuardingFactory(Factory.forProtocol(HTTPChannelLike), limit).buildProtocol(None)
    wrapper.makeConnection(transport)
    return wrapper, transport


def upgrade(wrapper) -> WebSocketServerProtocol:
    """What daphne does on a WebSocket upgrade when the transport is a wrapping one."""
    protocol = WebSocketServerProtocol()
    wrapper.wrappedProtocol = protocol
    return protocol


def test_a_websocket_that_leaves_more_than_the_limit_unread_is_aborted(caplog):
    wrapper, transport = connection()
    upgrade(wrapper)
    assert transport.producer is wrapper.guard  # in place of the HTTP channel
    wrapper.write(b"a" * 2 * LIMIT)  # the buffer was not full: written, not counted
    transport.producer.pauseProducing()  # the transport's buffer is now full
    wrapper.write(b"b" * LIMIT)  # exactly the limit on top of it: still written
    assert not transport.disconnected
    with caplog.at_level(logging.INFO, logger="diaries.backpressure"):
        wrapper.write(b"c")  # over the limit
        wrapper.write(b"d")
    assert transport.disconnected  # abortConnection()
    assert transport.value() == b"a" * 2 * LIMIT + b"b" * LIMIT  # nothing more was queued
    assert caplog.text.count("closed a WebSocket whose client stopped reading") == 1


def test_a_websocket_that_catches_up_starts_from_nothing_again():
    wrapper, transport = connection()
    upgrade(wrapper)
    for _ in range(3):
        transport.producer.pauseProducing()
        wrapper.write(b"x" * (LIMIT - 10))
        transport.producer.resumeProducing()  # the client took everything
    assert not transport.disconnected
    assert len(transport.value()) == 3 * (LIMIT - 10)


def test_plain_http_is_never_dropped():
    """A slow download is not a WebSocket that stopped reading: only the upgrade guards."""
    wrapper, transport = connection()
    assert isinstance(transport.producer, HTTPChannelLike)
    transport.producer.pauseProducing()
    wrapper.write(b"x" * 10 * LIMIT)
    wrapper.writeSequence([b"y" * LIMIT, b"z"])
    assert not transport.disconnected
    assert len(transport.value()) == 11 * LIMIT + 1


def test_the_endpoint_wraps_the_factory_it_listens_with():
    class Endpoint:
        def listen(self, factory):
            self.factory = factory
            return "listening"

    inner, daphne_factory = Endpoint(), Factory.forProtocol(Protocol)
    assert GuardedEndpoint(inner, 4096).listen(daphne_factory) == "listening"
    assert isinstance(inner.factory, GuardingFactory)
    assert (inner.factory.wrappedFactory, inner.factory.limit) == (daphne_factory, 4096)


def test_the_endpoint_string_wraps_any_endpoint_daphne_builds(tmp_path):
    path = str(tmp_path / "odd:name=with\\chars.sock")  # every character Twisted escapes
    description = unparse(("unix", path), {"mode": "600"})
    endpoint = serverFromString(reactor, guarded_description(description, 4096))
    assert isinstance(endpoint, GuardedEndpoint) and endpoint.limit == 4096
    port = endpoint.listen(Factory.forProtocol(Protocol)).result
    try:
        assert port.getHost().name == path.encode()
    finally:
        port.stopListening()


def test_a_guard_without_a_limit_is_refused():
    with pytest.raises(ValueError, match="max_buffer must be a positive number of bytes"):
        serverFromString(reactor, "nikki-guard:max_buffer=0:tcp:port=0")
