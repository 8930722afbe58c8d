"""What the owner's entry page says of its share link, only what is true (issue 17); a link that
does not work gets a friendly page, still a 404; the link has a Copy button."""

from __future__ import annotations

import pytest
from django.urls import reverse

from diaries.models import DiaryEntry
from diaries.services.entries import entry_update_text
from diaries.services.moderation import entry_hide
from diaries.services.sharing import entry_share, entry_unshare
from tests.support.factories import make_entry, make_user

pytestmark = pytest.mark.django_db

WORKS = "Anyone with this link can read the entry"
DOES_NOT_WORK = "does not work"


@pytest.fixture(autouse=True)
def _word_list(settings):
    settings.DIARY_MODERATION = "wordlist"
    settings.DIARY_MODERATION_WORDS = ["forbidden"]


def shared(user) -> DiaryEntry:
    entry = make_entry(user)
    entry_update_text(entry=entry, text="Written by me.")
    return entry_share(user=user, entry=entry)


def test_a_shared_entry_says_its_link_works_and_offers_to_copy_it(signed_in, user):
    entry = shared(user)

    html = signed_in.get(entry.get_absolute_url()).text

    assert WORKS in html and DOES_NOT_WORK not in html
    assert f'value="http://testserver/s/{entry.share_token}/"' in html
    # Shown by the script; without it the link is still there to select and copy.
    assert 'data-copy="share-link"' in html and ">Copy link</button>" in html
    assert 'src="/static/diaries/share.js"' in html


def test_a_hidden_entry_says_only_that_its_link_does_not_work(signed_in, user):
    entry = shared(user)
    entry_hide(actor=make_user(), entry=entry, reason="Names a private person.")

    html = signed_in.get(entry.get_absolute_url()).text

    assert "Its share link does not work." in html
    assert WORKS not in html


def test_an_entry_whose_new_text_is_not_checked_yet_does_not_claim_its_link_works(signed_in, user):
    entry = shared(user)
    DiaryEntry.objects.filter(pk=entry.pk).update(writer="openai")  # model text, unchecked

    html = signed_in.get(entry.get_absolute_url()).text

    assert WORKS not in html
    assert "the link shows it once the check has passed" in html


@pytest.mark.parametrize("how", ["unshared", "never"])
def test_a_link_that_does_not_work_gets_a_friendly_404(client, user, how):
    token = "no-such-token"
    if how == "unshared":
        entry = shared(user)
        token = entry.share_token
        entry_unshare(user=user, entry=entry)

    response = client.get(reverse("diaries:shared_entry", args=[token]))

    assert response.status_code == 404
    assert "This link does not work" in response.text
    assert "ask them for a new one" in response.text
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert "Written by me." not in response.text
