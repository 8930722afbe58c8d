"""Shared fixtures: users, entries, scripted writers, a signed-in socket."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.utils import translation

from diaries import generation
from diaries.models import DiaryEntry
from diaries.services.entries import entry_create
from diaries.writers import Finish, Usage, WriterError, WriterRequest
from tests.support.browser import browser, new_context  # noqa: F401 (the browser tier's fixtures)

_counter = itertools.count(1)
FINISH = Finish("stop", Usage(10, 5, 15))
PIECES = ("Dear ", "diary, ", "today ", "was ", "good.")


def make_user(username: str | None = None, password: str = "a-long-diary-passphrase-42"):
    username = username or f"writer{next(_counter)}"
    return get_user_model().objects.create_user(username=username, password=password)


def make_entry(user, **fields: Any) -> DiaryEntry:
    defaults = {"morning": "ran by the river", "afternoon": "lunch with Aiko", "evening": ""}
    return entry_create(user=user, **{**defaults, **fields})


@pytest.fixture
def user(db):
    return make_user()


@pytest.fixture
def other_user(db):
    return make_user()


@pytest.fixture
def entry(user):
    return make_entry(user)


@pytest.fixture(autouse=True)
def _default_language():
    """Django's test client leaves the last request's language active in the thread."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _empty_cache():
    """Rate limits, sign-up allowances and lock-outs live in the cache, which is Redis in the
    PostgreSQL + Redis pass and outlives the run: every test starts with none counted."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_channel_layer_and_hubs(settings):
    """Every test gets its own in-memory channel layer and hub; quick streaming settings."""
    settings.DIARY_FLUSH_MS = 20
    settings.DIARY_CHECKPOINT_SECONDS = 0.2
    settings.DIARY_SWEEP_SECONDS = 3600
    settings.DIARY_SNAPSHOT_TIMEOUT = 0.5
    settings.DIARY_OFFLINE_DELAY = 0.0
    # No collectstatic in the test run: serve static names as they are.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    channel_layers.backends.clear()
    generation._hubs.clear()
    yield
    channel_layers.backends.clear()
    generation._hubs.clear()


class ScriptedWriter:
    """A writer that yields a script, paced, and records what it was asked and whether it
    was closed before the end (as an upstream HTTP stream would be)."""

    name = "scripted"
    model = "scripted-1"

    def __init__(
        self,
        pieces: list[str] | None = None,
        *,
        delay: float = 0.0,
        first_delay: float = 0.0,
        finish: Finish | None = FINISH,
        error: WriterError | Exception | None = None,
        error_after: int | None = None,
        hold: asyncio.Event | None = None,
    ) -> None:
        self.pieces = list(PIECES) if pieces is None else pieces
        self.delay = delay
        self.first_delay = first_delay
        self.finish = finish
        self.error = error
        self.error_after = len(self.pieces) if error_after is None else error_after
        self.hold = hold  # when set, the stream waits on it after the pieces (before finishing)
        self.calls: list[WriterRequest] = []
        self.closed_early = 0
        self.completed = 0

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    async def stream(self, request: WriterRequest) -> AsyncIterator[str | Finish]:
        self.calls.append(request)
        finished = False
        try:
            if self.first_delay:
                await asyncio.sleep(self.first_delay)
            for index, piece in enumerate(self.pieces):
                if self.error is not None and index == self.error_after:
                    raise self.error
                yield piece
                if self.delay:
                    await asyncio.sleep(self.delay)
            if self.error is not None and self.error_after >= len(self.pieces):
                raise self.error
            if self.hold is not None:
                await self.hold.wait()
            if self.finish is not None:
                yield self.finish
            finished = True
        finally:
            if finished:
                self.completed += 1
            else:
                self.closed_early += 1


@pytest.fixture
def scripted(monkeypatch):
    """Install a ScriptedWriter for every generation started; returns a setter."""
    holder: dict[str, ScriptedWriter] = {"writer": ScriptedWriter()}
    monkeypatch.setattr(generation, "writer_from_settings", lambda: holder["writer"])

    def use(writer: ScriptedWriter | None = None, **kwargs: Any) -> ScriptedWriter:
        holder["writer"] = writer or ScriptedWriter(**kwargs)
        return holder["writer"]

    use.current = lambda: holder["writer"]  # type: ignore[attr-defined]
    return use


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


@pytest_asyncio.fixture
async def socket_for():
    """Open signed-in sockets; all are disconnected at the end of the test."""
    opened: list[Socket] = []

    async def open_socket(user) -> Socket:
        communicator, connected = await connect(user)
        assert connected
        socket = Socket(communicator)
        opened.append(socket)
        return socket

    yield open_socket
    for socket in opened:
        await socket.close()
