"""A lean WebSocket client on an asyncio Protocol, so that one process holds hundreds of sockets.

The bench's clients run in their own process, on the same two cores as the server and the
upstream; a general-purpose client library costs tens of microseconds per frame there, which the
server would feel. This one does the RFC 6455 handshake (with the session cookie and the Origin
header), masks what it sends, reads unmasked server frames, answers pings, and stamps each read
with `time.monotonic()` *when the bytes arrive* (`data_received`), before any parsing. Frames are
kept as raw text and parsed after the run; only their first bytes are looked at while streaming
(to spot `done` and `error`).

`pause()` stops reading from the socket (the kernel buffers fill, then the server's): a client
that stops reading, for the slow-client test.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time

_DONE = b'{"type": "done"'
_ERROR = b'{"type": "error"'


class HandshakeRefused(Exception):
    pass


class WSClient(asyncio.Protocol):
    def __init__(self, host: str, port: int, path: str, cookie: str, origin: str) -> None:
        loop = asyncio.get_running_loop()
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: {origin}\r\nCookie: {cookie}\r\n\r\n"
        ).encode()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.finished: asyncio.Future[None] = loop.create_future()  # a done or error frame
        self.transport: asyncio.Transport | None = None
        self.upgraded = False
        self.buf = bytearray()
        self.frames: list[tuple[float, bytes]] = []  # (monotonic receipt, payload)
        self.rx_bytes = 0  # WebSocket bytes (headers + payloads) after the handshake
        self.rx_frames = 0
        self.close_code: int | None = None
        self.sent_at: float | None = None

    # --- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[: buf.find(b"\r\n")])
            del buf[: end + 4]
            if b" 101 " not in status:
                if not self.opened.done():
                    self.opened.set_exception(HandshakeRefused(status.decode("latin-1")))
                self.transport.close()
                return
            self.upgraded = True
            self.opened.set_result(None)
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if size - pos < head + length:
                break
            payload = bytes(buf[pos + head : pos + head + length])
            pos += head + length
            self.rx_bytes += head + length
            opcode = b0 & 0x0F
            if opcode in (0x1, 0x0, 0x2):
                self.rx_frames += 1
                self.frames.append((now, payload))
                if payload.startswith((_DONE, _ERROR)) and not self.finished.done():
                    self.finished.set_result(None)
            elif opcode == 0x9:  # ping
                self._send_frame(0xA, payload)
            elif opcode == 0x8:  # close
                self.close_code = int.from_bytes(payload[:2], "big") if payload else 1005
                self._send_frame(0x8, payload[:2])
                self.transport.close()
        del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)
        if not self.finished.done():
            self.finished.set_result(None)

    # --- sending -----------------------------------------------------------------------------

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        n = len(payload)
        if n < 126:
            head = bytes((0x80 | opcode, 0x80 | n))
        elif n < 65536:
            head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
        else:
            head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        key = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
        self.transport.write(head + mask + masked)

    def send_text(self, text: str) -> None:
        self.sent_at = time.monotonic()
        self._send_frame(0x1, text.encode())

    def pause(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._send_frame(0x8, (1000).to_bytes(2, "big"))
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def connect(host: str, port: int, cookie: str, path: str = "/ws/diary/") -> WSClient:
    loop = asyncio.get_running_loop()
    origin = f"http://{host}:{port}"
    _, proto = await loop.create_connection(
        lambda: WSClient(host, port, path, cookie, origin), host, port
    )
    await proto.opened
    return proto
