"""The settings page, the user's language and time zone on every page, and deleting an account."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import connections
from django.utils import timezone, translation

from diaries.models import DiaryEntry, EntryEdit, Generation, GenerationStatus, Profile
from diaries.services.accounts import account_delete, profile_get
from diaries.services.entries import entry_update_text
from tests.support.factories import make_entry, make_user

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-diary-passphrase-42"


@pytest.fixture(autouse=True)
def _back_to_the_default_language():
    """The test client runs views in this thread, and LocaleMiddleware never deactivates the
    language it activated: put the default back so later tests' messages are in English."""
    yield
    translation.deactivate()


def settings_post(**overrides: str) -> dict[str, str]:
    data = {
        "ui_language": "",
        "default_language": "ja",
        "default_tone": "poetic",
        "time_zone": "Asia/Tokyo",
    }
    data.update(overrides)
    return data


# --- the page -----------------------------------------------------------------------------------


def test_settings_page_shows_the_current_settings_and_links(signed_in, user):
    profile = profile_get(user=user)
    profile.default_tone = "warm"
    profile.time_zone = "Europe/Paris"
    profile.save()

    response = signed_in.get("/settings/")

    assert response.status_code == 200
    html = response.text
    for name in ("ui_language", "default_language", "default_tone", "time_zone"):
        assert f'for="id_{name}"' in html  # every field has a label
    assert '<option value="warm" selected>' in html
    assert '<option value="Europe/Paris" selected>' in html
    assert '<option value="Asia/Tokyo">' in html
    assert 'href="/export/markdown/"' in html and 'href="/export/json/"' in html
    assert 'href="/accounts/delete/"' in html
    assert 'href="/accounts/password/change/"' in html


def test_saving_the_settings_updates_the_profile(signed_in, user):
    response = signed_in.post("/settings/", settings_post())

    assert response.status_code == 302
    assert response.url == "/settings/"
    profile = Profile.objects.get(user=user)
    assert (profile.ui_language, profile.default_language) == ("", "ja")
    assert (profile.default_tone, profile.time_zone) == ("poetic", "Asia/Tokyo")
    assert "Your settings are saved." in signed_in.get("/settings/").text


@pytest.mark.parametrize(
    "field, value",
    [
        ("time_zone", "Mars/Olympus_Mons"),
        ("time_zone", "../../etc/passwd"),
        ("default_tone", "angry"),
        ("ui_language", "fr"),
        ("default_language", "xx"),
    ],
)
def test_invalid_settings_are_refused(signed_in, user, field, value):
    response = signed_in.post("/settings/", settings_post(**{field: value}))

    assert response.status_code == 200
    assert "errorlist" in response.text
    assert Profile.objects.get(user=user).default_tone == "plain"


def test_new_entries_start_from_the_default_tone_and_language(signed_in):
    signed_in.post("/settings/", settings_post(default_tone="humorous", default_language="ja"))

    html = signed_in.get("/entries/new/").text

    assert '<option value="humorous" selected>' in html
    assert '<option value="ja" selected>' in html


# --- language and time zone on every page -------------------------------------------------------


def test_choosing_japanese_switches_the_interface_and_remembers_it(signed_in, user):
    response = signed_in.post("/settings/", settings_post(ui_language="ja"))

    assert response.cookies["django_language"].value == "ja"
    page = signed_in.get(response.url)
    assert '<html lang="ja">' in page.text
    assert "設定を保存しました。" in page.text  # the confirmation, already in Japanese
    # A new browser (no cookie) still gets Japanese once signed in.
    signed_in.cookies.pop("django_language")
    assert '<html lang="ja">' in signed_in.get("/", HTTP_ACCEPT_LANGUAGE="en").text


def test_following_the_browser_again_forgets_the_language_cookie(signed_in, user):
    signed_in.post("/settings/", settings_post(ui_language="ja"))

    response = signed_in.post("/settings/", settings_post(ui_language=""))

    assert response.cookies["django_language"].value == ""  # deleted
    assert '<html lang="en">' in signed_in.get("/", HTTP_ACCEPT_LANGUAGE="en").text
    assert '<html lang="ja">' in signed_in.get("/", HTTP_ACCEPT_LANGUAGE="ja").text


def test_the_language_switcher_remembers_the_choice_for_a_signed_in_person(signed_in, user):
    response = signed_in.post("/i18n/setlang/", {"language": "ja", "next": "/calendar/"})

    assert response.status_code == 302
    assert response.url == "/calendar/"
    assert Profile.objects.get(user=user).ui_language == "ja"
    assert '<html lang="ja">' in signed_in.get("/calendar/").text

    signed_in.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert Profile.objects.get(user=user).ui_language == "en"


def test_the_language_switcher_works_for_visitors_too(client):
    response = client.post("/i18n/setlang/", {"language": "ja", "next": "/accounts/login/"})

    assert response.status_code == 302
    page = client.get("/accounts/login/")
    assert '<html lang="ja">' in page.text
    assert "ログイン" in page.text
    assert not Profile.objects.exists()


def test_an_unknown_language_from_the_switcher_is_ignored(signed_in, user):
    signed_in.post("/i18n/setlang/", {"language": "xx", "next": "/"})

    assert profile_get(user=user).ui_language == ""


def test_every_page_has_the_language_switcher(client, signed_in):
    html = signed_in.get("/").text

    assert 'action="/i18n/setlang/"' in html
    assert '<button type="submit" name="language" value="ja" lang="ja"' in html
    assert "日本語" in html


def far_apart_zones() -> tuple[str, str]:
    # 25 hours apart: their dates always differ.
    return "Pacific/Kiritimati", "Pacific/Pago_Pago"


@pytest.mark.parametrize("zone", far_apart_zones())
def test_today_is_the_persons_own_today(signed_in, user, zone):
    profile = profile_get(user=user)
    profile.time_zone = zone
    profile.save()
    their_today = dt.datetime.now(zoneinfo.ZoneInfo(zone)).date()

    html = signed_in.get("/entries/new/").text

    assert f'value="{their_today.isoformat()}"' in html


def test_times_are_shown_in_the_persons_time_zone(signed_in, user):
    profile = profile_get(user=user)
    profile.time_zone = "Asia/Tokyo"
    profile.save()
    entry = make_entry(user)
    started = dt.datetime(2026, 11, 25, 23, 30, tzinfo=dt.UTC)  # 08:30 the next day in Tokyo
    Generation.objects.create(
        entry=entry,
        status=GenerationStatus.DONE,
        text="x",
        writer="offline",
        tone="plain",
        started_at=started,
        finished_at=started,
    )

    html = signed_in.get(f"/entries/{entry.pk}/history/").text

    assert 'datetime="2026-11-26T08:30:00+09:00"' in html
    assert timezone.get_current_timezone_name() == "UTC"  # nothing leaks out of the request


# --- deleting the account -----------------------------------------------------------------------


def test_account_deletion_asks_for_the_password(signed_in, user):
    make_entry(user)

    html = signed_in.get("/accounts/delete/").text

    assert 'type="password"' in html and 'autocomplete="current-password"' in html
    assert "1 entry" in html
    assert 'action="/accounts/delete/"' in html


def test_a_wrong_password_deletes_nothing(signed_in, user):
    make_entry(user)

    response = signed_in.post("/accounts/delete/", {"password": "not-my-password"})

    assert response.status_code == 200
    assert "That is not your password." in response.text
    assert get_user_model().objects.filter(pk=user.pk).exists()
    assert DiaryEntry.objects.filter(owner=user).exists()


def test_deleting_the_account_removes_everything_of_theirs_and_logs_out(client):
    user = make_user(password=PASSWORD)
    keeper = make_user()
    kept = make_entry(keeper)
    entry = make_entry(user)
    entry_update_text(entry=entry, text="Edited.")
    Generation.objects.create(entry=entry, status="done", text="x", writer="offline", tone="plain")
    profile_get(user=user)
    client.force_login(user)

    response = client.post("/accounts/delete/", {"password": PASSWORD})

    assert response.status_code == 302
    assert response.url == "/accounts/login/"
    assert not get_user_model().objects.filter(pk=user.pk).exists()
    assert not DiaryEntry.objects.filter(pk=entry.pk).exists()
    assert not Generation.objects.filter(entry_id=entry.pk).exists()
    assert not EntryEdit.objects.filter(entry_id=entry.pk).exists()
    assert not Profile.objects.filter(user_id=user.pk).exists()
    assert DiaryEntry.objects.filter(pk=kept.pk).exists()
    assert client.get("/entries/new/").status_code == 302  # signed out
    assert "deleted" in client.get("/accounts/login/").text


def test_deleting_an_account_stops_its_running_generations_first(user):
    entry = make_entry(user)
    Generation.objects.create(
        entry=entry, status=GenerationStatus.GENERATING, writer="offline", tone="plain"
    )

    account_delete(user=user, wait=0.5)

    assert not get_user_model().objects.filter(pk=user.pk).exists()
    assert not Generation.objects.exists()


# --- the same through the ASGI stack (daphne runs the middleware chain asynchronously) ---------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_language_and_time_zone_apply_under_asgi_too(async_client):
    def prepare():
        user = make_user()
        profile = profile_get(user=user)
        profile.ui_language, profile.time_zone = "ja", "Pacific/Kiritimati"
        profile.save()
        return user

    user = await sync_to_async(prepare)()
    await async_client.aforce_login(user)

    html = (await async_client.get("/entries/new/", HTTP_ACCEPT_LANGUAGE="en")).text
    switched = await async_client.post("/i18n/setlang/", {"language": "en", "next": "/"})

    profile = await Profile.objects.aget(user=user)
    # The worker thread's connection would keep PostgreSQL's test database from being dropped.
    await sync_to_async(connections.close_all)()

    their_today = dt.datetime.now(zoneinfo.ZoneInfo("Pacific/Kiritimati")).date()
    assert '<html lang="ja">' in html
    assert f'value="{their_today.isoformat()}"' in html
    assert switched.status_code == 302
    assert profile.ui_language == "en"
