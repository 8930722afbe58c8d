"""Reading a response whole in a test, a streamed one (an asynchronous iterator) too."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.http import HttpResponseBase


def body(response: HttpResponseBase) -> bytes:
    if not getattr(response, "streaming", False):
        return response.content

    async def read() -> bytes:
        return b"".join([part async for part in response.streaming_content])

    return async_to_sync(read)()
