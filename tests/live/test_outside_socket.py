"""The socket's edges as a peer on the network sees them: a real daphne started as deployed,
accounts made through the sign-up page, and real WebSocket clients.

What only a real daphne shows (the in-process communicator accepts any close code and has no
transport): the close codes a client receives, that a closed socket gives back its place in the
per-user socket count, and that a client sending pings and never reading the pongs is dropped
before the server's memory grows. (A client that stops reading a generation's frames:
tests/live/test_slow_clients.py, against the same kind of server.)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.support.servers import INPUTS, RawWebSocket, Server, close_code, vm_rss

pytestmark = [pytest.mark.outside]

LIMIT = 256 * 1024  # DIARY_WS_MAX_BUFFER_BYTES of the server under test
MAX_MESSAGE = 16384  # DIARY_MAX_MESSAGE_BYTES
MAX_SOCKETS = 5  # DIARY_MAX_SOCKETS_PER_USER: a leaked place shows after a few closes
CLOSE_TOO_BIG, CLOSE_TRY_AGAIN_LATER = 4009, 4013
names = itertools.count(1)


@pytest.fixture(scope="module")
def srv(tmp_path_factory) -> Iterator[Server]:
    server = Server(
        tmp_path_factory.mktemp("outside-socket"),
        DIARY_OFFLINE_DELAY="0.005",
        DIARY_WS_MAX_BUFFER_BYTES=str(LIMIT),
        DIARY_MAX_MESSAGE_BYTES=str(MAX_MESSAGE),
        DIARY_MAX_SOCKETS_PER_USER=str(MAX_SOCKETS),
        DIARY_SNAPSHOT_TIMEOUT="30",  # the `watch` throttle is not reset within a test
        DIARY_USER_MESSAGES_PER_SECOND="1000",
        DIARY_LOG_LEVEL="INFO",
    )
    try:
        server.migrate()
        server.manage("collectstatic", "--noinput")
        server.start()
        yield server
    finally:
        server.stop()


def newcomer(srv: Server) -> str:
    """A fresh account, signed up through the page: its session cookie."""
    return srv.signup(f"outsider{next(names)}")


async def handshake_status(srv: Server, cookie: str) -> int:
    """101 if a new socket opens (and works), else the HTTP status of the refusal."""
    try:
        async with srv.socket(cookie) as ws:
            await ws.send(json.dumps({"action": "watch", "entry": 2**40}))
            assert json.loads(await ws.recv())["code"] == "not_found"
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


async def written_entry(srv: Server, cookie: str) -> int:
    async with srv.socket(cookie) as ws:
        await ws.send(json.dumps(INPUTS))
        async with asyncio.timeout(30):
            while (frame := json.loads(await ws.recv()))["type"] != "done":
                pass
    return frame["entry"]


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_staff_without_a_second_factor_are_refused_the_socket_as_every_page(srv):
    username = f"outsider{next(names)}"
    cookie = srv.signup(username)
    assert await handshake_status(srv, cookie) == 101
    # Made staff by an administrator (the session goes on); DIARY_MFA_REQUIRED_FOR_STAFF is on.
    srv.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import User; "
        f"User.objects.filter(username={username!r}).update(is_staff=True)",
    )

    assert await handshake_status(srv, cookie) == 403


@pytest.mark.asyncio
@pytest.mark.timeout(90)
async def test_an_oversize_message_closes_4009_and_gives_the_socket_back_every_time(srv):
    cookie = newcomer(srv)
    outcomes = []
    for _ in range(25):
        try:
            async with srv.socket(cookie) as ws:
                await ws.send(json.dumps({"action": "sendmessage", "data": "x" * MAX_MESSAGE}))
                error = json.loads(await ws.recv())
                assert (error["type"], error["code"]) == ("error", "bad_request"), error
                outcomes.append(await close_code(ws))
        except InvalidStatus as refused:  # the handshake itself refused
            outcomes.append(refused.response.status_code)
    assert outcomes == [CLOSE_TOO_BIG] * 25, outcomes
    assert await handshake_status(srv, cookie) == 101
    log = srv.log.name
    assert "Exception inside application" not in open(log).read()


@pytest.mark.asyncio
@pytest.mark.timeout(90)
async def test_asking_for_the_same_snapshot_again_and_again_closes_4013_and_gives_it_back(srv):
    cookie = newcomer(srv)
    entry = await written_entry(srv, cookie)
    watch = json.dumps({"action": "watch", "entry": entry})
    for _ in range(MAX_SOCKETS + 3):
        async with srv.socket(cookie) as ws:
            await ws.send(watch)
            assert json.loads(await ws.recv())["type"] == "snapshot"
            for _ in range(3):  # too soon: refused, the socket stays
                await ws.send(watch)
                assert json.loads(await ws.recv())["code"] == "rate_limited"
            await ws.send(watch)  # once more: closed, "try again later"
            assert json.loads(await ws.recv())["code"] == "rate_limited"
            assert await close_code(ws) == CLOSE_TRY_AGAIN_LATER
    assert await handshake_status(srv, cookie) == 101


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_a_burst_of_messages_is_rate_limited_and_the_socket_stays_usable(srv):
    cookie = newcomer(srv)
    probe = json.dumps({"action": "watch", "entry": 2**40})
    async with srv.socket(cookie) as ws:
        for _ in range(40):  # DIARY_MESSAGE_BURST 10, then 5 a second
            await ws.send(probe)
        codes = [json.loads(await ws.recv())["code"] for _ in range(40)]
        await asyncio.sleep(1.2)
        await ws.send(probe)
        after = json.loads(await ws.recv())["code"]
    assert codes[:10] == ["not_found"] * 10
    assert codes.count("rate_limited") >= 25, codes
    assert after == "not_found"


PING = RawWebSocket.frame(0x9, b"p" * 125)  # the largest control frame


def flood_with_pings(srv: Server, cookie: str, peak: int) -> tuple[int, bool, int]:
    """Write up to 48 MiB of pings on a new socket and read nothing: (bytes sent, whether the
    server dropped the connection, daphne's peak RSS)."""
    chunk = PING * (2**20 // len(PING))  # 1 MiB of pings
    client = RawWebSocket(srv, cookie)
    sent, started = 0, time.monotonic()
    try:
        while (
            sent < 48 * 2**20 and time.monotonic() - started < 60 and not client.reset_by_server()
        ):
            if client.write(chunk):
                sent += len(chunk)
            peak = max(peak, vm_rss(srv.proc.pid))
        dropped = client.reset_by_server() or not client.write(PING, timeout=2)
    finally:
        client.close()
    return sent, dropped, peak


def drops_logged(srv: Server) -> int:
    return open(srv.log.name).read().count("closed a WebSocket whose client stopped reading")


@pytest.mark.timeout(150)
def test_a_client_that_sends_pings_and_never_reads_the_pongs_is_dropped(srv):
    cookie = newcomer(srv)
    time.sleep(0.5)
    logged = drops_logged(srv)
    rss_before = vm_rss(srv.proc.pid)
    started = time.monotonic()
    sent, dropped, peak = flood_with_pings(srv, cookie, rss_before)
    took = time.monotonic() - started
    time.sleep(0.5)
    rss_after = vm_rss(srv.proc.pid)
    figures = (
        f"{sent / 2**20:.0f} MiB of pings in {took:.1f} s, dropped: {dropped}; daphne RSS "
        f"{rss_before / 2**20:.1f} → peak {peak / 2**20:.1f} → {rss_after / 2**20:.1f} MiB"
    )
    print(figures)
    assert dropped, figures
    assert peak - rss_before < 3 * LIMIT + 6 * 2**20, figures
    # Again, more times than the user may have sockets: each dropped socket gave its place back.
    for _ in range(MAX_SOCKETS):
        sent, dropped, peak = flood_with_pings(srv, cookie, peak)
        assert dropped, f"{sent / 2**20:.0f} MiB of pings, not dropped"
    assert peak - rss_before < 3 * LIMIT + 6 * 2**20, f"daphne RSS peak {peak / 2**20:.1f} MiB"
    assert drops_logged(srv) - logged == MAX_SOCKETS + 1
    assert asyncio.run(handshake_status(srv, cookie)) == 101


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_a_client_that_pings_often_and_reads_the_pongs_stays_connected(srv):
    cookie = newcomer(srv)
    async with srv.socket(cookie) as ws:
        for _ in range(20):
            pongs = [await ws.ping(i.to_bytes(4, "big")) for i in range(200)]
            async with asyncio.timeout(10):
                await asyncio.gather(*pongs)
        await ws.send(json.dumps({"action": "watch", "entry": 2**40}))
        assert json.loads(await ws.recv())["code"] == "not_found"


async def origin_status(srv: Server, cookie: str, origin: str) -> int:
    """101 if a socket opens with this Origin, else the HTTP status of the refusal."""
    try:
        async with connect(
            f"ws://127.0.0.1:{srv.port}/ws/diary/",
            additional_headers={"Origin": origin, "Cookie": cookie},
        ):
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_only_the_sites_exact_origin_opens_a_socket(srv):
    cookie = newcomer(srv)
    others = [
        "http://127.0.0.1:9999",  # the site's host on another port
        f"https://127.0.0.1:{srv.port}",  # another scheme
        "https://127.0.0.1:4444",
        f"http://localhost:{srv.port}",  # not an allowed host here
        "http://127.0.0.1",
        "null",
    ]

    assert await origin_status(srv, cookie, srv.base) == 101
    assert {origin: await origin_status(srv, cookie, origin) for origin in others} == {
        origin: 403 for origin in others
    }
