"""The import page: upload, watch the status, see the result; another person's import is not
found. The exports stream."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import StreamingHttpResponse

from diaries import exports, selectors
from diaries.imports import jobs
from diaries.models import DiaryEntry
from diaries.services import accounts
from tests.support.factories import make_entry
from tests.support.imports import day_one_zip
from tests.support.responses import body as streamed


def test_a_day_one_zip_uploaded_on_the_page_is_imported(
    signed_in, user, monkeypatch, django_capture_on_commit_callbacks
):
    # The job runs once its upload is committed (in a server: in a thread).
    monkeypatch.setattr(jobs, "spawn", lambda job_id: jobs.import_job_run(job_id=job_id))
    upload = SimpleUploadedFile("export.zip", day_one_zip(), content_type="application/zip")
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post("/import/", {"file": upload})
    assert response.status_code == 302

    response = signed_in.get(response["Location"])

    page = response.content.decode()
    assert "export.zip" in page and "3 entries imported, 0 already there." in page
    assert "1 attached file (photo, audio, PDF…) not imported." in page
    assert DiaryEntry.objects.filter(owner=user, source="dayone").count() == 3
    [job] = response.context["jobs"]
    status = signed_in.get(f"/import/{job.pk}/status/").json()
    assert status | {"id": 0} == {
        "id": 0,
        "status": "done",
        "status_label": "Done",
        "finished": True,
        "total": 3,
        "processed": 3,
        "imported": 3,
        "skipped": 0,
        "photos_skipped": 1,
        "error": "",
    }


def test_an_unreadable_upload_is_refused_on_the_page(signed_in, user):
    upload = SimpleUploadedFile("export.zip", b"PK\x03\x04 not really a zip")

    response = signed_in.post("/import/", {"file": upload})

    assert "export.zip is not a readable zip file." in response.content.decode()
    assert not user.diary_imports.exists()


def test_another_persons_import_status_is_not_found(client, other_user, user, monkeypatch):
    monkeypatch.setattr(jobs, "spawn", lambda job_id: None)
    job = jobs.import_job_create(user=other_user, file_name="a.md", data=b"# 2020-01-01\nhi\n")
    client.force_login(user)

    assert client.get(f"/import/{job.pk}/status/").status_code == 404


def test_the_settings_page_links_to_the_import(signed_in):
    assert 'href="/import/"' in signed_in.get("/settings/").content.decode()


@pytest.mark.parametrize("path", ["/export/json/", "/export/markdown/"])
def test_exports_stream(signed_in, user, path):
    for day in range(1, 4):
        make_entry(user, date=f"2024-05-0{day}", notes=f"day {day}")

    response = signed_in.get(path)

    assert isinstance(response, StreamingHttpResponse)
    assert response["Cache-Control"] == "no-store"
    body = streamed(response).decode()
    if path.endswith("json/"):
        assert [e["notes"] for e in json.loads(body)["entries"]] == ["day 1", "day 2", "day 3"]
    else:
        assert body.index("2024-05-01") < body.index("2024-05-02") < body.index("2024-05-03")


def test_the_json_export_reads_a_page_of_entries_at_a_time(user, monkeypatch):
    monkeypatch.setattr(exports, "PAGE", 2)
    for day in range(1, 6):
        make_entry(user, date=f"2024-05-0{day}")
    profile = accounts.profile_get(user=user)

    chunks = list(
        exports.entries_as_json_chunks(
            selectors.entries_for_export(user=user), user=user, profile=profile
        )
    )

    # The head, three pages of at most two entries, the end: one valid document.
    assert len(chunks) == 5
    assert [chunk.count('"date": ') for chunk in chunks] == [0, 2, 2, 1, 0]
    dates = [e["date"] for e in json.loads("".join(chunks))["entries"]]
    assert dates == [f"2024-05-0{day}" for day in range(1, 6)]
