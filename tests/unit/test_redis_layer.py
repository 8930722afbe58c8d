"""Production's channel layer (diaries/redis_layer.py) on a private redis-server: two layer
instances in this process stand for two processes, each with its own Redis connections."""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest
import pytest_asyncio
import redis
from asgiref.sync import async_to_sync

from diaries.redis_layer import LocalFirstPubSubChannelLayer
from tests.support.servers import RedisServer

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    if not shutil.which("redis-server"):
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed", pytrace=False)
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server.url
    server.stop()


@pytest_asyncio.fixture
async def layers(redis_url):
    made: list[LocalFirstPubSubChannelLayer] = []

    def make() -> LocalFirstPubSubChannelLayer:
        layer = LocalFirstPubSubChannelLayer(hosts=[redis_url])
        made.append(layer)
        return layer

    yield make
    for layer in made:
        await layer.flush()


def publishes(redis_url: str) -> int:
    """PUBLISH commands Redis has run so far."""
    stats = redis.Redis.from_url(redis_url).info("commandstats")
    return stats.get("cmdstat_publish", {}).get("calls", 0)


async def received(layer, channel: str, count: int) -> list[int]:
    async with asyncio.timeout(5):
        return [(await layer.receive(channel))["seq"] for _ in range(count)]


async def nothing_more(layer, channel: str) -> bool:
    try:
        await asyncio.wait_for(layer.receive(channel), 0.3)
    except TimeoutError:
        return True
    return False


def delta(seq: int) -> dict:
    return {"type": "diary.delta", "entry": 1, "seq": seq, "text": "w0001 "}


async def test_local_members_get_each_message_once_and_redis_is_skipped(layers, redis_url):
    layer = layers()
    a, b = await layer.new_channel(), await layer.new_channel()
    for channel in (a, b):
        await layer.group_add("entry-1", channel)
    before = publishes(redis_url)

    for seq in range(1, 21):
        await layer.group_send("entry-1", delta(seq))

    assert await received(layer, a, 20) == list(range(1, 21))
    assert await received(layer, b, 20) == list(range(1, 21))
    assert await nothing_more(layer, a) and await nothing_more(layer, b)  # the echo dropped
    # The first message looked for listeners elsewhere; the others stayed in the process.
    assert publishes(redis_url) - before == 1


async def test_members_in_two_processes_each_get_every_message_once_in_each_senders_order(layers):
    one, two = layers(), layers()
    a, b = await one.new_channel(), await two.new_channel()
    await one.group_add("entry-1", a)
    await two.group_add("entry-1", b)

    for seq in range(1, 11):
        await one.group_send("entry-1", delta(seq))
    for seq in range(11, 16):
        await two.group_send("entry-1", delta(seq))

    # Each sender's messages in its order; a member's own process's come first, unhurried.
    for got in (await received(one, a, 15), await received(two, b, 15)):
        assert sorted(got) == list(range(1, 16))
        assert [s for s in got if s <= 10] == list(range(1, 11))
        assert [s for s in got if s > 10] == list(range(11, 16))
    assert await nothing_more(one, a) and await nothing_more(two, b)


async def test_a_process_joining_a_group_found_local_gets_what_follows(layers):
    one, two = layers(), layers()
    a = await one.new_channel()
    await one.group_add("entry-1", a)
    await one.group_send("entry-1", delta(1))  # nobody else: the group is now local to `one`
    assert await received(one, a, 1) == [1]

    b = await two.new_channel()
    await two.group_add("entry-1", b)  # returns once `one` has heard of it
    for seq in range(2, 6):
        await one.group_send("entry-1", delta(seq))

    assert await received(two, b, 4) == [2, 3, 4, 5]
    assert await received(one, a, 4) == [2, 3, 4, 5]
    assert await nothing_more(one, a) and await nothing_more(two, b)


async def test_after_the_last_local_member_leaves_the_others_still_get_messages(layers):
    one, two = layers(), layers()
    a, b = await one.new_channel(), await two.new_channel()
    await one.group_add("entry-1", a)
    await two.group_add("entry-1", b)
    await one.group_discard("entry-1", a)

    await one.group_send("entry-1", delta(1))
    await two.group_send("entry-1", delta(2))

    assert sorted(await received(two, b, 2)) == [1, 2]
    assert await nothing_more(one, a) and await nothing_more(two, b)


async def test_send_reaches_a_channel_in_either_process_once(layers):
    one, two = layers(), layers()
    a, b = await one.new_channel(), await two.new_channel()

    await one.send(b, delta(1))
    await one.send(a, delta(2))

    assert await received(two, b, 1) == [1]
    assert await received(one, a, 1) == [2]
    assert await nothing_more(one, a) and await nothing_more(two, b)


async def test_a_group_send_from_sync_code_in_a_thread_arrives_once(layers):
    layer = layers()
    a = await layer.new_channel()
    await layer.group_add("user-1", a)
    await layer.group_send("user-1", delta(1))  # local now, as far as this loop knows
    assert await received(layer, a, 1) == [1]

    # async_to_sync in a thread of its own runs on another event loop: through Redis.
    await asyncio.to_thread(async_to_sync(layer.group_send), "user-1", delta(2))

    assert await received(layer, a, 1) == [2]
    assert await nothing_more(layer, a)
