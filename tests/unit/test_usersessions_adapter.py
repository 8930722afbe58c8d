"""The sessions page (django-allauth's usersessions, diaries/usersessions_adapter.py): each
signed-in session with its device, address and last activity; "sign out everywhere else" ends
the other sessions and closes their sockets, not this one's."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from tests.support.factories import make_user
from tests.support.sockets import connect

PASSWORD = "a-long-diary-passphrase-42"
LAPTOP = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def signed_in(username: str, user_agent: str, address: str) -> Client:
    client = Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=address)
    response = client.post("/accounts/login/", {"login": username, "password": PASSWORD})
    assert response.status_code == 302
    return client


async def closed(communicator, timeout: float = 2) -> dict:
    """The close, after whatever the server said first (a "signed out" error frame)."""
    while True:
        output = await communicator.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            return output


def cookie(client: Client) -> str:
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.mark.django_db
def test_the_sessions_page_lists_each_device_with_its_address_and_the_current_one():
    make_user("hanako")
    laptop = signed_in("hanako", LAPTOP, "203.0.113.7")
    signed_in("hanako", PHONE, "198.51.100.4")

    page = laptop.get("/accounts/sessions/")

    assert page.status_code == 200
    assert "Chrome 131 on Linux (computer)" in page.text
    assert "Mobile Safari 17 on iOS 17.5 (phone)" in page.text
    assert "203.0.113.7" in page.text and "198.51.100.4" in page.text
    assert page.text.count('<tr aria-current="true"') == 1  # this device
    assert "Sign out everywhere else" in page.text


@pytest.mark.django_db
def test_the_sessions_page_needs_sign_in(client):
    response = client.get("/accounts/sessions/")

    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


@pytest.mark.django_db
def test_the_sessions_page_in_japanese():
    make_user("hanako")
    laptop = signed_in("hanako", LAPTOP, "203.0.113.7")
    laptop.cookies["django_language"] = "ja"

    page = laptop.get("/accounts/sessions/")

    assert "ログイン中のセッション" in page.text and "Linux の Chrome 131（パソコン）" in page.text  # noqa: RUF001


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_signing_out_everywhere_else_ends_the_other_sessions_and_closes_their_sockets():
    await database_sync_to_async(make_user)("hanako")
    laptop = await database_sync_to_async(signed_in)("hanako", LAPTOP, "203.0.113.7")
    phone = await database_sync_to_async(signed_in)("hanako", PHONE, "198.51.100.4")
    laptop_ws, ok1 = await connect(cookie=cookie(laptop))
    phone_ws, ok2 = await connect(cookie=cookie(phone))
    assert ok1 and ok2

    response = await database_sync_to_async(laptop.post)("/accounts/sessions/")

    assert response.status_code == 302
    assert (await closed(phone_ws))["code"] == 4401
    assert await laptop_ws.receive_nothing(timeout=0.3)
    # The phone's page needs signing in again; the laptop's does not.
    assert (await database_sync_to_async(phone.get)("/entries/new/")).status_code == 302
    assert (await database_sync_to_async(laptop.get)("/entries/new/")).status_code == 200
    # And the phone's old cookie opens no socket.
    again, connected = await connect(cookie=cookie(phone))
    assert not connected
    await again.disconnect()
    await laptop_ws.disconnect()
    await phone_ws.disconnect()
