"""The trash's pages (issue 17): delete moves an entry there; the trash lists it, restores it,
empties itself after a confirmation; meanwhile no page of the diary shows the entry, and the
admin shows it with its state."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from diaries.models import DiaryEntry, Sharing
from diaries.services import trash
from tests.support.admin import make_superuser, signed_in, written
from tests.support.factories import make_entry
from tests.support.responses import body

pytestmark = pytest.mark.django_db


def trashed(user, **fields) -> DiaryEntry:
    entry = make_entry(user, **fields)
    trash.entry_trash(user=user, entry=entry)
    return entry


def test_the_nav_links_to_the_trash(signed_in):
    assert 'href="/trash/"' in signed_in.get("/").text


def test_the_trash_lists_ones_own_deleted_entries_with_when_they_go(signed_in, user, other_user):
    mine = trashed(user, morning="a trashed walk")
    trashed(other_user, morning="someone else's")
    make_entry(user, morning="still here")

    response = signed_in.get("/trash/")

    html = response.text
    assert response.status_code == 200
    assert "a trashed walk" in html
    assert "someone else" not in html and "still here" not in html
    assert f'action="/trash/{mine.pk}/restore/"' in html
    assert "Deleted for good on" in html
    assert 'href="/trash/empty/"' in html


def test_restoring_brings_the_entry_back_to_its_page(signed_in, user):
    entry = trashed(user, morning="back again")
    assert signed_in.get(entry.get_absolute_url()).status_code == 404

    response = signed_in.post(f"/trash/{entry.pk}/restore/")

    assert response.status_code == 302 and response.url == entry.get_absolute_url()
    assert signed_in.get(entry.get_absolute_url()).status_code == 200
    assert "back again" in signed_in.get("/").text


def test_no_one_restores_anothers_entry(signed_in, other_user):
    entry = trashed(other_user)

    signed_in.post(f"/trash/{entry.pk}/restore/")

    assert DiaryEntry.objects.get(pk=entry.pk).trashed_at is not None


def test_empty_trash_asks_first_then_deletes_for_good(signed_in, user):
    entry = trashed(user)

    confirm = signed_in.get("/trash/empty/")
    assert confirm.status_code == 200
    assert '<form method="post" action="/trash/empty/"' in confirm.text
    assert DiaryEntry.objects.filter(pk=entry.pk).exists()

    response = signed_in.post("/trash/empty/", follow=True)

    assert not DiaryEntry.objects.filter(pk=entry.pk).exists()
    assert "1 entry is deleted for good." in response.text
    assert "The trash is empty." in response.text


def test_one_entry_of_the_trash_is_deleted_for_good_after_a_confirmation(signed_in, user):
    gone, kept = trashed(user, morning="a walk to forget"), trashed(user, morning="a walk to keep")
    assert f'href="/trash/{gone.pk}/delete/"' in signed_in.get("/trash/").text

    confirm = signed_in.get(f"/trash/{gone.pk}/delete/")
    assert confirm.status_code == 200
    assert f'<form method="post" action="/trash/{gone.pk}/delete/"' in confirm.text
    assert "cannot be undone" in confirm.text
    assert DiaryEntry.objects.filter(pk=gone.pk).exists()

    response = signed_in.post(f"/trash/{gone.pk}/delete/", follow=True)

    assert "The entry is deleted for good." in response.text
    assert list(DiaryEntry.objects.values_list("pk", flat=True)) == [kept.pk]
    assert "a walk to keep" in response.text and "a walk to forget" not in response.text


@pytest.mark.parametrize("whose", ["another's", "not in the trash"])
def test_no_one_deletes_for_good_an_entry_that_is_not_in_their_trash(
    signed_in, user, other_user, whose
):
    entry = trashed(other_user) if whose == "another's" else make_entry(user)

    assert signed_in.get(f"/trash/{entry.pk}/delete/").status_code == 404
    response = signed_in.post(f"/trash/{entry.pk}/delete/", follow=True)

    assert "This entry is not in your trash." in response.text
    assert DiaryEntry.objects.filter(pk=entry.pk).exists()


def test_the_delete_page_says_the_entry_goes_to_the_trash(signed_in, user):
    entry = make_entry(user)

    html = signed_in.get(f"/entries/{entry.pk}/delete/").text

    assert "goes to the trash" in html and "30 days" in html


def test_a_trashed_entry_is_on_no_page_of_the_diary(signed_in, client, user):
    entry = written(user, "Ramen by the sea.")
    entry.sharing, entry.share_token = Sharing.LINK, "tok-gone"
    entry.save()
    trash.entry_trash(user=user, entry=entry)
    day = entry.date

    pages = [
        "/",
        f"/calendar/{day.year}/{day.month}/",
        "/search/?q=ramen",
        "/export/markdown/",
        "/export/json/",
    ]
    for url in pages:
        response = signed_in.get(url)
        assert response.status_code == 200, url
        text = body(response).decode()
        assert "Ramen by the sea" not in text, url
        assert f"/entries/{entry.pk}/" not in text, url
    assert client.get("/s/tok-gone/").status_code == 404
    for suffix in ("", "edit/", "history/", "delete/"):
        assert signed_in.get(f"/entries/{entry.pk}/{suffix}").status_code == 404


def test_the_admin_shows_a_trashed_entry_and_filters_by_it(user):
    entry = written(user, "A day.")
    kept = written(user, "Another day.")
    trash.entry_trash(user=user, entry=entry)
    root = signed_in(make_superuser())
    changelist = reverse("admin:diaries_diaryentry_changelist")

    listed = root.get(f"{changelist}?trash=in").text
    assert set(map(int, re.findall(r"/admin/diaries/diaryentry/(\d+)/change/", listed))) == {
        entry.pk
    }
    assert ">In the trash<" in root.get(changelist).text
    page = root.get(reverse("admin:diaries_diaryentry_change", args=[entry.pk])).text
    assert "In the trash since" in page
    assert kept.pk != entry.pk


def test_deleting_the_account_counts_the_entries_in_the_trash_too(signed_in, user):
    make_entry(user)
    trashed(user)

    html = signed_in.get("/accounts/delete/").text

    assert "and all its 2 entries" in html
