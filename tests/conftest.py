"""Fixtures every test may use: users, an entry, a clean cache, channel layer and hubs, the
scripted writer, signed-in sockets. Their helpers live in tests/support/."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio
from channels.layers import channel_layers
from django.core.cache import cache
from django.utils import translation

from diaries import generation, selectors
from keystore import store
from tests.support.factories import ScriptedWriter, make_entry, make_user
from tests.support.sockets import Socket, connect

# Every test that touches the database gets the key store's database too: the diary's text is
# sealed with keys kept there (keystore/). A test that names its databases keeps its own list.
DATABASE_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "live_server"}
DJANGO_DB_ARGS = ("transaction", "reset_sequences", "databases", "serialized_rollback")


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None and not DATABASE_FIXTURES & set(getattr(item, "fixturenames", ())):
            continue
        kwargs = {}
        if marker is not None:
            kwargs = dict(zip(DJANGO_DB_ARGS, marker.args, strict=False)) | marker.kwargs
        if kwargs.get("databases") is None:
            kwargs["databases"] = ["default", "keys"]
            item.add_marker(pytest.mark.django_db(**kwargs), append=False)


@pytest.fixture(autouse=True)
def _no_data_key_kept():
    """Data keys and searchers' corpora are kept per process; a test's database (and its
    keys) start empty, and a rolled-back database gives the next test's rows the same ids."""
    store.cache_clear()
    selectors.search_cache_clear()
    yield
    store.cache_clear()
    selectors.search_cache_clear()


@pytest.fixture
def user(db):
    return make_user()


@pytest.fixture
def signed_in(client, user):
    """The test client, signed in as `user`."""
    client.force_login(user)
    return client


@pytest.fixture
def other_user(db):
    return make_user()


@pytest.fixture
def entry(user):
    return make_entry(user)


@pytest.fixture(autouse=True)
def _default_language():
    """Django's test client leaves the last request's language active in the thread."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _empty_cache():
    """Rate limits, sign-up allowances and lock-outs live in the cache, which is Redis in the
    PostgreSQL + Redis pass and outlives the run: every test starts with none counted."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_channel_layer_and_hubs(settings):
    """Every test gets its own in-memory channel layer and hub; quick streaming settings."""
    settings.DIARY_FLUSH_MS = 20
    settings.DIARY_CHECKPOINT_SECONDS = 0.2
    settings.DIARY_SWEEP_SECONDS = 3600
    settings.DIARY_SNAPSHOT_TIMEOUT = 0.5
    settings.DIARY_OFFLINE_DELAY = 0.0
    # No collectstatic in the test run: serve static names as they are.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    channel_layers.backends.clear()
    generation._hubs.clear()
    yield
    channel_layers.backends.clear()
    generation._hubs.clear()


@pytest.fixture
def scripted(monkeypatch):
    """Install a ScriptedWriter for every generation started; returns a setter."""
    holder: dict[str, ScriptedWriter] = {"writer": ScriptedWriter()}
    monkeypatch.setattr(generation, "writer_from_settings", lambda: holder["writer"])

    def use(writer: ScriptedWriter | None = None, **kwargs: Any) -> ScriptedWriter:
        holder["writer"] = writer or ScriptedWriter(**kwargs)
        return holder["writer"]

    use.current = lambda: holder["writer"]  # type: ignore[attr-defined]
    return use


@pytest_asyncio.fixture
async def socket_for():
    """Open signed-in sockets; all are disconnected at the end of the test."""
    opened: list[Socket] = []

    async def open_socket(user) -> Socket:
        communicator, connected = await connect(user)
        assert connected
        socket = Socket(communicator)
        opened.append(socket)
        return socket

    yield open_socket
    for socket in opened:
        await socket.close()
