"""A real daphne and a real WebSocket client: an entry written by hand is not replaced by the
model unless the `generate` says `"replace_edit": true`."""

from __future__ import annotations

import json
import re

import httpx2
import pytest

from tests.support.servers import Server, frames_until

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(90)]

MY_WORDS = "Fog over the bay all day; I mended the blue chair and called my sister."


@pytest.fixture
def server(tmp_path):
    srv = Server(tmp_path)
    yield srv
    srv.stop()


def write_by_hand(srv: Server, cookie: str) -> int:
    """Write an entry on the page, as a person does ("Write it myself"); its id."""
    name, value = cookie.split("=", 1)
    with httpx2.Client(base_url=srv.base, cookies={name: value}) as client:
        page = client.get("/entries/new/?mode=own")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        response = client.post(
            "/entries/new/",
            data={
                "form": "own",
                "date": "2026-11-03",
                "text": MY_WORDS,
                "tone": "plain",
                "language": "en",
                "csrfmiddlewaretoken": token,
            },
            headers={"Referer": f"{srv.base}/entries/new/"},
        )
        assert response.status_code == 302, response.text[:500]
        return int(re.search(r"/entries/(\d+)/$", response.headers["location"]).group(1))


async def test_an_entry_written_by_hand_is_replaced_only_with_replace_edit(server):
    server.prepare()
    server.start()
    cookie = server.login()
    entry_id = write_by_hand(server, cookie)

    async with server.socket(cookie) as ws:
        await ws.send(json.dumps({"action": "generate", "entry": entry_id, "request_id": "a-1"}))
        [error] = await frames_until(ws, "error")
        assert error["code"] == "bad_request" and error["entry"] == entry_id
        assert "replace_edit" in error["message"]
        assert server.query("SELECT id FROM diaries_generation WHERE entry_id = ?", entry_id) == []
        [(text, writer)] = server.query(
            "SELECT text, writer FROM diaries_diaryentry WHERE id = ?", entry_id
        )
        assert (server.opened(text), writer) == (MY_WORDS, "owner")

        # The same socket, now with the person's yes: the model writes it from their words.
        await ws.send(
            json.dumps(
                {"action": "generate", "entry": entry_id, "request_id": "a-2", "replace_edit": True}
            )
        )
        frames = await frames_until(ws, "done", timeout=30)
    assert frames[-1]["status"] == "done" and "blue chair" in frames[-1]["text"]
    assert server.generation(entry_id)[:2] == ("done", frames[-1]["text"])
    [(edit,)] = server.query("SELECT text FROM diaries_entryedit WHERE entry_id = ?", entry_id)
    assert server.opened(edit) == MY_WORDS  # kept in the versions
