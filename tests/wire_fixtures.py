"""Fixtures for the wire tier. Import them into a test module (not conftest.py):

from tests.wire_fixtures import openai_server  # noqa: F401
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.sse_server import ScriptedOpenAIServer


@pytest_asyncio.fixture
async def openai_server() -> AsyncIterator[ScriptedOpenAIServer]:
    """A running scripted OpenAI-compatible server; script it with `set_script` / `enqueue`."""
    async with ScriptedOpenAIServer() as server:
        yield server
