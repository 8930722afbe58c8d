"""The calendar's days open what they hold (issue 17): one entry opens it, several a list of
them, none a new entry of that date."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from tests.support.factories import make_entry

pytestmark = pytest.mark.django_db


def day_link(html: str, day: dt.date) -> str:
    """The address the calendar's cell of `day` links to."""
    found = re.search(
        rf'<a class="day-link" href="([^"]*)"><time class="day-number" datetime="{day:%Y-%m-%d}"',
        html,
    )
    assert found, f"no link on {day}"
    return found.group(1).replace("&amp;", "&")


def test_a_day_links_to_its_entry_its_list_or_a_new_entry(signed_in, user, other_user):
    one = make_entry(user, date=dt.date(2026, 11, 3))
    make_entry(user, date=dt.date(2026, 11, 4))
    make_entry(user, date=dt.date(2026, 11, 4))
    make_entry(other_user, date=dt.date(2026, 11, 5))

    html = signed_in.get("/calendar/2026/11/").text

    assert day_link(html, dt.date(2026, 11, 3)) == f"/entries/{one.pk}/"
    assert day_link(html, dt.date(2026, 11, 4)) == (
        "/search/?date_from=2026-11-04&date_to=2026-11-04"
    )
    assert day_link(html, dt.date(2026, 11, 5)) == "/entries/new/?date=2026-11-05"
    assert "Nov. 4, 2026: its 2 entries" in html  # what a screen reader says


def test_a_days_list_shows_its_entries_only(signed_in, user):
    both = [make_entry(user, date=dt.date(2026, 11, 4), morning=w) for w in ("tea", "coffee")]
    make_entry(user, date=dt.date(2026, 11, 5), morning="juice")

    html = signed_in.get(day_link(signed_in.get("/calendar/2026/11/").text, both[0].date)).text

    assert "2 entries in these dates" in html
    assert {int(pk) for pk in re.findall(r'class="entry-link" href="/entries/(\d+)/"', html)} == {
        entry.pk for entry in both
    }


def test_the_new_entry_page_takes_the_days_date(signed_in):
    html = signed_in.get("/entries/new/?date=2026-11-05").text

    assert re.search(r'<input type="date" name="date" value="2026-11-05"', html)


@pytest.mark.parametrize("value", ["2026-02-30", "tomorrow", ""])
def test_a_date_that_is_no_day_gives_today(signed_in, value):
    html = signed_in.get("/entries/new/", {"date": value}).text

    today = timezone.localdate().isoformat()
    assert re.search(rf'<input type="date" name="date" value="{today}"', html)
