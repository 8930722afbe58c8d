"""The whole socket path with the real openai client against a scripted server on loopback."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async

from diaries.models import DiaryEntry, Generation
from tests.support.factories import make_entry, make_user
from tests.support.openai_server import Script
from tests.support.sockets import entry_being_written
from tests.support.wire import openai_server  # noqa: F401

pytestmark = [pytest.mark.wire, pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

KEY = "sk-test-secret-key-0123456789"


@pytest.fixture
def use_openai(settings, openai_server):  # noqa: F811
    settings.DIARY_WRITER = "openai"
    settings.OPENAI_API_KEY = KEY
    settings.OPENAI_BASE_URL = openai_server.base_url
    settings.OPENAI_MODEL = "diary-model-1"
    settings.OPENAI_MAX_RETRIES = 0
    settings.OPENAI_TIMEOUT = 2
    return openai_server


async def test_entry_streams_from_an_openai_compatible_server_and_is_saved(use_openai, socket_for):
    tokens = [f"word{i} " for i in range(40)]
    use_openai.set_script(Script(tokens=tokens, tokens_per_second=400))
    user = await database_sync_to_async(make_user)()
    entry = await database_sync_to_async(make_entry)(user, morning="walked to work")
    ws = await socket_for(user)
    await ws.send({"action": "generate", "entry": entry.pk})
    done = await ws.until("done", timeout=10)
    assert done["status"] == "done" and done["text"] == "".join(tokens)
    assert done["usage"]["completion_tokens"] > 0
    [request] = use_openai.requests
    assert request.body["model"] == "diary-model-1" and request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert "walked to work" in json.dumps(request.body["messages"])
    saved = await DiaryEntry.objects.aget(pk=entry.pk)
    assert (saved.text, saved.writer, saved.model_name) == (done["text"], "openai", "diary-model-1")
    generation = await Generation.objects.aget(entry=entry)
    assert generation.total_tokens and generation.time_to_first_token_ms is not None


async def test_stop_closes_the_upstream_stream(use_openai, socket_for):
    use_openai.set_script(Script(tokens=[f"t{i} " for i in range(500)], tokens_per_second=100))
    _user, entry, ws = await entry_being_written(socket_for)
    await ws.send({"action": "cancel", "entry": entry.pk})
    done = await ws.until("done")
    assert done["status"] == "cancelled" and done["text"]
    await use_openai.wait_ended(timeout=3)
    [request] = use_openai.requests
    assert request.client_disconnected and not request.completed
    assert request.chunks_sent < 500


@pytest.mark.parametrize(
    ("script", "code"),
    [
        (Script(status=401), "upstream_auth"),
        (Script(status=429), "upstream_rate_limited"),
        (Script(status=429, error_code="insufficient_quota"), "quota_exceeded"),
        (Script(status=500), "upstream_unavailable"),
        (Script(cut_after=5), "upstream_unavailable"),
        (Script(ttfb=3), "upstream_timeout"),
        (Script(finish_reason="content_filter"), "filtered"),
    ],
)
async def test_upstream_failures_reach_the_user_as_clear_errors_without_the_key(
    use_openai, socket_for, caplog, script, code
):
    use_openai.set_script(script)
    user = await database_sync_to_async(make_user)()
    entry = await database_sync_to_async(make_entry)(user)
    ws = await socket_for(user)
    await ws.send({"action": "generate", "entry": entry.pk})
    error = await ws.until("error", timeout=10)
    assert error["code"] == code and len(error["message"]) > 20
    done = await ws.until("done", timeout=5)
    assert done["status"] == ("filtered" if code == "filtered" else "failed")
    generation = await Generation.objects.aget(entry=entry)
    assert generation.error_code == code
    assert KEY not in json.dumps(ws.frames) and KEY not in caplog.text
    assert KEY not in generation.error_message
