"""Sharing by link, the public page, revoking, reporting — what the owner, a reader and a
stranger see and can do."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from diaries.exceptions import NotFound
from diaries.models import (
    DiaryEntry,
    ModerationAction,
    ModerationEvent,
    ModerationState,
    Report,
    ReportStatus,
    text_digest,
)
from diaries.services.accounts import profile_get
from diaries.services.entries import entry_update_text
from diaries.services.moderation import entry_hide, entry_restore, report_resolve
from diaries.services.sharing import entry_report, entry_share
from keystore.fields import seal
from tests.support.factories import make_entry, make_user

pytestmark = pytest.mark.django_db

SECRET_NOTE = "SECRET-NOTE-about-the-dentist"


@pytest.fixture(autouse=True)
def _nothing_flagged(settings):
    settings.DIARY_MODERATION = "wordlist"
    settings.DIARY_MODERATION_WORDS = ["forbidden"]
    settings.DIARY_REPORTS_PER_HOUR = 10
    # Many users per test: a fast hasher (the real one is tested in views/test_accounts.py).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def written(user, text: str = "Dear diary, the river was calm.", **fields) -> DiaryEntry:
    """An entry a model wrote, not checked yet (as a finished generation leaves it)."""
    entry = make_entry(user, morning=SECRET_NOTE)
    DiaryEntry.objects.filter(pk=entry.pk).update(
        text=seal(user.pk, text),
        writer="openai",
        model_name="gpt-secret-model",
        status="done",
        **fields,
    )
    entry.refresh_from_db()
    return entry


def shared(user, **fields) -> DiaryEntry:
    return entry_share(user=user, entry=written(user, **fields))


def share_url(entry: DiaryEntry) -> str:
    return reverse("diaries:shared_entry", args=[entry.share_token])


@pytest.fixture
def owner():
    return make_user("aiko")


@pytest.fixture
def reader(client):
    user = make_user("reader")
    client.force_login(user)
    return user


# --- sharing ------------------------------------------------------------------------------------


def test_owner_shares_by_an_unguessable_link(client, owner):
    entry = written(owner)
    client.force_login(owner)

    response = client.post(reverse("diaries:entry_share", args=[entry.pk]))

    assert response.status_code == 302 and response.url == entry.get_absolute_url()
    entry.refresh_from_db()
    assert entry.is_shared and len(entry.share_token) >= 32
    assert re.fullmatch(r"[A-Za-z0-9_-]+", entry.share_token)
    event = ModerationEvent.objects.get()
    assert (event.action, event.actor, event.entry) == (ModerationAction.ENTRY_SHARED, owner, entry)
    page = client.get(entry.get_absolute_url()).text
    assert f"http://testserver{share_url(entry)}" in page
    assert "Stop sharing" in page


def test_two_shares_get_different_tokens(owner):
    assert shared(owner).share_token != shared(owner).share_token


def test_share_needs_post_and_the_owner(client, owner):
    entry = written(owner)
    url = reverse("diaries:entry_share", args=[entry.pk])

    assert client.post(url).status_code == 302  # to the login page
    client.force_login(make_user())
    assert client.post(url).status_code == 404
    client.force_login(owner)
    assert client.get(url).status_code == 405
    entry.refresh_from_db()
    assert not entry.is_shared


def test_a_draft_cannot_be_shared(client, owner):
    entry = make_entry(owner)
    client.force_login(owner)

    response = client.post(reverse("diaries:entry_share", args=[entry.pk]), follow=True)

    assert "There is no text to share yet." in response.text
    entry.refresh_from_db()
    assert not entry.is_shared


def test_the_shared_page_is_public_read_only_noindex_and_private_data_free(client, owner):
    entry = shared(owner, text="Shared <em>text</em>")

    response = client.get(share_url(entry))

    assert response.status_code == 200
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    html = response.text
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert "Shared &lt;em&gt;text&lt;/em&gt;" in html
    assert "A Nikki user" in html
    for private in ("aiko", SECRET_NOTE, "gpt-secret-model", f"/entries/{entry.pk}/"):
        assert private not in html
    article = html.split("<article", 1)[1].split("</article>", 1)[0]
    assert "<form" not in article  # read-only: nothing to post
    assert not [t for t in re.findall(r"<script\b[^>]*>", html) if "src=" not in t]


def test_the_shared_page_names_the_author_by_display_name(client, owner):
    profile = profile_get(user=owner)
    profile.display_name = "Aiko S."
    profile.save()
    entry = shared(owner)

    html = client.get(share_url(entry)).text

    assert "From the diary of Aiko S." in html
    assert "aiko</" not in html


def test_the_owner_revokes_and_the_link_stops_working(client, owner):
    entry = shared(owner)
    url = share_url(entry)
    client.force_login(owner)

    response = client.post(reverse("diaries:entry_unshare", args=[entry.pk]))

    assert response.status_code == 302
    entry.refresh_from_db()
    assert not entry.is_shared and entry.share_token is None
    assert client.get(url).status_code == 404
    assert ModerationEvent.objects.filter(action=ModerationAction.ENTRY_UNSHARED).count() == 1
    again = entry_share(user=owner, entry=entry)
    assert share_url(again) != url and client.get(url).status_code == 404


@pytest.mark.parametrize("token", ["", "x", "nope-" * 10])
def test_unknown_tokens_are_404(client, token):
    assert client.get(f"/s/{token}/").status_code == 404


def test_a_private_entry_with_a_stale_token_is_not_shown(client, owner):
    written(owner, sharing="private", share_token="stale-token-123")

    assert client.get("/s/stale-token-123/").status_code == 404


def test_model_text_not_yet_checked_is_not_published(client, owner):
    entry = written(owner, sharing="link", share_token="direct-token-456")

    assert client.get("/s/direct-token-456/").status_code == 404
    entry_share(user=owner, entry=entry)  # checks it
    assert client.get("/s/direct-token-456/").status_code == 200


def test_the_owners_own_text_needs_no_check(client, owner):
    entry = make_entry(owner)
    entry_update_text(entry=entry, text="Written by me.")

    entry = entry_share(user=owner, entry=entry)

    assert "Written by me." in client.get(share_url(entry)).text


# --- moderation as the owner sees it ------------------------------------------------------------


def test_a_hidden_entrys_link_stops_working_and_the_owner_sees_why(client, owner):
    entry = shared(owner)
    moderator = make_user()
    entry_hide(actor=moderator, entry=entry, reason="Names a private person.")

    assert client.get(share_url(entry)).status_code == 404
    client.force_login(owner)
    page = client.get(entry.get_absolute_url()).text
    assert "A moderator hid this entry" in page
    assert "Names a private person." in page
    response = client.post(reverse("diaries:entry_share", args=[entry.pk]), follow=True)
    assert "A moderator hid this entry, so it cannot be shared." in response.text

    entry_restore(actor=moderator, entry=entry)
    client.logout()
    assert client.get(share_url(entry)).status_code == 200


def test_a_flagged_entry_cannot_be_shared_and_says_so(client, owner):
    entry = written(owner, text="Something forbidden happened.")
    client.force_login(owner)

    response = client.post(reverse("diaries:entry_share", args=[entry.pk]), follow=True)

    entry.refresh_from_db()
    assert entry.moderation_state == ModerationState.FLAGGED and not entry.is_shared
    assert "can be shared once a moderator has reviewed it" in response.text
    page = client.get(entry.get_absolute_url()).text
    assert "The automatic check flagged this entry" in page
    assert "Share by link" not in page


def test_the_entry_page_offers_sharing(client, owner):
    entry = written(owner)
    client.force_login(owner)

    page = client.get(entry.get_absolute_url()).text

    assert f'action="{reverse("diaries:entry_share", args=[entry.pk])}"' in page
    assert "Share by link" in page


# --- reports ------------------------------------------------------------------------------------


def report_url(entry: DiaryEntry) -> str:
    return reverse("diaries:entry_report", args=[entry.share_token])


def test_reporting_needs_a_signed_in_person(client, owner):
    entry = shared(owner)

    response = client.get(report_url(entry))

    assert response.status_code == 302 and response.url.startswith("/accounts/login/")
    assert "Report this entry" in client.get(share_url(entry)).text


def test_a_reader_reports_with_a_reason(client, owner, reader):
    entry = shared(owner)

    form = client.get(report_url(entry))
    response = client.post(
        report_url(entry), {"reason": "harassment", "details": "It mocks my neighbour."}
    )

    assert form.status_code == 200 and 'value="harassment"' in form.text
    assert 'value=""' not in form.text.split('name="reason"', 1)[1].split("</div>")[0]
    assert response.status_code == 302 and response.url == share_url(entry)
    report = Report.objects.get()
    assert (report.entry, report.reporter, report.reason) == (entry, reader, "harassment")
    assert report.details == "It mocks my neighbour." and report.status == ReportStatus.OPEN
    event = ModerationEvent.objects.get(action=ModerationAction.REPORT_FILED)
    assert (event.actor, event.report, event.entry) == (reader, report, entry)


def test_one_open_report_per_person_and_entry(client, owner, reader):
    entry = shared(owner)
    client.post(report_url(entry), {"reason": "spam"})

    response = client.post(report_url(entry), {"reason": "hate"}, follow=True)

    assert "already reported" in response.text
    assert Report.objects.count() == 1
    report_resolve(actor=make_user(), report=Report.objects.get())
    client.post(report_url(entry), {"reason": "hate"})
    assert Report.objects.count() == 2  # a closed report does not count


def test_reports_are_rate_limited_per_person(client, settings, owner, reader):
    settings.DIARY_REPORTS_PER_HOUR = 2
    entries = [shared(owner) for _ in range(3)]

    first = client.post(report_url(entries[0]), {"reason": "spam"})
    second = client.post(report_url(entries[1]), {"reason": "spam"})
    third = client.post(report_url(entries[2]), {"reason": "spam"})

    assert (first.status_code, second.status_code, third.status_code) == (302, 302, 429)
    assert "many reports" in third.text
    assert Report.objects.count() == 2
    client.force_login(make_user())  # another person is not limited by this one
    assert client.post(report_url(entries[2]), {"reason": "spam"}).status_code == 302


def test_a_report_needs_a_valid_reason(client, owner, reader):
    entry = shared(owner)

    response = client.post(report_url(entry), {"reason": "i-dislike-it"})

    assert response.status_code == 200
    assert not Report.objects.exists()


def test_the_owner_cannot_report_their_own_entry(client, owner):
    entry = shared(owner)
    client.force_login(owner)

    client.post(report_url(entry), {"reason": "spam"})

    assert not Report.objects.exists()
    assert "You shared this entry" in client.get(share_url(entry)).text


def test_an_unshared_or_hidden_entry_cannot_be_reported(client, owner, reader):
    entry = shared(owner)
    url = report_url(entry)
    entry_hide(actor=make_user(), entry=entry, reason="spam")

    assert client.get(url).status_code == 404
    assert client.post(url, {"reason": "spam"}).status_code == 404
    with pytest.raises(NotFound):
        entry_report(user=reader, entry=entry, reason="spam")


def test_the_report_page_is_noindex_and_shows_only_the_text(client, owner, reader):
    entry = shared(owner)

    response = client.get(report_url(entry))

    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert SECRET_NOTE not in response.text and "aiko" not in response.text


def test_checked_digest_is_the_shared_text(owner):
    entry = shared(owner)

    assert entry.moderation_checked_digest == text_digest(entry.text)
