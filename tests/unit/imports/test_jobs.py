"""An upload becomes a job run off the request: its counts advance, it ends with the file's
content deleted, a bad file fails naming the entry, and a job whose process stopped is taken up
again and goes on where it stopped."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from diaries.imports import formats, jobs
from diaries.imports.service import entries_import
from diaries.models import DiaryEntry, ImportJob, ImportStatus
from tests.support.imports import day_one_journal, day_one_zip


@pytest.fixture
def spawned(monkeypatch):
    """Jobs the request would start in a thread, kept to be run by the test."""
    started: list[int] = []
    monkeypatch.setattr(jobs, "spawn", started.append)
    return started


def test_an_upload_is_kept_sealed_until_its_job_ends(
    user, spawned, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.import_job_create(user=user, file_name="export.zip", data=day_one_zip())
    assert spawned == [job.pk]
    with connection.cursor() as cursor:
        cursor.execute("SELECT content, file_name FROM diaries_importjob WHERE id = %s", [job.pk])
        [(raw, name)] = cursor.fetchall()
    assert raw and "Cherry" not in raw and "blossoms" not in raw
    assert name and "export" not in name  # a file's name can say as much as its words

    assert jobs.import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.total, job.processed, job.imported, job.skipped) == ("done", 3, 3, 3, 0)
    assert job.photos_skipped == 1 and job.content == "" and job.finished_at
    assert DiaryEntry.objects.filter(owner=user, source="dayone").count() == 3


def test_a_bad_file_fails_its_job_naming_the_entry(user, spawned):
    job = jobs.import_job_create(
        user=user, file_name="Journal.json", data=b'{"entries": [{"text": "no date"}]}'
    )

    jobs.import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and "entry 1" in job.error_message
    assert job.content == "" and not DiaryEntry.objects.filter(owner=user).exists()


def test_a_job_left_running_by_a_stopped_server_goes_on_where_it_stopped(user, spawned):
    data = day_one_journal(25)
    job = jobs.import_job_create(user=user, file_name="Journal.json", data=data)
    # The first server wrote 10 entries, then stopped: its heartbeat went stale.
    parsed = formats.upload_parse(formats.upload_read("Journal.json", data))
    parsed.entries = parsed.entries[:10]
    entries_import(user=user, parsed=parsed)
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING,
        imported=10,
        processed=10,
        heartbeat_at=timezone.now() - dt.timedelta(minutes=5),
    )

    call_command("run_imports")

    job.refresh_from_db()
    assert (job.status, job.imported, job.skipped, job.processed) == ("done", 25, 0, 25)
    assert DiaryEntry.objects.filter(owner=user).count() == 25


def test_a_running_job_with_a_live_heartbeat_is_not_taken_twice(user, spawned):
    job = jobs.import_job_create(user=user, file_name="Journal.json", data=day_one_journal(3))
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING)

    assert not jobs.import_job_run(job_id=job.pk)
    assert jobs.import_jobs_resume() == 0
    assert not DiaryEntry.objects.filter(owner=user).exists()


def test_the_page_asking_about_a_stalled_job_takes_it_up(signed_in, user, monkeypatch):
    ran: list[int] = []
    monkeypatch.setattr(jobs, "spawn", ran.append)
    job = jobs.import_job_create(user=user, file_name="Journal.json", data=day_one_journal(3))
    assert signed_in.get(f"/import/{job.pk}/status/").json()["status"] == "queued"
    assert ran == []  # just uploaded: its own thread is on it

    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING, heartbeat_at=timezone.now() - dt.timedelta(minutes=5)
    )
    signed_in.get(f"/import/{job.pk}/status/")

    assert ran == [job.pk]
    assert jobs.import_job_run(job_id=job.pk)
    assert signed_in.get(f"/import/{job.pk}/status/").json()["imported"] == 3
