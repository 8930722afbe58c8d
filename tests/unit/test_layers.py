"""The embedded default's channel layer (diaries/layers.py): Channels' semantics, cheaper."""

from __future__ import annotations

import asyncio

import pytest

from diaries.layers import FastInMemoryChannelLayer

pytestmark = pytest.mark.asyncio


async def nothing_for(layer: FastInMemoryChannelLayer, channel: str) -> bool:
    try:
        await asyncio.wait_for(layer.receive(channel), 0.05)
    except TimeoutError:
        return True
    return False


async def test_every_member_gets_every_message_in_order_and_a_full_member_costs_nothing():
    layer = FastInMemoryChannelLayer(capacity=10)
    a, full, b = [await layer.new_channel() for _ in range(3)]
    for channel in (a, full, b):
        await layer.group_add("entry-1", channel)
    for _ in range(10):  # a member that stopped reading: its queue is full
        await layer.send(full, {"type": "diary.delta", "seq": 0})

    for seq in range(1, 6):
        await layer.group_send("entry-1", {"type": "diary.delta", "seq": seq})
    assert [(await layer.receive(a))["seq"] for _ in range(5)] == [1, 2, 3, 4, 5]
    assert [(await layer.receive(b))["seq"] for _ in range(5)] == [1, 2, 3, 4, 5]

    await layer.group_discard("entry-1", a)
    await layer.group_send("entry-1", {"type": "diary.delta", "seq": 6})
    assert await nothing_for(layer, a)
    assert (await layer.receive(b))["seq"] == 6


@pytest.mark.parametrize(
    "message",
    [
        {"type": "diary.delta", "seq": 1, "text": "flat"},
        {"type": "diary.done", "seq": 1, "usage": {"prompt_tokens": 3}},
    ],
    ids=["flat", "nested"],
)
async def test_a_member_changing_its_copy_changes_nobody_elses(message):
    layer = FastInMemoryChannelLayer()
    changer, reader = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("entry-1", changer)
    await layer.group_add("entry-1", reader)
    await layer.group_send("entry-1", message)

    # The member that changes the message receives it first; the other reads it afterwards.
    changed = await layer.receive(changer)
    changed["seq"] = -1
    changed.get("usage", {})["prompt_tokens"] = -1
    read = await layer.receive(reader)
    assert read["seq"] == 1
    assert read.get("usage", {"prompt_tokens": 3})["prompt_tokens"] == 3
    # Nor does the sender, changing its own dict after the send.
    message["seq"] = -2
    await layer.send(reader, message)
    message["seq"] = -3
    assert (await layer.receive(reader))["seq"] == -2


async def test_a_receiver_waiting_before_the_send_gets_the_message():
    layer = FastInMemoryChannelLayer()
    channel = await layer.new_channel()
    await layer.group_add("entry-2", channel)
    waiting = asyncio.create_task(layer.receive(channel))
    await asyncio.sleep(0)
    await layer.group_send("entry-2", {"type": "diary.delta", "seq": 1})
    assert (await asyncio.wait_for(waiting, 1))["seq"] == 1


async def test_expired_messages_are_dropped_and_their_channel_leaves_its_groups():
    layer = FastInMemoryChannelLayer(expiry=0.05)
    layer.sweep_every = 0
    gone, live = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("entry-3", gone)
    await layer.group_add("entry-3", live)
    await layer.group_send("entry-3", {"type": "diary.delta", "seq": 1})
    assert (await layer.receive(live))["seq"] == 1  # `gone` never reads
    await asyncio.sleep(0.1)

    await layer.group_send("entry-3", {"type": "diary.delta", "seq": 2})
    assert (await layer.receive(live))["seq"] == 2
    assert await nothing_for(layer, gone)  # its expired message dropped, the new one not sent


async def test_the_sweep_runs_at_most_once_per_interval_whatever_the_traffic():
    """The stock layer walks every channel and membership on every receive and group send."""
    sweeps = 0

    class Counting(FastInMemoryChannelLayer):
        def sweep(self) -> None:
            nonlocal sweeps
            sweeps += 1
            super().sweep()

    layer = Counting()
    layer.sweep_every = 60
    channels = [await layer.new_channel() for _ in range(20)]
    for channel in channels:
        await layer.group_add("entry-4", channel)
    for seq in range(50):
        await layer.group_send("entry-4", {"type": "diary.delta", "seq": seq})
        for channel in channels:
            await layer.receive(channel)
    assert sweeps == 0

    layer.sweep_every = 0
    await layer.group_send("entry-4", {"type": "diary.delta", "seq": 50})
    assert sweeps == 1
