"""The socket's Origin check: the site's own scheme, host and port exactly, plus
DJANGO_CSRF_TRUSTED_ORIGINS; anything else is refused at the handshake."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from diary_project.asgi import application
from tests.support.factories import make_user
from tests.support.sockets import connect, session_cookie_for

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def handshake(**kwargs) -> bool:
    user = await database_sync_to_async(make_user)()
    communicator, connected = await connect(user, **kwargs)
    await communicator.disconnect()
    return connected


async def test_the_sites_own_origin_is_accepted():
    assert await handshake(origin="http://localhost", host="localhost")
    assert await handshake(origin="http://127.0.0.1:8000", host="127.0.0.1:8000")


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:9999",  # another port on an allowed host
        "https://localhost",  # another scheme
        "https://127.0.0.1:4444",
        "http://127.0.0.1",  # an allowed host, but not the one this socket was opened on
        "null",
        "http://localhost.evil.example",
    ],
)
async def test_an_origin_that_is_not_exactly_the_sites_is_refused(origin):
    assert not await handshake(origin=origin, host="localhost")


async def test_a_host_outside_allowed_hosts_is_refused_even_with_its_own_origin():
    assert not await handshake(origin="http://evil.example", host="evil.example")


async def test_a_handshake_without_origin_is_refused():
    user = await database_sync_to_async(make_user)()
    cookie = await database_sync_to_async(session_cookie_for)(user)
    communicator = WebsocketCommunicator(
        application, "/ws/diary/", headers=[(b"host", b"localhost"), (b"cookie", cookie.encode())]
    )
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    assert not connected


async def test_behind_a_tls_proxy_the_https_origin_is_the_sites(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    forwarded = [(b"x-forwarded-proto", b"https")]
    assert await handshake(origin="https://localhost", host="localhost", headers=forwarded)
    assert not await handshake(origin="http://localhost", host="localhost", headers=forwarded)


async def test_the_forwarded_scheme_is_ignored_unless_the_proxy_header_is_trusted(settings):
    settings.SECURE_PROXY_SSL_HEADER = None
    forwarded = [(b"x-forwarded-proto", b"https")]
    assert not await handshake(origin="https://localhost", host="localhost", headers=forwarded)


async def test_csrf_trusted_origins_are_accepted_exactly(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://diary.example.com", "https://*.nikki.example"]
    assert await handshake(origin="https://diary.example.com", host="localhost")
    assert await handshake(origin="https://app.nikki.example", host="localhost")
    assert not await handshake(origin="http://diary.example.com", host="localhost")
    assert not await handshake(origin="https://diary.example.com:8443", host="localhost")
