"""The embedded default's channel layer: direct members (diaries/layers.py)."""

from __future__ import annotations

import pytest

from diaries.layers import FastInMemoryChannelLayer

pytestmark = pytest.mark.asyncio


async def test_direct_members_get_every_message_in_order_and_one_failure_costs_nothing():
    layer = FastInMemoryChannelLayer()
    got: dict[str, list[int]] = {"a": [], "b": []}

    async def a(message):
        got["a"].append(message["seq"])

    async def broken(message):
        raise RuntimeError("socket gone")

    async def b(message):
        message["seq"] = -1  # a member changing its copy changes nobody else's
        got["b"].append(1)

    layer.direct_add("entry-1", "a", a)
    layer.direct_add("entry-1", "broken", broken)
    layer.direct_add("entry-1", "b", b)
    for seq in range(1, 6):
        await layer.group_send("entry-1", {"type": "diary.delta", "seq": seq})
    assert got["a"] == [1, 2, 3, 4, 5] and len(got["b"]) == 5

    layer.direct_discard("entry-1", "a")
    await layer.group_send("entry-1", {"type": "diary.delta", "seq": 6})
    assert got["a"] == [1, 2, 3, 4, 5]


async def test_channel_members_still_receive_through_their_queue():
    layer = FastInMemoryChannelLayer()
    channel = await layer.new_channel()
    heard: list[int] = []

    async def direct(message):
        heard.append(message["seq"])

    await layer.group_add("entry-2", channel)
    layer.direct_add("entry-2", "direct", direct)
    await layer.group_send("entry-2", {"type": "diary.delta", "seq": 1})
    assert heard == [1]
    assert (await layer.receive(channel))["seq"] == 1
