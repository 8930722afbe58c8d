"""Writes: starting, checkpointing, finishing, sweeping."""

from __future__ import annotations

import asyncio
import datetime as dt
from functools import partial

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from diaries.exceptions import Busy, DiaryError, QuotaExceeded, RateLimited
from diaries.generation import Hub
from diaries.models import DiaryEntry, EntryEdit, Generation
from diaries.services.accounts import profile_get
from diaries.services.entries import entry_update_text
from diaries.services.generations import (
    generation_finish,
    generation_start,
    generations_checkpoint,
    generations_sweep_stale,
)
from keystore.fields import seal
from tests.support.factories import ScriptedWriter, make_entry, make_user
from tests.support.races import start_together


def start(user, entry, **kwargs):
    return generation_start(
        user=user, entry=entry, writer_name="scripted", model_name="m", **kwargs
    )


@pytest.mark.django_db
def test_start_creates_one_running_generation_and_refuses_a_second(user, entry):
    result = start(user, entry)
    assert result.created and result.generation.status == "generating"
    entry.refresh_from_db()
    assert entry.status == "generating"
    with pytest.raises(Busy):
        start(user, entry)
    assert Generation.objects.filter(entry=entry).count() == 1


@pytest.mark.django_db
def test_the_database_itself_refuses_two_running_generations_per_entry(user, entry):
    from django.db import IntegrityError, transaction

    Generation.objects.create(entry=entry, writer="w", tone="plain", language="en")
    with pytest.raises(IntegrityError), transaction.atomic():
        Generation.objects.create(entry=entry, writer="w", tone="plain", language="en")


@pytest.mark.django_db(transaction=True)
def test_concurrent_starts_make_exactly_one_generation():
    user = make_user()
    entry = make_entry(user)
    results = start_together(*(partial(start, user, entry) for _ in range(4)))
    assert results == ["busy", "busy", "busy", "started"]
    assert Generation.objects.filter(entry=entry).count() == 1


@pytest.mark.django_db
def test_repeated_request_id_returns_the_same_generation(user, entry):
    first = start(user, entry, request_id="abc")
    generation_finish(generation_id=first.generation.pk, status="done", text="t", seq=1)
    again = start(user, entry, request_id="abc")
    assert not again.created and again.generation.pk == first.generation.pk


@pytest.mark.django_db
def test_repeated_request_id_of_a_running_generation_returns_it(user, entry):
    first = start(user, entry, request_id="running")
    again = start(user, entry, request_id="running")
    assert not again.created and again.generation.pk == first.generation.pk


@pytest.mark.django_db
def test_repeated_request_id_from_an_earlier_day_returns_the_same_generation(user, entry):
    first = start(user, entry, request_id="yesterday")
    generation_finish(generation_id=first.generation.pk, status="done", text="t", seq=1)
    Generation.objects.filter(pk=first.generation.pk).update(
        started_at=timezone.now() - dt.timedelta(days=2)
    )
    again = start(user, make_entry(user), request_id="yesterday")
    assert not again.created and again.generation.pk == first.generation.pk


@pytest.mark.django_db
def test_another_users_request_id_is_refused(user, other_user, entry):
    start(user, entry, request_id="mine")
    theirs = make_entry(other_user)
    with pytest.raises(DiaryError):
        start(other_user, theirs, request_id="mine")


@pytest.mark.django_db
def test_per_user_daily_limit_overrides_the_default(user, settings):
    settings.DIARY_DAILY_GENERATIONS = 5
    profile = profile_get(user=user)
    profile.daily_generation_limit = 1
    profile.save()
    first = make_entry(user)
    result = start(user, first)
    generation_finish(generation_id=result.generation.pk, status="done", text="t", seq=1)
    with pytest.raises(QuotaExceeded):
        start(user, make_entry(user))


@pytest.mark.django_db
def test_too_many_running_entries_per_user_is_rate_limited(user, settings):
    settings.DIARY_MAX_RUNNING_PER_USER = 1
    start(user, make_entry(user))
    with pytest.raises(RateLimited):
        start(user, make_entry(user))


@pytest.mark.django_db
def test_finish_done_publishes_text_but_failure_keeps_the_previous_text(user, entry):
    ok = start(user, entry)
    generation_finish(generation_id=ok.generation.pk, status="done", text="good", seq=3)
    bad = start(user, entry)
    generation_finish(
        generation_id=bad.generation.pk,
        status="failed",
        text="parti",
        seq=1,
        error_code="upstream_unavailable",
        error_message="cut",
    )
    entry.refresh_from_db()
    assert entry.text == "good" and entry.status == "failed"
    assert list(entry.generations.values_list("text", flat=True)) == ["parti", "good"]


@pytest.mark.django_db
def test_sweeper_interrupts_stale_generations_keeping_the_checkpoint(user, entry):
    running = start(user, entry).generation
    generations_checkpoint(texts={running.pk: (seal(user.pk, "so far"), 4)}, alive=[running.pk])
    fresh_entry = make_entry(user)
    fresh = start(user, fresh_entry).generation
    Generation.objects.filter(pk=running.pk).update(
        heartbeat_at=timezone.now() - dt.timedelta(seconds=60)
    )
    assert generations_sweep_stale(stale_after=15) == 1
    running.refresh_from_db()
    fresh.refresh_from_db()
    assert (running.status, running.text, running.seq) == ("interrupted", "so far", 4)
    assert running.error_message and fresh.status == "generating"
    entry.refresh_from_db()
    assert entry.status == "interrupted"
    # The person can retry.
    assert start(user, entry).created


@pytest.mark.django_db
def test_checkpoint_saves_text_and_heartbeat_but_never_touches_a_finished_generation(user):
    running = start(user, make_entry(user)).generation
    quiet = start(user, make_entry(user)).generation
    old = timezone.now() - dt.timedelta(seconds=30)
    Generation.objects.filter(pk__in=[running.pk, quiet.pk]).update(heartbeat_at=old)
    generations_checkpoint(
        texts={running.pk: (seal(user.pk, "part"), 3)}, alive=[running.pk, quiet.pk]
    )
    running.refresh_from_db()
    quiet.refresh_from_db()
    assert (running.text, running.seq) == ("part", 3) and running.heartbeat_at > old
    assert quiet.text == "" and quiet.heartbeat_at > old
    generation_finish(generation_id=running.pk, status="done", text="whole", seq=9)
    generations_checkpoint(texts={running.pk: (seal(user.pk, "late"), 4)}, alive=[running.pk])
    running.refresh_from_db()
    assert (running.status, running.text, running.seq) == ("done", "whole", 9)


@pytest.mark.django_db
def test_sweep_management_command(user, entry):
    from django.core.management import call_command

    running = start(user, entry).generation
    Generation.objects.filter(pk=running.pk).update(
        heartbeat_at=timezone.now() - dt.timedelta(hours=1)
    )
    call_command("sweep_generations")
    running.refresh_from_db()
    assert running.status == "interrupted"


@pytest.mark.django_db
def test_edit_keeps_the_previous_text(user, entry):
    entry_update_text(entry=entry, text="first version")
    entry_update_text(entry=entry, text="second version")
    entry.refresh_from_db()
    assert entry.text == "second version" and entry.writer == "owner"
    assert list(EntryEdit.objects.filter(entry=entry).values_list("previous_text", "text")) == [
        ("first version", "second version"),
        ("", "first version"),
    ]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_server_shutdown_saves_running_generations_as_interrupted():
    user = await database_sync_to_async(make_user)()
    entry = await database_sync_to_async(make_entry)(user)
    writer = ScriptedWriter(pieces=[f"w{i} " for i in range(500)], delay=0.01)
    hub = Hub(asyncio.get_running_loop())
    await hub.start(user=user, entry=entry, writer=writer)
    await asyncio.sleep(0.2)
    await hub.shutdown()
    generation = await Generation.objects.aget(entry=entry)
    assert generation.status == "interrupted" and generation.text
    assert writer.text.startswith(generation.text) and writer.closed_early == 1
    saved = await DiaryEntry.objects.aget(pk=entry.pk)
    assert saved.status == "interrupted"
