"""The hand-written statements of a generation's start and end (diaries/fastsql.py) store and
read what the ORM would, on SQLite and on PostgreSQL (the suite's second pass)."""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from diaries import fastsql, services
from diaries.models import DiaryEntry, Generation, ModerationEvent

from .conftest import make_entry, make_user


def _row(model, pk) -> dict:
    row = model.objects.filter(pk=pk).values().get()
    row.pop("id")
    return row


@pytest.mark.django_db
def test_insert_stores_what_save_stores(user, entry):
    now = timezone.now()
    fields = {
        "entry": entry,
        "status": "done",
        "text": "Ein Tag am Fluss, 'quoted' and \"double\" — ünïcode ✓",
        "writer": "openai",
        "model_name": "m",
        "tone": "warm",
        "language": "de",
        "prompt_tokens": 12,
        "request_id": None,
        "started_at": now - dt.timedelta(seconds=3),
        "heartbeat_at": now,
        "finished_at": now,
    }
    by_orm = Generation.objects.create(**fields)
    by_hand = fastsql.insert(Generation(**{**fields, "status": "failed"}))
    Generation.objects.filter(pk=by_orm.pk).update(status="failed")

    assert by_hand.pk is not None and by_hand.pk != by_orm.pk
    assert not by_hand._state.adding
    assert _row(Generation, by_hand.pk) == _row(Generation, by_orm.pk)
    by_hand.refresh_from_db()
    assert by_hand.text == fields["text"] and by_hand.started_at == fields["started_at"]


@pytest.mark.django_db
def test_insert_sets_auto_now_add_and_defaults(user):
    before = timezone.now()
    entry = fastsql.insert(DiaryEntry(owner=user, morning="tea"))
    stored = DiaryEntry.objects.get(pk=entry.pk)
    assert stored.created_at >= before and stored.updated_at >= before
    assert stored.status == "draft" and stored.text == "" and stored.morning == "tea"
    # JSON and the other field types go through the field's own preparation.
    event = fastsql.insert(ModerationEvent(action="check_passed", entry=entry, details={"a": [1]}))
    assert ModerationEvent.objects.get(pk=event.pk).details == {"a": [1]}


@pytest.mark.django_db
def test_update_saves_only_the_named_fields_and_sets_auto_now(user, entry):
    stamp = DiaryEntry.objects.get(pk=entry.pk).updated_at
    entry.status = "generating"
    entry.morning = "not to be saved"
    assert fastsql.update(entry, ("status", "updated_at")) == 1
    stored = DiaryEntry.objects.get(pk=entry.pk)
    assert stored.status == "generating"
    assert stored.morning == "ran by the river"
    assert stored.updated_at > stamp and stored.updated_at == entry.updated_at


@pytest.mark.django_db
def test_finish_of_a_missing_generation_raises_does_not_exist(user, entry):
    with pytest.raises(Generation.DoesNotExist):
        services.generation_finish(generation_id=987654321, status="done", text="t", seq=1)


@pytest.mark.django_db
def test_start_of_someone_elses_entry_is_not_found(user, other_user, entry):
    with pytest.raises(DiaryEntry.DoesNotExist):
        services.generation_start(user=other_user, entry=entry, writer_name="w", model_name="m")
    assert not Generation.objects.filter(entry=entry).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/Los_Angeles"])
def test_the_daily_limit_counts_from_the_users_local_midnight(user, settings, zone):
    """The count compares started_at with local midnight in SQL; SQLite stores UTC text."""
    settings.DIARY_DAILY_GENERATIONS = 1
    with timezone.override(zoneinfo.ZoneInfo(zone)):
        midnight = timezone.make_aware(dt.datetime.combine(timezone.localdate(), dt.time.min))
        old = make_entry(user)
        Generation.objects.create(
            entry=old,
            status="done",
            writer="w",
            tone="plain",
            language="en",
            started_at=midnight - dt.timedelta(seconds=1),
        )
        result = services.generation_start(
            user=user, entry=make_entry(user), writer_name="w", model_name="m"
        )
        assert result.created  # yesterday's does not count
        services.generation_finish(
            generation_id=result.generation.pk, status="done", text="t", seq=1
        )
        Generation.objects.filter(pk=result.generation.pk).update(
            started_at=midnight + dt.timedelta(seconds=1)
        )
        with pytest.raises(services.QuotaExceeded):
            services.generation_start(
                user=user, entry=make_entry(user), writer_name="w", model_name="m"
            )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_the_end_locks_the_generation_and_its_entry_until_it_commits():
    user = make_user()
    entry = make_entry(user)
    generation = services.generation_start(
        user=user, entry=entry, writer_name="w", model_name="m"
    ).generation
    locked, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                fastsql.locked(Generation, generation.pk)
                fastsql.locked(DiaryEntry, entry.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        for model, pk in ((Generation, generation.pk), (DiaryEntry, entry.pk)):
            with pytest.raises(DatabaseError), transaction.atomic():
                model.objects.select_for_update(nowait=True).get(pk=pk)
    finally:
        release.set()
        holder.join()
    with transaction.atomic():  # released at the commit
        assert DiaryEntry.objects.select_for_update(nowait=True).get(pk=entry.pk)
