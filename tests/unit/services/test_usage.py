"""Quotas as an attacker probes them from outside: deleting entries, refused starts. (Sign-ups
per address: tests/unit/test_signup_throttle.py.)

Issue 13, holes 3 and 9: deleting entries erased what counted against the daily quota and the
running limit (and left their generations streaming); refused starts still saved entries.
"""

from __future__ import annotations

import asyncio
from functools import partial

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connection, connections
from django.test import AsyncClient, Client

from diaries import selectors
from diaries.models import DiaryEntry, Generation
from diaries.services.entries import entry_build, entry_delete
from diaries.services.generations import generation_finish, generation_start
from tests.support.factories import make_entry, make_user
from tests.support.races import start_together
from tests.support.sockets import INPUTS

PASSWORD = "a-long-diary-passphrase-42"

races_on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite runs one write transaction at a time (BEGIN IMMEDIATE): no race to lose",
)


async def db(fn, *args, **kwargs):
    return await database_sync_to_async(fn)(*args, **kwargs)


def signed_in_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def started_or_refused(ws) -> dict:
    """The answer to a generate: its `started`, or the `error` that refused it."""
    async with asyncio.timeout(5):
        while True:
            frame = await ws.recv()
            if frame["type"] in ("started", "error"):
                return frame


def entries_of(user) -> int:
    return DiaryEntry.objects.filter(owner=user).count()


# --- hole 3: deleting entries dodges the daily quota and the running limit -------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_deleting_entries_dodges_neither_the_daily_quota_nor_the_running_limit(
    scripted, socket_for, settings
):
    """Generate, delete the entry through its page, generate again…: at most 3 paid calls
    today, and never more than 1 stream open at once."""
    settings.DIARY_DAILY_GENERATIONS = 3
    settings.DIARY_MAX_RUNNING_PER_USER = 1
    hold = asyncio.Event()  # every stream stays open until it is stopped
    writer = scripted(pieces=["Dear ", "diary."], hold=hold)
    user = await db(make_user)
    ws = await socket_for(user)
    page = AsyncClient()  # through the ASGI handler, as daphne serves the page
    await page.aforce_login(user)
    answers, most_open = [], 0
    try:
        for attempt in range(9):
            await ws.send({**INPUTS, "request_id": f"attempt-{attempt}"})
            frame = await started_or_refused(ws)
            answers.append(frame.get("code") or frame["type"])
            await asyncio.sleep(0.05)  # let the writer open its stream
            most_open = max(most_open, len(writer.calls) - writer.closed_early - writer.completed)
            if frame["type"] == "started":
                # Its own thread, as Django's ASGIHandler gives every request under daphne.
                async with ThreadSensitiveContext():
                    deleted = await page.post(f"/entries/{frame['entry']}/delete/")
                    await sync_to_async(connections.close_all)()  # the test client keeps it
                assert deleted.status_code == 302
        await asyncio.sleep(0.1)
        still_open = len(writer.calls) - writer.closed_early - writer.completed
    finally:
        hold.set()
    assert len(writer.calls) <= 3 and most_open <= 1, (
        f"{len(writer.calls)} generations started today, {most_open} streaming at once: {answers}"
    )
    assert still_open == 0, f"{still_open} streams left open after their entries were deleted"
    assert answers[:3] == ["started"] * 3
    assert set(answers[3:]) == {"quota_exceeded"}
    # What counts against the quota outlives the entries.
    assert await db(selectors.generations_today_count, user=user) == 3


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_deleting_an_entry_asks_the_process_running_its_generation_to_stop():
    """As account deletion does: the owning process is asked to stop the stream (closing the
    paid upstream call) before the rows it writes to are deleted."""
    user = await db(make_user)
    entry = await db(make_entry, user)
    layer = get_channel_layer()
    owner = await layer.new_channel()  # a live server process, as far as anyone knows
    started = await db(
        generation_start,
        user=user,
        entry=entry,
        writer_name="w",
        model_name="m",
        owner_channel=owner,
    )

    await db(entry_delete, entry=entry, wait=0.1)  # no answer: deleted anyway

    asked = await asyncio.wait_for(layer.receive(owner), 2)
    assert asked == {"type": "hub.cancel", "entry": entry.pk}
    assert not await db(DiaryEntry.objects.filter(pk=entry.pk).exists)
    assert not await db(Generation.objects.filter(pk=started.generation.pk).exists)
    assert await db(selectors.generations_today_count, user=user) == 1


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_deleting_an_entry_whose_process_is_gone_cancels_its_generation_first():
    user = await db(make_user)
    entry = await db(make_entry, user)
    started = await db(generation_start, user=user, entry=entry, writer_name="w", model_name="m")
    layer = get_channel_layer()
    watcher = await layer.new_channel()
    await layer.group_add(f"entry-{entry.pk}", watcher)
    page = AsyncClient()
    await page.aforce_login(user)

    async with ThreadSensitiveContext():
        response = await page.post(f"/entries/{entry.pk}/delete/")
        await sync_to_async(connections.close_all)()  # the test client leaves it open

    assert response.status_code == 302
    told = await asyncio.wait_for(layer.receive(watcher), 2)
    assert (told["type"], told["generation"], told["status"]) == (
        "diary.done",
        started.generation.pk,
        "cancelled",
    )
    trashed = await db(DiaryEntry.objects.get, pk=entry.pk)  # in the trash, its versions kept
    assert trashed.trashed_at is not None
    assert await db(Generation.objects.filter(pk=started.generation.pk).exists)
    assert await db(selectors.generations_today_count, user=user) == 1


@races_on_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_starts_on_different_entries_pass_the_running_limit_once(settings):
    settings.DIARY_MAX_RUNNING_PER_USER = 1
    user = make_user()
    earlier = generation_start(user=user, entry=make_entry(user), writer_name="w", model_name="m")
    generation_finish(generation_id=earlier.generation.pk, status="done", text="t", seq=1)
    entries = [make_entry(user), make_entry(user)]

    outcomes = start_together(
        *(
            partial(generation_start, user=user, entry=entry, writer_name="w", model_name="m")
            for entry in entries
        )
    )

    assert outcomes == ["rate_limited", "started"]
    assert Generation.objects.filter(entry__owner=user, status="generating").count() == 1
    assert selectors.generations_today_count(user=user) == 2


@races_on_postgresql
@pytest.mark.django_db(transaction=True)
def test_concurrent_starts_of_new_entries_pass_the_daily_quota_once(settings):
    settings.DIARY_DAILY_GENERATIONS = 1
    user = make_user()

    def start(n):
        entry = entry_build(user=user, morning=f"try {n}")
        generation_start(user=user, entry=entry, writer_name="w", model_name="m")

    outcomes = start_together(*(partial(start, n) for n in range(3)))

    assert outcomes == ["quota_exceeded", "quota_exceeded", "started"]
    assert entries_of(user) == 1  # the refused ones saved nothing
    assert selectors.generations_today_count(user=user) == 1


# --- hole 9: refused starts still save entries ------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_refused_starts_save_no_entry(scripted, socket_for, settings):
    settings.DIARY_DAILY_GENERATIONS = 1
    scripted(pieces=["one"])
    user = await db(make_user)
    ws = await socket_for(user)
    await ws.send(INPUTS)
    await ws.until("done")
    assert await db(entries_of, user) == 1

    refusals = []
    for n in range(4):
        await ws.send({**INPUTS, "morning": f"notes {n}", "request_id": f"refused-{n}"})
        refusals.append(await started_or_refused(ws))
    await ws.send({"action": "sendmessage", "data": "a free-text day"})
    refusals.append(await started_or_refused(ws))

    assert [f.get("code") for f in refusals] == ["quota_exceeded"] * 5
    assert await db(entries_of, user) == 1, "refused starts saved entries"
    assert all("entry" not in f for f in refusals)  # nothing was saved to point at
    assert "form" in refusals[0]["message"]  # the notes stay in the page's form


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_start_refused_for_the_running_limit_saves_no_entry(scripted, socket_for, settings):
    settings.DIARY_MAX_RUNNING_PER_USER = 1
    hold = asyncio.Event()
    scripted(pieces=["one"], hold=hold)
    user = await db(make_user)
    ws = await socket_for(user)
    try:
        await ws.send(INPUTS)
        assert (await started_or_refused(ws))["type"] == "started"
        await ws.send({**INPUTS, "morning": "second"})
        refused = await started_or_refused(ws)
    finally:
        hold.set()
    assert refused["code"] == "rate_limited"
    assert await db(entries_of, user) == 1


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_an_accepted_start_saves_the_inputs_before_the_model_is_called(scripted, socket_for):
    """Guarantee 1 still holds when the entry is made with the start."""
    hold = asyncio.Event()
    writer = scripted(pieces=["Dear ", "diary."], hold=hold)
    user = await db(make_user)
    ws = await socket_for(user)
    try:
        await ws.send({**INPUTS, "morning": "saved first"})
        started = await ws.until("started")
        delta = await ws.until("delta")
        saved = await db(DiaryEntry.objects.get, pk=started["entry"])
    finally:
        hold.set()
    assert delta["seq"] == 1 and delta["entry"] == started["entry"]
    assert saved.morning == "saved first" and writer.calls
    assert (await ws.until("done"))["text"] == "Dear diary."
