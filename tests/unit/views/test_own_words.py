"""The person's own words come first: writing by hand, the entry page while it is rewritten,
the notes refused on their fields, and the new-entry page once it has an entry."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from diaries.models import DiaryEntry, Generation, GenerationStatus
from diaries.services.entries import entry_update_text, entry_write_by_hand
from tests.support.factories import make_entry

pytestmark = pytest.mark.django_db


def own_post(**fields) -> dict[str, str]:
    return {
        "form": "own",
        "date": "2026-11-03",
        "text": "I walked to the sea and back. Nobody asked me to.",
        "tone": "plain",
        "language": "en",
        **fields,
    }


def test_the_new_entry_page_offers_writing_it_yourself(signed_in):
    page = signed_in.get("/entries/new/").text
    assert 'href="/entries/new/?mode=own"' in page and "Write it myself" in page

    editor = signed_in.get("/entries/new/?mode=own").text
    assert 'name="text"' in editor and 'value="own"' in editor
    assert 'name="morning"' not in editor  # a plain editor: no notes, no model


def test_writing_it_yourself_saves_the_words_as_the_entry_with_no_model(signed_in, user):
    response = signed_in.post("/entries/new/", own_post())

    entry = DiaryEntry.objects.get(owner=user)
    assert response.status_code == 302 and response.url == entry.get_absolute_url()
    assert entry.text == "I walked to the sea and back. Nobody asked me to."
    assert (entry.writer, entry.status, entry.date) == ("owner", "edited", dt.date(2026, 11, 3))
    assert not entry.generations.exists()
    # The first of its versions, so a later rewrite can be undone.
    assert list(entry.edits.values_list("text", "previous_text")) == [(entry.text, "")]
    page = signed_in.get(response.url).text
    assert "Nobody asked me to." in page and "Edited by you" in page
    assert 'data-own-text="true"' in page


def test_writing_it_yourself_with_no_words_marks_the_text_field(signed_in, user):
    response = signed_in.post("/entries/new/", own_post(text="   "))

    assert response.status_code == 200 and not DiaryEntry.objects.filter(owner=user).exists()
    assert re.search(r'<textarea[^>]*name="text"[^>]*aria-invalid="true"', response.text)
    assert "Write your entry here first." in response.text


def test_the_notes_form_with_every_note_empty_marks_the_first_note(signed_in):
    empty = {"date": "2026-11-03", "tone": "plain", "language": "en"}
    response = signed_in.post("/entries/new/", {**empty, "morning": " ", "evening": ""})

    assert response.status_code == 200
    assert re.search(r'<textarea[^>]*name="morning"[^>]*aria-invalid="true"', response.text)
    assert 'class="form-errors"' not in response.text


def test_the_page_asks_before_replacing_the_owners_words(signed_in, user):
    edited = make_entry(user)
    entry_update_text(entry=edited, text="Mine.")
    page = signed_in.get(edited.get_absolute_url()).text
    assert 'data-own-text="true"' in page and 'data-role="confirm-replace"' in page
    assert "Replace my text" in page

    written = make_entry(user)
    written.text, written.writer, written.status = "The model's.", "offline", "done"
    written.save()
    assert 'data-own-text="false"' in signed_in.get(written.get_absolute_url()).text


def test_an_edited_entry_being_rewritten_names_the_writer_at_work(signed_in, user):
    entry = entry_write_by_hand(
        user=user, text="My own words.", date=timezone.localdate(), tone="plain", language="en"
    )
    Generation.objects.create(
        entry=entry,
        status=GenerationStatus.GENERATING,
        writer="offline",
        model_name="nikki-offline-1",
        tone="plain",
        language="en",
    )
    DiaryEntry.objects.filter(pk=entry.pk).update(status="generating")

    page = signed_in.get(entry.get_absolute_url()).text

    line = re.search(r'data-role="writer-line"[^>]*>(.*?)</span>', page, re.S).group(1)
    assert "Offline writer" in line and "Edited by you" not in line
    # What the line goes back to if this attempt fails: the words still shown.
    saved = re.search(r'data-role="writer-saved"[^>]*>(.*?)</span>', page, re.S).group(1)
    assert "Edited by you" in saved


def test_the_new_entry_page_holds_what_it_needs_to_become_the_entrys_page(signed_in):
    page = signed_in.get("/entries/new/").text
    assert 'data-role="heading"' in page and 'data-role="notes-summary"' in page
    assert 'data-entry-path="edit/"' in page and 'data-entry-path="history/"' in page
