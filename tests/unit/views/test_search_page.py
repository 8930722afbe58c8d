"""The search page (issue 17): two words in any order, each match marked in an excerpt of the
text or of the notes (the diary's words escaped), and a date range."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from tests.support.factories import written

pytestmark = pytest.mark.django_db


def found_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'class="entry-link" href="/entries/(\d+)/"', html)]


@pytest.mark.parametrize(
    ("query", "language"),
    [("Ramen miso", "en"), ("miso RAMEN", "en"), ("ラーメン 味噌", "ja"), ("味噌　ラーメン", "ja")],
)
def test_two_words_find_the_entry_having_both_in_any_order(signed_in, user, query, language):
    found = {
        "en": written(user, "Miso ramen after the rain.", morning=""),
        "ja": written(user, "雨のあと、ラーメンを食べた。", language="ja", notes="味噌"),
    }
    written(user, "Ramen only. ラーメンだけ。")
    written(user, "味噌汁だけ。", language="ja")

    assert found_ids(signed_in.get("/search/", {"q": query}).text) == [found[language].pk]


def test_the_excerpt_marks_each_match_and_escapes_the_diary(signed_in, user):
    written(user, "<b>Miso</b> & ramen at Ken's.", morning="")

    html = signed_in.get("/search/", {"q": "ramen miso"}).text

    assert "&lt;b&gt;<mark>Miso</mark>&lt;/b&gt; &amp; <mark>ramen</mark> at Ken&#x27;s." in html
    assert "<b>Miso" not in html


def test_a_match_in_the_notes_is_shown_and_marked_with_where_it_is(signed_in, user):
    written(user, "A quiet day.", morning="", evening="miso <i>ramen</i> with Aiko")

    html = signed_in.get("/search/", {"q": "ramen"}).text

    assert "In your notes (evening):" in html
    assert "miso &lt;i&gt;<mark>ramen</mark>&lt;/i&gt; with Aiko" in html


def test_search_within_a_date_range(signed_in, user):
    days = [dt.date(2026, 3, day) for day in (1, 10, 20)]
    first, middle, last = (written(user, "Ramen day.", date=day) for day in days)

    html = signed_in.get(
        "/search/", {"q": "ramen", "date_from": "2026-03-05", "date_to": "2026-03-20"}
    ).text

    assert found_ids(html) == [last.pk, middle.pk]
    assert 'value="2026-03-05"' in html and 'type="date"' in html
    assert found_ids(signed_in.get("/search/", {"q": "ramen", "date_to": "2026-03-01"}).text) == [
        first.pk
    ]
    # No words: the entries of those dates.
    assert found_ids(signed_in.get("/search/", {"date_from": "2026-03-15"}).text) == [last.pk]


def test_the_pages_of_a_dated_search_keep_the_dates(signed_in, user):
    for day in range(22):
        written(user, f"Rainy day {day}.", date=dt.date(2026, 3, 1) + dt.timedelta(days=day))

    html = signed_in.get("/search/", {"q": "rainy", "date_from": "2026-03-01"}).text

    assert 'href="?q=rainy&amp;date_from=2026-03-01&amp;page=2"' in html
