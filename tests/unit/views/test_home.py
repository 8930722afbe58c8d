"""The home page (issue 17): each entry listed once (today's under Today, the others under
Recent); an entry being written shows its text so far, kept live by a script."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from diaries.models import Generation
from diaries.services.generations import generation_start, generations_checkpoint
from keystore.fields import seal
from tests.support.factories import make_entry

pytestmark = pytest.mark.django_db


def test_each_entry_is_listed_once(signed_in, user):
    today = make_entry(user, morning="today's walk")
    earlier = make_entry(user, date=timezone.localdate() - dt.timedelta(days=1))

    html = signed_in.get("/").text

    assert html.count(f'href="/entries/{today.pk}/"') == 1
    assert html.count(f'href="/entries/{earlier.pk}/"') == 1
    recent = html[html.index('<section class="recent">') :]
    assert f'href="/entries/{earlier.pk}/"' in recent and "today's walk" not in recent


def test_only_todays_entries_say_there_is_nothing_earlier(signed_in, user):
    make_entry(user)

    html = signed_in.get("/").text

    assert "No earlier entries." in html
    assert "Your diary is empty" not in html


def test_an_entry_being_written_shows_its_text_so_far_to_be_kept_live(signed_in, user):
    entry = make_entry(user, morning="NOTES-NOT-THE-TEXT")
    started = generation_start(user=user, entry=entry, writer_name="w", model_name="m")
    so_far = seal(user.pk, "Dear diary, so far")
    generations_checkpoint(texts={started.generation.pk: (so_far, 3)}, alive=[])

    html = signed_in.get("/").text

    assert "Dear diary, so far" in html
    assert "NOTES-NOT-THE-TEXT" not in html
    assert f'data-live-entry="{entry.pk}"' in html
    assert 'src="/static/diaries/live_list.js"' in html
    assert 'id="entry-status-labels"' in html and '"done": "Done"' in html
    assert Generation.objects.get(pk=started.generation.pk).status == "generating"


def test_a_finished_entry_is_not_watched(signed_in, user):
    make_entry(user, morning="just notes")

    html = signed_in.get("/").text

    assert "data-live-entry" not in html
