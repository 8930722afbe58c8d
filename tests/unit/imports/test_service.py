"""Importing: a Nikki export restores an account, Day One and text files become entries, sealed
and marked with their source, a second import adds nothing, a bad file imports nothing."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from diaries import exports, selectors
from diaries.imports import formats
from diaries.imports.service import entries_import
from diaries.models import DiaryEntry, EntryEdit, EntrySource, EntryStatus, Generation, Profile
from diaries.services import accounts
from tests.support.factories import make_entry, make_user
from tests.support.imports import DAY_ONE_JOURNAL, day_one_zip


def _import(user, name: str, data: bytes):
    parsed = formats.upload_parse(formats.upload_read(name, data))
    return entries_import(user=user, parsed=parsed)


def _export(user) -> dict:
    text = exports.entries_as_json(
        selectors.entries_for_export(user=user),
        user=user,
        profile=accounts.profile_get(user=user),
    )
    return json.loads(text)


def _comparable(data: dict) -> dict:
    """An export without what differs between two accounts by nature: ids, the export's time,
    the account itself, and where the entries came from."""
    data = json.loads(json.dumps(data))
    del data["exported_at"]
    data["user"] = data["user"]["settings"]
    for entry in data["entries"]:
        del entry["id"], entry["source"]
        for item in entry["generations"] + entry["edits"]:
            del item["id"]
    return data


def _diary_with_history(user) -> None:
    first = make_entry(user, date=dt.date(2024, 5, 1), evening="a long dinner", language="ja")
    Generation.objects.create(
        entry=first,
        status="done",
        text="An old version.",
        writer="openai",
        model_name="gpt-x",
        tone="warm",
        language="ja",
        prompt_tokens=10,
        completion_tokens=20,
        total_tokens=30,
        finished_at=dt.datetime(2024, 5, 1, 22, tzinfo=dt.UTC),
    )
    first.text, first.status, first.writer = "My own words.", EntryStatus.EDITED, "owner"
    first.save()
    EntryEdit.objects.create(entry=first, text="My own words.", previous_text="An old version.")
    make_entry(user, date=dt.date(2024, 5, 2), notes="nothing much", tone="poetic")
    profile = accounts.profile_get(user=user)
    profile.default_tone, profile.time_zone, profile.display_name = "warm", "Asia/Tokyo", "Aiko"
    profile.keep_names_from_model, profile.private_names = True, "Kenji\nMiho"
    profile.save()


def test_a_nikki_export_imported_into_an_empty_account_reproduces_it(db):
    source, target = make_user(), make_user()
    _diary_with_history(source)
    exported = _export(source)

    result = _import(target, "nikki.json", json.dumps(exported).encode())

    assert (result.imported, result.skipped) == (2, 0)
    assert _comparable(_export(target)) == _comparable(exported)
    assert set(DiaryEntry.objects.filter(owner=target).values_list("source", flat=True)) == {
        EntrySource.NIKKI_EXPORT
    }


def test_importing_ones_own_export_or_a_restored_accounts_export_adds_nothing(user):
    _diary_with_history(user)
    again = _import(user, "mine.json", json.dumps(_export(user)).encode())
    assert (again.imported, again.skipped) == (0, 2)

    restored = make_user()
    _import(restored, "mine.json", json.dumps(_export(user)).encode())
    again = _import(restored, "restored.json", json.dumps(_export(restored)).encode())
    assert (again.imported, again.skipped) == (0, 2)
    assert DiaryEntry.objects.filter(owner=restored).count() == 2


def test_importing_the_same_file_again_adds_nothing_twice(user):
    data = DAY_ONE_JOURNAL.read_bytes()
    assert _import(user, "Journal.json", data).imported == 3

    again = _import(user, "Journal.json", data)

    assert (again.imported, again.skipped) == (0, 3)
    assert DiaryEntry.objects.filter(owner=user).count() == 3


def test_a_day_one_zip_becomes_entries_on_their_local_dates_photos_skipped(user):
    parsed = formats.upload_parse(formats.upload_read("export.zip", day_one_zip()))
    entries_import(user=user, parsed=parsed)

    assert parsed.photos_skipped == 1
    spring, monday, lunch = DiaryEntry.objects.filter(owner=user).order_by("date")
    # 23:30 UTC on 2 March is 3 March in Tokyo.
    assert spring.date == dt.date(2019, 3, 3)
    assert spring.text == "Cherry blossoms by the river already.\n\n[photo]\n\nWalked home slowly."
    assert "spring, walks" in spring.notes and "Starred" in spring.notes
    assert spring.created_at == dt.datetime(2019, 3, 2, 23, 30, tzinfo=dt.UTC)
    assert (monday.date, monday.language) == (dt.date(2019, 3, 4), "en")
    assert lunch.language == "ja"
    for entry in (spring, monday, lunch):
        assert (entry.source, entry.status, entry.writer) == ("dayone", "edited", "owner")
        assert not entry.text_needs_check  # no model or checker is asked about it
        assert not entry.generations.exists()


def test_imported_words_are_sealed_and_their_fingerprint_is_keyed_per_person(user):
    other = make_user()
    _import(user, "Journal.json", DAY_ONE_JOURNAL.read_bytes())
    _import(other, "Journal.json", DAY_ONE_JOURNAL.read_bytes())

    with connection.cursor() as cursor:
        cursor.execute("SELECT text, notes, import_key FROM diaries_diaryentry")
        rows = cursor.fetchall()
    assert rows and not any("Cherry" in text or "spring" in notes for text, notes, _k in rows)
    mine = set(DiaryEntry.objects.filter(owner=user).values_list("import_key", flat=True))
    theirs = set(DiaryEntry.objects.filter(owner=other).values_list("import_key", flat=True))
    assert len(mine) == 3 and not mine & theirs


def test_imported_entries_are_found_by_search(user):
    _import(user, "Journal.json", DAY_ONE_JOURNAL.read_bytes())

    found = selectors.entries_search(user=user, query="blossoms")

    assert [e.date for e in found] == [dt.date(2019, 3, 3)]


def test_markdown_files_are_dated_by_name_or_heading(user):
    _import(user, "2020-07-14.md", b"Hot day.\nSwam twice.\n")
    _import(user, "notes.md", b"# 2021-01-02\nFirst walk of the year.\n\n## 2021/01/03\nSnow.\n")

    entries = DiaryEntry.objects.filter(owner=user).order_by("date")
    assert [(e.date.isoformat(), e.text, e.source) for e in entries] == [
        ("2020-07-14", "Hot day.\nSwam twice.", "text"),
        ("2021-01-02", "First walk of the year.", "text"),
        ("2021-01-03", "Snow.", "text"),
    ]


@pytest.mark.parametrize(
    ("name", "data", "named"),
    [
        ("notes.txt", b"no date anywhere\n", "notes.txt line 1"),
        ("Journal.json", b'{"entries": [{"text": "x"}]}', "Journal.json entry 1"),
        ("Journal.json", b'{"entries": [\n{"creationDate": ', "line 2"),
        ("x.md", b"# 2021-02-30\nnot a day\n", "x.md line 1"),
    ],
)
def test_a_bad_file_names_the_entry_or_line(user, name, data, named):
    with pytest.raises(formats.ImportFileError) as error:
        _import(user, name, data)

    assert named in error.value.message


def test_a_bad_entry_late_in_a_nikki_export_imports_nothing(user):
    source = make_user()
    _diary_with_history(source)
    exported = _export(source)
    exported["entries"][1]["status"] = "???"

    with pytest.raises(formats.ImportFileError, match="entry 2"):
        _import(user, "nikki.json", json.dumps(exported).encode())

    assert not DiaryEntry.objects.filter(owner=user).exists()
    assert accounts.profile_get(user=user).display_name == ""


def test_the_command_imports_a_file_and_reports_a_bad_one(user, tmp_path, capsys):
    good = tmp_path / "export.zip"
    good.write_bytes(day_one_zip())
    call_command("import_entries", "--user", user.username, str(good))
    assert "3 entries imported, 0 already there" in capsys.readouterr().out

    bad = tmp_path / "Journal.json"
    bad.write_bytes(b'{"entries": [{"creationDate": "2020-01-01T00:00:00Z", "timeZone": "Mars"}]}')
    with pytest.raises(CommandError, match=r"entry 1 has an unknown timeZone\. Nothing was"):
        call_command("import_entries", "--user", user.username, str(bad))
    assert DiaryEntry.objects.filter(owner=user).count() == 3
    assert not Profile.objects.filter(user=user, display_name="x").exists()


def test_an_imported_entry_page_never_starts_a_model_by_itself(signed_in, user):
    _import(user, "2020-07-14.md", b"Hot day.\n")
    entry = DiaryEntry.objects.get(owner=user)

    response = signed_in.get(f"/entries/{entry.pk}/?write=1")

    assert response.context["autostart"] is False
    assert not Generation.objects.filter(entry=entry).exists()
