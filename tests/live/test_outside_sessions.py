"""The sessions page seen from outside: a real daphne, two signed-in devices of one person,
each with a real WebSocket open; "sign out everywhere else" from one closes the other's socket
(4401) and signs its page out, and leaves its own socket open."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator

import httpx2
import pytest
from websockets.exceptions import InvalidStatus

from tests.support.servers import PASSWORD, Server, close_code, form_signup

pytestmark = [pytest.mark.outside]

CLOSE_SIGNED_OUT = 4401
LAPTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


@pytest.fixture(scope="module")
def srv(tmp_path_factory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("outside-sessions"))
    try:
        server.manage("migrate", "--noinput")
        server.manage("collectstatic", "--noinput")
        server.start()
        yield server
    finally:
        server.stop()


def csrf_token(page: httpx2.Response) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)


def log_in(client: httpx2.Client, username: str) -> None:
    page = client.get("/accounts/login/")
    response = client.post(
        "/accounts/login/",
        data={"login": username, "password": PASSWORD, "csrfmiddlewaretoken": csrf_token(page)},
    )
    assert response.status_code == 302, response.text[:500]


def cookie(client: httpx2.Client) -> str:
    return f"sessionid={client.cookies['sessionid']}"


async def answers(ws) -> bool:
    """The socket is open and answering."""
    await ws.send(json.dumps({"action": "watch", "entry": 2**40}))
    async with asyncio.timeout(5):
        return json.loads(await ws.recv())["code"] == "not_found"


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_signing_out_everywhere_else_closes_the_other_devices_socket_only(srv):
    with (
        httpx2.Client(base_url=srv.base, headers={"User-Agent": LAPTOP}) as laptop,
        httpx2.Client(base_url=srv.base, headers={"User-Agent": PHONE}) as phone,
    ):
        await asyncio.to_thread(form_signup, laptop, "two-devices")
        await asyncio.to_thread(log_in, phone, "two-devices")
        phone_cookie = cookie(phone)
        async with srv.socket(cookie(laptop)) as laptop_ws, srv.socket(phone_cookie) as phone_ws:
            assert await answers(laptop_ws) and await answers(phone_ws)

            page = await asyncio.to_thread(laptop.get, "/accounts/sessions/")
            assert page.status_code == 200
            assert "Mobile Safari 17 on iOS 17.5 (phone)" in page.text
            assert "Chrome 131 on Linux (computer)" in page.text
            ended = await asyncio.to_thread(
                laptop.post, "/accounts/sessions/", data={"csrfmiddlewaretoken": csrf_token(page)}
            )
            assert ended.status_code == 302

            assert await close_code(phone_ws) == CLOSE_SIGNED_OUT
            assert await answers(laptop_ws)  # this device's socket is still open

        # The phone's page needs signing in again; its cookie opens no socket.
        home = await asyncio.to_thread(phone.get, "/entries/new/")
        assert home.status_code == 302 and home.headers["location"].startswith("/accounts/login/")
        with pytest.raises(InvalidStatus):
            async with srv.socket(phone_cookie):
                pass
        # The laptop is still signed in, and the sessions page lists it alone.
        assert (await asyncio.to_thread(laptop.get, "/")).status_code == 200
        page = await asyncio.to_thread(laptop.get, "/accounts/sessions/")
        assert "iOS" not in page.text and page.text.count('<tr aria-current="true"') == 1
