"""In-process sockets: a WebSocket through the real ASGI stack (origin check, session auth,
routing) with Channels' communicator, and a client that keeps the frames it reads."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from tests.support.factories import make_entry, make_user


def session_cookie_for(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


# A generation's inputs as the socket takes them (the in-process tests).
INPUTS = {
    "action": "generate",
    "morning": "ran by the river",
    "afternoon": "lunch with Aiko",
    "evening": "",
    "tone": "warm",
    "language": "en",
}


async def connect(
    user=None,
    *,
    origin: str = "http://localhost",
    cookie: str | None = None,
    host: str = "localhost",
    headers: list[tuple[bytes, bytes]] = (),
):
    """A WebSocket through the real ASGI stack (origin check, session auth, routing)."""
    from diary_project.asgi import application

    headers = [(b"origin", origin.encode()), (b"host", host.encode()), *headers]
    if cookie is None and user is not None:
        cookie = await database_sync_to_async(session_cookie_for)(user)
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(application, "/ws/diary/", headers=headers)
    connected, _ = await communicator.connect()
    return communicator, connected


class Socket:
    """A signed-in test client that reads frames and keeps them."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.c = communicator
        self.frames: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.c.send_to(text_data=message if isinstance(message, str) else json.dumps(message))

    async def recv(self, timeout: float = 3) -> dict[str, Any]:
        frame = json.loads(await self.c.receive_from(timeout=timeout))
        self.frames.append(frame)
        return frame

    async def until(self, frame_type: str, timeout: float = 5, **match: Any) -> dict[str, Any]:
        """Read frames until one of `frame_type` (matching the given fields) arrives."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.recv(timeout=timeout)
                if frame["type"] == frame_type and all(frame.get(k) == v for k, v in match.items()):
                    return frame

    def text(self, entry: int | None = None) -> str:
        """The text a client following the protocol's rules would show."""
        text, last = "", 0
        for frame in self.frames:
            if entry is not None and frame.get("entry") != entry:
                continue
            if frame["type"] == "started":
                text, last = "", 0
            elif frame["type"] == "snapshot":
                text, last = frame["text"], frame["seq"]
            elif frame["type"] == "delta":
                assert frame["seq"] <= last + 1, f"gap: {last} → {frame['seq']}"
                if frame["seq"] == last + 1:
                    text, last = text + frame["text"], frame["seq"]
            elif frame["type"] == "done":
                text = frame["text"]
        return text

    async def close(self) -> None:
        await self.c.disconnect()


async def entry_being_written(socket_for) -> tuple[Any, Any, Socket]:
    """A new user's entry started on their socket, its first two deltas in: (user, entry,
    socket). `socket_for` is the conftest fixture; the writer is whatever the test set up."""
    user = await database_sync_to_async(make_user)()
    entry = await database_sync_to_async(make_entry)(user)
    ws = await socket_for(user)
    await ws.send({"action": "generate", "entry": entry.pk})
    await ws.until("delta")
    await ws.until("delta")
    return user, entry, ws
