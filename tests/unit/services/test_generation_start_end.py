"""A generation's start and end (generation_start, generation_finish) store what
save() would store, count the daily quota from local midnight, and hold row locks until they
commit — on SQLite and on PostgreSQL (the suite's second pass)."""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from diaries.exceptions import QuotaExceeded
from diaries.models import DiaryEntry, Generation, ModerationEvent
from diaries.services import generations
from diaries.services.entries import entry_build, entry_create
from diaries.services.generations import generation_finish, generation_start
from diaries.services.moderation import moderation_event_record
from tests.support.factories import make_entry, make_user

TEXT = "Ein Tag am Fluss, 'quoted' and \"double\" — ünïcode ✓"


def _row(model, pk, *skip: str) -> dict:
    row = model.objects.filter(pk=pk).values().get()
    for name in ("id", *skip):
        row.pop(name)
    return row


@pytest.mark.django_db
def test_the_start_of_a_new_entry_stores_what_save_stores(user):
    before = timezone.now()
    inputs = {"user": user, "morning": TEXT, "tone": "warm", "language": "de"}
    built = entry_build(**inputs)
    result = generation_start(user=user, entry=built, writer_name="w", model_name="m")

    assert built.pk is None  # the caller's object stays the unsaved inputs
    by_save = entry_create(**inputs)
    DiaryEntry.objects.filter(pk=by_save.pk).update(status="generating")
    skip = ("created_at", "updated_at")
    assert _row(DiaryEntry, result.entry.pk, *skip) == _row(DiaryEntry, by_save.pk, *skip)
    stored = DiaryEntry.objects.get(pk=result.entry.pk)
    assert stored.created_at >= before and stored.updated_at >= before
    assert stored.updated_at == result.entry.updated_at and stored.text == ""
    generation = result.generation
    by_orm = Generation(
        entry=result.entry,
        status="failed",  # one running generation per entry
        writer="w",
        model_name="m",
        tone="warm",
        language="de",
        started_at=generation.started_at,
        heartbeat_at=generation.heartbeat_at,
    )
    by_orm.save()
    assert _row(Generation, generation.pk, "status") == _row(Generation, by_orm.pk, "status")


@pytest.mark.django_db
def test_the_start_of_an_entry_saves_only_its_status_and_updated_at(user, entry):
    stamp = DiaryEntry.objects.get(pk=entry.pk).updated_at
    entry.morning = "not to be saved"
    result = generation_start(user=user, entry=entry, writer_name="w", model_name="m")
    stored = DiaryEntry.objects.get(pk=entry.pk)
    assert stored.status == "generating"
    assert stored.morning == "ran by the river"
    assert stored.updated_at > stamp and stored.updated_at == result.entry.updated_at


@pytest.mark.django_db
def test_the_end_stores_the_generation_and_the_entrys_text(user, entry):
    started = generation_start(user=user, entry=entry, writer_name="w", model_name="m")
    stamp = DiaryEntry.objects.get(pk=entry.pk).updated_at
    usage = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    ended = generation_finish(
        generation_id=started.generation.pk, status="done", text=TEXT, seq=7, usage=usage
    )
    stored = Generation.objects.get(pk=ended.pk)
    assert (stored.status, stored.text, stored.seq, stored.total_tokens) == ("done", TEXT, 7, 15)
    assert stored.finished_at == ended.finished_at and stored.heartbeat_at == ended.finished_at
    saved = DiaryEntry.objects.get(pk=entry.pk)
    assert (saved.status, saved.text, saved.writer) == ("done", TEXT, "w")
    assert saved.updated_at > stamp and saved.updated_at == ended.entry.updated_at


@pytest.mark.django_db
def test_an_audit_event_stores_its_json_details(user, entry):
    event = moderation_event_record(action="check_passed", entry=entry, details={"a": [1]})
    stored = ModerationEvent.objects.get(pk=event.pk)
    assert stored.details == {"a": [1], "entry": entry.pk, "user": user.pk}


@pytest.mark.django_db
def test_finish_of_a_missing_generation_raises_does_not_exist(user, entry):
    with pytest.raises(Generation.DoesNotExist):
        generation_finish(generation_id=987654321, status="done", text="t", seq=1)


@pytest.mark.django_db
def test_start_of_someone_elses_entry_is_not_found(user, other_user, entry):
    with pytest.raises(DiaryEntry.DoesNotExist):
        generation_start(user=other_user, entry=entry, writer_name="w", model_name="m")
    assert not Generation.objects.filter(entry=entry).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/Los_Angeles"])
def test_the_daily_limit_counts_from_the_users_local_midnight(user, settings, zone):
    """The day a start counts against is the local date; SQLite stores UTC text."""
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
        result = generation_start(
            user=user, entry=make_entry(user), writer_name="w", model_name="m"
        )
        assert result.created  # yesterday's does not count
        generation_finish(generation_id=result.generation.pk, status="done", text="t", seq=1)
        Generation.objects.filter(pk=result.generation.pk).update(
            started_at=midnight + dt.timedelta(seconds=1)
        )
        with pytest.raises(QuotaExceeded):
            generation_start(user=user, entry=make_entry(user), writer_name="w", model_name="m")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_the_end_locks_the_generation_and_its_entry_until_it_commits(monkeypatch):
    """Paused after its locking read, before it writes anything: the rows are locked by the
    read itself."""
    user = make_user()
    entry = make_entry(user)
    generation = generation_start(
        user=user, entry=entry, writer_name="w", model_name="m"
    ).generation
    locked, release = threading.Event(), threading.Event()
    follow = generations._entry_follow_fields

    def paused(*args, **kwargs):
        locked.set()
        release.wait(10)
        return follow(*args, **kwargs)

    monkeypatch.setattr(generations, "_entry_follow_fields", paused)

    def end():
        try:
            with transaction.atomic():
                generation_finish(generation_id=generation.pk, status="done", text="t", seq=1)
        finally:
            connection.close()

    holder = threading.Thread(target=end)
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
    assert DiaryEntry.objects.get(pk=entry.pk).text == "t"
