"""The versions page: word changes, exactly one current text, restoring says what it replaced."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages

from diaries.services.entries import entry_update_text
from tests.support.factories import generation_finished, make_entry

pytestmark = pytest.mark.django_db


def version_items(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-version="([a-z]+-\d+)">(.*?)</li>', html, re.S))


def test_two_generations_with_the_same_text_have_one_current_and_the_older_can_be_restored(
    signed_in, user
):
    entry = make_entry(user)
    older = generation_finished(entry, "The same words.")
    newer = generation_finished(entry, "The same words.")

    html = signed_in.get(f"/entries/{entry.pk}/history/").text

    assert html.count("Current text") == 1
    items = version_items(html)
    assert "Current text" in items[f"generation-{newer.pk}"]
    assert "Current text" not in items[f"generation-{older.pk}"]
    assert f"/history/generation/{older.pk}/restore/" in items[f"generation-{older.pk}"]


def test_each_version_shows_its_word_changes_to_the_current_text_escaped(signed_in, user):
    entry = make_entry(user)
    first = generation_finished(entry, "The cat sat on the <b>mat</b>.")
    entry_update_text(entry=entry, text="The dog sat on the <b>mat</b>.")

    items = version_items(signed_in.get(f"/entries/{entry.pk}/history/").text)

    diff = items[f"generation-{first.pk}"]
    assert "The <del>cat</del><ins>dog</ins> sat" in diff
    assert "&lt;b&gt;mat&lt;/b&gt;" in diff and "<b>mat</b>" not in diff
    current = next(value for value in items.values() if "Current text" in value)
    assert "<ins>" not in current  # no changes to show against itself


def test_any_two_versions_can_be_compared_word_by_word(signed_in, user):
    entry = make_entry(user)
    first = generation_finished(entry, "Rain all morning, then sun.")
    second = generation_finished(entry, "Snow all morning, then sun.")
    entry_update_text(entry=entry, text="Something else entirely.")

    html = signed_in.get(
        f"/entries/{entry.pk}/history/",
        {"a": f"generation-{first.pk}", "b": f"generation-{second.pk}"},
    ).text

    compared = re.search(r'data-role="compared".*?</section>', html, re.S).group(0)
    assert "<del>Rain</del><ins>Snow</ins> all morning, then sun." in compared


def test_restoring_says_which_text_it_replaced(signed_in, user):
    entry = make_entry(user)
    generation = generation_finished(entry, "The model's version.")
    entry_update_text(entry=entry, text="My version, with a detail I care about.")

    response = signed_in.post(f"/entries/{entry.pk}/history/generation/{generation.pk}/restore/")

    assert response.status_code == 302
    [message] = [str(m) for m in get_messages(response.wsgi_request)]
    assert "It replaced your text of" in message
    assert "“My version, with a detail I care about.”" in message
    entry.refresh_from_db()
    assert entry.text == "The model's version."


def test_the_compare_form_offers_the_previous_version_against_the_current(signed_in, user):
    entry = make_entry(user)
    first = generation_finished(entry, "First words.")
    second = generation_finished(entry, "Second words.")

    html = signed_in.get(f"/entries/{entry.pk}/history/").text

    a = re.search(r'<select id="compare-a".*?</select>', html, re.S).group(0)
    b = re.search(r'<select id="compare-b".*?</select>', html, re.S).group(0)
    assert f'value="generation-{first.pk}" selected' in a
    assert f'value="generation-{second.pk}" selected' in b
