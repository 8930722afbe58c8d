"""Eager writes (diaries/backpressure.py) on a real Twisted TCP transport over real sockets.

A frame goes to the kernel inside `write()` when nothing is queued before it; what the kernel
does not take, and everything behind queued bytes, is queued in order for Twisted's writer.
The live tiers (test_live_daphne, test_slow_clients, test_browser) run the whole path in daphne.
"""

from __future__ import annotations

import gc
import socket
import weakref
from collections.abc import Iterator

import daphne.server  # noqa: F401  (installs Twisted's asyncio reactor first, as daphne does)
import pytest
from twisted.internet import reactor, tcp
from twisted.internet.protocol import Protocol

from diaries.backpressure import BufferGuard, eager_writes, plain_writes


def queued_bytes(transport: tcp.Server) -> int:
    """What the transport holds for Twisted's writer (its buffers, read here to test them)."""
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


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


def read_exactly(peer: socket.socket, n: int) -> bytes:
    peer.settimeout(5)
    data = b""
    while len(data) < n:
        data += peer.recv(n - len(data))
    return data


def test_a_frame_reaches_the_kernel_inside_write(pair):
    transport, peer = pair
    assert eager_writes(transport)
    transport.write(b"first frame")
    assert queued_bytes(transport) == 0  # nothing left for Twisted's writer
    assert read_exactly(peer, 11) == b"first frame"


def test_without_eager_writes_twisted_only_queues(pair):
    transport, _peer = pair
    transport.write(b"first frame")
    assert queued_bytes(transport) == 11  # waits for the next loop turn


def test_behind_queued_bytes_a_frame_is_queued_in_order(pair):
    transport, peer = pair
    assert eager_writes(transport)
    transport.writeSequence([b"queued "])  # Twisted's own queue, not sent yet
    transport.write(b"next")
    assert queued_bytes(transport) == len(b"queued next")
    transport.doWrite()  # what the reactor does when the socket is writable
    assert read_exactly(peer, 11) == b"queued next"


def test_what_the_kernel_does_not_take_is_queued_and_arrives_in_order(pair):
    transport, peer = pair
    transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    assert eager_writes(transport)
    blob = bytes(range(256)) * 8192  # 2 MiB: far more than the kernel takes at once
    transport.write(blob)
    transport.write(b"after")
    queued = queued_bytes(transport)
    assert 0 < queued < len(blob) + 5
    received = b""
    peer.settimeout(5)
    while len(received) < len(blob) + 5:
        if queued_bytes(transport):
            transport.doWrite()
        received += peer.recv(1 << 20)
    assert received == blob + b"after"


def test_a_transport_that_is_not_plain_tcp_is_left_alone():
    class Wrapped:  # a TLS transport wraps the TCP one and has no buffers of its own
        def write(self, data: bytes) -> None:
            self.written = data

    wrapped = Wrapped()
    original = wrapped.write
    assert not eager_writes(wrapped)
    assert wrapped.write == original


def test_a_closed_transport_is_freed_without_the_cyclic_collector():
    """The eager write refers back to its transport; plain_writes (run when the connection is
    lost) breaks that cycle, so a closed connection's transport is freed at once."""
    a, b = socket.socketpair()
    transport = tcp.Server(a, Protocol(), ("127.0.0.1", 1), None, 1, reactor)
    transport.stopReading()
    gone = weakref.ref(transport)
    assert eager_writes(transport)
    plain_writes(transport)
    gc.disable()
    try:
        del transport
        assert gone() is None
    finally:
        gc.enable()
        a.close()
        b.close()


def test_after_the_connection_is_lost_nothing_is_sent(pair):
    transport, peer = pair
    assert eager_writes(transport)
    transport.connected = False  # as after connectionLost
    transport.write(b"late")
    peer.settimeout(0.2)
    with pytest.raises(TimeoutError):
        peer.recv(10)


def test_the_transport_tells_the_buffer_guard_when_it_is_full_and_when_it_drained(pair):
    """The contract diaries.backpressure relies on, through Twisted's public producer API:
    paused once the transport holds more than its buffer, resumed once the client took all."""
    transport, peer = pair
    transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    guard = BufferGuard(limit=100_000)
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
