"""Fixtures for the unit tests that talk to a loopback peer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.moderation_server import ModerationServer


@pytest.fixture
def moderation_server() -> Iterator[ModerationServer]:
    with ModerationServer() as server:
        yield server
