"""Wire-tier helpers. Import the fixture into a test module (not conftest.py):

from tests.support.wire import openai_server  # noqa: F401
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.support.openai_server import ScriptedOpenAIServer


@pytest_asyncio.fixture
async def openai_server() -> AsyncIterator[ScriptedOpenAIServer]:
    """A running scripted OpenAI-compatible server; script it with `set_script` / `enqueue`."""
    async with ScriptedOpenAIServer() as server:
        yield server


def boundaries(pieces: list[str]) -> set[int]:
    """Where the text is cut into pieces (character offsets)."""
    cuts, at = set(), 0
    for piece in pieces:
        at += len(piece)
        cuts.add(at)
    return cuts
