"""The naive path, for comparison: what a first streaming version looks like.

    daphne bench.naive_asgi:application

Same settings, same Django HTTP app, same authentication (session cookie, origin check), same
prompt and the same database table for the entry — but the socket's consumer streams the way
the original service did (a Lambda calling `post_to_connection` once per token) and the way most
tutorials do it: the stock `openai` stream (`async for chunk in stream`, each chunk parsed into
pydantic models by the client), **one WebSocket frame per chunk**, no coalescing, no channel
layer, no checkpoints; the text is saved once at the end. It keeps none of Nikki's guarantees
beyond "the finished text is saved" and exists only to be measured against.

It speaks the same frames as Nikki (`started`, `delta` with `seq`, `done`) so that the same bench
client measures both.
"""

from __future__ import annotations

import asyncio
import json
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "diary_project.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

import httpx2  # noqa: E402
import openai  # noqa: E402
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.db import database_sync_to_async  # noqa: E402
from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402

from bench.instrument import install, with_stats  # noqa: E402
from diaries.models import DiaryEntry  # noqa: E402
from diaries.prompts import build_messages  # noqa: E402
from diaries.services import entries  # noqa: E402
from keystore.fields import seal  # noqa: E402

_client: openai.AsyncOpenAI | None = None


def client() -> openai.AsyncOpenAI:
    """One shared client (the naive path is not handicapped by a client per request)."""
    global _client
    if _client is None:
        _client = openai.AsyncOpenAI(
            api_key=settings.OPENAI_API_KEY or "no-key-required",
            base_url=settings.OPENAI_BASE_URL or None,
            timeout=httpx2.Timeout(
                settings.OPENAI_TIMEOUT, connect=settings.OPENAI_CONNECT_TIMEOUT
            ),
            max_retries=settings.OPENAI_MAX_RETRIES,
        )
    return _client


def _save_text(entry: DiaryEntry, text: str) -> None:
    DiaryEntry.objects.filter(pk=entry.pk).update(text=seal(entry.owner_id, text))


class NaiveConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()
            return
        self.user = user
        self.tasks: set[asyncio.Task] = set()
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        message = json.loads(text_data or "{}")
        if message.get("action") != "generate":
            await self.send(text_data=json.dumps({"type": "error", "code": "bad_request"}))
            return
        fields = {
            k: str(message.get(k, ""))
            for k in ("morning", "afternoon", "evening", "notes", "tone", "language")
        }
        entry = await database_sync_to_async(entries.entry_create)(user=self.user, **fields)
        task = asyncio.create_task(self.generate(entry))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def generate(self, entry: DiaryEntry) -> None:
        messages = build_messages(
            date=entry.date.isoformat(),
            morning=entry.morning,
            afternoon=entry.afternoon,
            evening=entry.evening,
            notes=entry.notes,
            tone=entry.tone,
            language=entry.language,
        )
        await self.send(text_data=json.dumps({"type": "started", "entry": entry.pk}))
        stream = await client().chat.completions.create(
            model=settings.OPENAI_MODEL,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
            max_completion_tokens=settings.DIARY_MAX_TOKENS,
        )
        seq = 0
        pieces: list[str] = []
        try:
            async for chunk in stream:
                for choice in chunk.choices:
                    if choice.delta and choice.delta.content:
                        seq += 1
                        pieces.append(choice.delta.content)
                        await self.send(
                            text_data=json.dumps(
                                {
                                    "type": "delta",
                                    "entry": entry.pk,
                                    "seq": seq,
                                    "text": choice.delta.content,
                                },
                                ensure_ascii=False,
                            )
                        )
        finally:
            await stream.close()
        text = "".join(pieces)
        await database_sync_to_async(_save_text)(entry, text)
        await self.send(
            text_data=json.dumps(
                {"type": "done", "entry": entry.pk, "status": "done", "text": text, "seq": seq},
                ensure_ascii=False,
            )
        )


install()
application = with_stats(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter([path("ws/diary/", NaiveConsumer.as_asgi())]))
            ),
        }
    )
)
