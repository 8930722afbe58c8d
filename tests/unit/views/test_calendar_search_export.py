"""The diary around the entries: a month calendar, the paginated list, search, version history
and restoring, exports."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from diaries import search
from diaries.models import (
    DiaryEntry,
    EntryEdit,
    EntryStatus,
    Generation,
    GenerationStatus,
)
from diaries.services.entries import entry_update_text
from tests.support.factories import make_user, written
from tests.support.responses import body as streamed

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/calendar/",
        "/calendar/2026/11/",
        "/search/?q=x",
        "/entries/1/history/",
        "/export/markdown/",
        "/export/json/",
        "/settings/",
        "/accounts/delete/",
    ],
)
def test_anonymous_visitors_are_sent_to_login(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/?next=")


# --- calendar -----------------------------------------------------------------------------------


def test_calendar_shows_the_months_entries_with_links_and_tones(signed_in, user, other_user):
    mine = written(user, "A warm day.", date=dt.date(2026, 11, 3), tone="warm")
    written(user, "Another.", date=dt.date(2026, 11, 3), tone="poetic")
    written(user, "Last month.", date=dt.date(2026, 10, 31))
    written(other_user, "Not mine.", date=dt.date(2026, 11, 4))

    response = signed_in.get("/calendar/2026/11/")

    assert response.status_code == 200
    html = response.text
    assert '<h1 id="calendar-heading">November 2026</h1>' in html
    grid = html[html.index('<table class="calendar"') : html.index("</table>")]
    assert f'href="/entries/{mine.pk}/"' in grid
    # Two entries on the 3rd; none from October or others.
    assert len(re.findall(r'href="/entries/\d+/"', grid)) == 2
    assert 'class="tone tone-warm" title="Warm"' in grid
    assert "Entry of Nov. 3, 2026" in grid  # the link's text for screen readers
    assert 'href="/calendar/2026/10/"' in html and 'href="/calendar/2026/12/"' in html
    assert "2 entries in November" in html
    assert "Not mine." not in html and "Last month." not in html


def test_calendar_marks_today_and_starts_weeks_on_the_locales_first_day(signed_in):
    today = timezone.localdate()

    html = signed_in.get("/calendar/").text

    assert re.search(r'<td class="day today[^"]*" aria-current="date">', html)
    assert f'datetime="{today:%Y-%m-%d}"' in html
    headers = re.findall(r'<th scope="col"><abbr title="(\w+)">', html)
    assert headers == [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ]


def test_calendar_wraps_around_the_year(signed_in):
    html = signed_in.get("/calendar/2027/1/").text

    assert 'href="/calendar/2026/12/"' in html
    assert 'href="/calendar/2027/2/"' in html


@pytest.mark.parametrize(
    "url",
    [
        "/calendar/2026/13/",
        "/calendar/2026/0/",
        "/calendar/0/5/",
        # The grid of the first and last months would run past the dates Python can hold.
        "/calendar/9999/12/",
        "/calendar/1/1/",
        "/calendar/10000/1/",
        "/calendar/99999999999999999999/1/",
    ],
)
def test_calendar_of_an_impossible_month_is_not_found(signed_in, url):
    assert signed_in.get(url).status_code == 404


# --- the list -----------------------------------------------------------------------------------


def test_home_lists_entries_twenty_a_page(signed_in, user):
    start = dt.date(2026, 1, 1)
    for day in range(25):
        written(user, f"Entry number {day:02d}.", date=start + dt.timedelta(days=day))

    first = signed_in.get("/").text
    second = signed_in.get("/?page=2").text

    recent = first[first.index("Recent entries") :]
    assert recent.count('class="entry-item"') == 20
    assert "Entry number 24." in recent and "Entry number 04." not in recent
    assert "Page 1 of 2" in first and 'href="?page=2"' in first
    assert second[second.index("Recent entries") :].count('class="entry-item"') == 5
    assert "Entry number 00." in second
    assert signed_in.get("/?page=99").status_code == 200  # out of range: the last page


# --- search -------------------------------------------------------------------------------------


def test_search_finds_own_entries_by_text_and_notes_only(signed_in, user, other_user):
    by_text = written(user, "We watched the fireworks by the river.")
    by_notes = written(user, "A quiet evening.", evening="Fireworks from the balcony")
    written(user, "Nothing to see.")
    written(other_user, "Fireworks at the stranger's house.")

    response = signed_in.get("/search/", {"q": "fireworks"})

    assert response.status_code == 200
    html = response.text
    assert "2 entries match “fireworks”" in html
    assert f'href="/entries/{by_text.pk}/"' in html
    assert f'href="/entries/{by_notes.pk}/"' in html
    assert "Nothing to see." not in html
    assert "stranger" not in html


def test_search_matches_japanese_inside_words(signed_in, user):
    entry = written(user, "今朝は川沿いを走った。", language="ja", morning="川沿いを走った")

    html = signed_in.get("/search/", {"q": "川沿い"}).text

    assert f'href="/entries/{entry.pk}/"' in html


def test_search_treats_wildcards_as_plain_characters(signed_in, user):
    written(user, "Plain text only.")
    percent = written(user, "We got 100% done.")

    html = signed_in.get("/search/", {"q": "%"}).text

    assert "1 entry matches" in html
    assert f'href="/entries/{percent.pk}/"' in html


def test_search_without_a_query_shows_only_the_form(signed_in, user):
    written(user, "Something.")

    html = signed_in.get("/search/").text

    assert 'role="search"' in html
    assert 'for="id_q"' in html
    assert "match" not in html


def test_search_pages_keep_the_query(signed_in, user):
    for day in range(22):
        written(user, f"Rainy day {day}.", date=dt.date(2026, 3, 1) + dt.timedelta(days=day))

    html = signed_in.get("/search/", {"q": "rainy"}).text

    assert "22 entries match" in html
    assert 'href="?q=rainy&amp;page=2"' in html


def test_search_stems_english_words(signed_in, user):
    walked = written(user, "I walked along the canal.")
    walks = written(user, "A quiet day.", notes="She walks the dog at six.")
    written(user, "A walkie-talkie in the attic.")

    html = signed_in.get("/search/", {"q": "walking"}).text

    assert "2 entries match" in html
    assert f'href="/entries/{walked.pk}/"' in html and f'href="/entries/{walks.pk}/"' in html


def test_search_folds_width_and_case_in_japanese_and_english(signed_in, user):
    tennis = written(user, "ﾃﾆｽの練習をした。", language="ja")  # half-width katakana
    abc = written(user, "ＡＢＣ ＣＯＦＦＥＥで朝ごはん。", language="ja")  # noqa: RUF001 (full-width)

    assert f'href="/entries/{tennis.pk}/"' in signed_in.get("/search/", {"q": "テニス"}).text
    assert f'href="/entries/{abc.pk}/"' in signed_in.get("/search/", {"q": "abc coffee"}).text


def test_search_ranks_more_matches_first_then_the_newest(signed_in, user):
    once_old = written(user, "Tea in the garden.", date=dt.date(2026, 1, 1))
    twice = written(user, "Tea, then more tea.", date=dt.date(2026, 1, 2), notes="tea with Aiko")
    once_new = written(user, "Tea at noon.", date=dt.date(2026, 1, 3))

    html = signed_in.get("/search/", {"q": "tea"}).text

    order = [int(pk) for pk in re.findall(r'class="entry-link" href="/entries/(\d+)/"', html)]
    assert order == [twice.pk, once_new.pk, once_old.pk]


@pytest.mark.parametrize("cache_seconds", [300, 0])
def test_search_sees_an_edit_at_once(signed_in, user, settings, cache_seconds):
    settings.DIARY_SEARCH_CACHE_SECONDS = cache_seconds
    entry = written(user, "A day of rain.")
    assert f'href="/entries/{entry.pk}/"' in signed_in.get("/search/", {"q": "rain"}).text

    entry_update_text(entry=entry, text="A day of sunshine.")

    assert "0 entries match" in signed_in.get("/search/", {"q": "rain"}).text
    assert f'href="/entries/{entry.pk}/"' in signed_in.get("/search/", {"q": "sunshine"}).text


def test_after_an_edit_a_search_reads_only_the_entries_written_since(signed_in, user, settings):
    settings.DIARY_SEARCH_CACHE_SECONDS = 300
    for day in range(5):
        written(user, f"Kites {day}.", date=dt.date(2026, 3, 1) + dt.timedelta(days=day))
    # March written yesterday, well before the margin a refresh reads again.
    DiaryEntry.objects.filter(owner=user).update(updated_at=timezone.now() - dt.timedelta(days=1))
    edited = written(user, "A day of kites.", date=dt.date(2026, 4, 9))
    assert "6 entries match" in signed_in.get("/search/", {"q": "kites"}).text

    entry_update_text(entry=edited, text="A day of lanterns.")
    with CaptureQueriesContext(connection) as queries:
        html = signed_in.get("/search/", {"q": "lanterns"}).text

    assert "1 entry matches" in html or "1 entries match" in html
    # Every statement that reads the words is narrowed, never the whole diary: the text of the
    # search blocks of the months of the entries written since the diary was kept (month), the
    # edited month's entries to rebuild its block (date), the page's own entries (id IN).
    text_column = connection.ops.quote_name("text")
    reads = [
        q["sql"]
        for q in queries.captured_queries
        # (PostgreSQL reads with a cursor: DECLARE … SELECT)
        if not q["sql"].startswith("INSERT") and text_column in q["sql"].partition(" FROM ")[0]
    ]
    quote = connection.ops.quote_name

    def narrowed_by(sql: str) -> list[str]:
        select, _from, rest = sql.partition(" FROM ")
        where = rest.partition(" WHERE ")[2]
        return [
            column
            for column, part, test in (
                ("month", select, f"CASE WHEN ({quote('month')} >= "),  # the blocks' text
                ("date", where, f"{quote('date')} >= "),
                ("id", where, f"{quote('id')} IN ("),
            )
            if test.replace("(", "") in part.replace("(", "").replace('"diaries_searchblock".', "")
        ]

    assert [narrowed_by(sql) for sql in reads] == [["month"], ["date"], ["id"]], reads
    assert "2026-04-01" in reads[0] and "2026-03-01" not in reads[0]  # April's text only


def test_no_sql_a_search_sends_reads_or_filters_on_the_words(signed_in, user):
    for day in range(25):
        written(user, f"Fireworks {day}.", date=dt.date(2026, 3, 1) + dt.timedelta(days=day))

    with CaptureQueriesContext(connection) as queries:
        html = signed_in.get("/search/", {"q": "fireworks", "page": 2}).text

    assert "25 entries match" in html and "Page 2 of 2" in html
    quoted = [connection.ops.quote_name(name) for name in search.FIELDS]
    for query in queries.captured_queries:
        sql = query["sql"]
        assert "fireworks" not in sql.lower(), sql
        after_select = sql.partition(" FROM ")[2]  # WHERE, ORDER BY: never on the words
        assert not any(column in after_select for column in quoted), sql


# --- version history ----------------------------------------------------------------------------


def test_history_lists_every_generation_and_edit_with_restore_buttons(signed_in, user):
    entry = written(user, "The model's version.")
    entry_update_text(entry=entry, text="My version.")

    response = signed_in.get(f"/entries/{entry.pk}/history/")

    assert response.status_code == 200
    html = response.text
    assert "The model&#x27;s version." in html and "My version." in html
    assert html.index("My version.") < html.index("The model&#x27;s version.")
    generation = entry.generations.get()
    assert f'action="/entries/{entry.pk}/history/generation/{generation.pk}/restore/"' in html
    # The edit is the current text: nothing to restore.
    edit = entry.edits.get()
    assert f"/history/edit/{edit.pk}/restore/" not in html
    assert "Current text" in html


def test_restoring_a_generation_makes_it_the_text_and_keeps_the_replaced_one(signed_in, user):
    entry = written(user, "The model's version.")
    entry_update_text(entry=entry, text="My version.")
    generation = entry.generations.get()

    response = signed_in.post(f"/entries/{entry.pk}/history/generation/{generation.pk}/restore/")

    assert response.status_code == 302
    assert response.url == f"/entries/{entry.pk}/"
    entry.refresh_from_db()
    assert entry.text == "The model's version."
    assert entry.status == EntryStatus.EDITED
    latest = entry.edits.first()
    assert latest.text == "The model's version."
    assert latest.previous_text == "My version."
    assert entry.edits.count() == 2
    page = signed_in.get(response.url).text
    assert "The model&#x27;s version." in page[page.index('data-role="output"') :]


def test_restoring_an_earlier_edit(signed_in, user):
    entry = written(user, "Generated.")
    entry_update_text(entry=entry, text="First edit.")
    entry_update_text(entry=entry, text="Second edit.")
    # The texts are encrypted at rest: matched here, not in the database.
    [first] = [e for e in EntryEdit.objects.filter(entry=entry) if e.text == "First edit."]

    signed_in.post(f"/entries/{entry.pk}/history/edit/{first.pk}/restore/")

    entry.refresh_from_db()
    assert entry.text == "First edit."
    assert entry.edits.first().previous_text == "Second edit."


def test_restoring_is_refused_while_the_entry_is_being_written(signed_in, user):
    entry = written(user, "Old.")
    old = entry.generations.get()
    Generation.objects.create(
        entry=entry, status=GenerationStatus.GENERATING, writer="offline", tone="plain"
    )
    DiaryEntry.objects.filter(pk=entry.pk).update(status=EntryStatus.GENERATING)

    response = signed_in.post(
        f"/entries/{entry.pk}/history/generation/{old.pk}/restore/", follow=True
    )

    assert "This entry is being written." in response.text
    entry.refresh_from_db()
    assert entry.status == EntryStatus.GENERATING
    assert not entry.edits.exists()


def test_restoring_needs_a_post_and_an_own_version(client, user, other_user):
    entry = written(user, "Mine.")
    theirs = written(other_user, "Theirs.")
    generation = theirs.generations.get()
    client.force_login(user)

    get = client.get(f"/entries/{entry.pk}/history/generation/{generation.pk}/restore/")
    foreign_version = client.post(
        f"/entries/{entry.pk}/history/generation/{generation.pk}/restore/"
    )
    foreign_entry = client.post(f"/entries/{theirs.pk}/history/generation/{generation.pk}/restore/")
    bad_kind = client.post(f"/entries/{entry.pk}/history/magic/1/restore/")

    assert get.status_code == 405
    assert foreign_version.status_code == 404
    assert foreign_entry.status_code == 404
    assert bad_kind.status_code == 404
    theirs.refresh_from_db()
    assert theirs.text == "Theirs."


# --- export -------------------------------------------------------------------------------------


def test_markdown_export_has_every_own_entry_with_notes(signed_in, user, other_user):
    written(user, "Second day text.", date=dt.date(2026, 5, 2), tone="poetic")
    written(user, "First day text.", date=dt.date(2026, 5, 1), morning="Tea", evening="Sleep early")
    written(other_user, "Somebody else's day.")

    response = signed_in.get("/export/markdown/")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"nikki-{user.username}-" in disposition and disposition.endswith('.md"')
    body = streamed(response).decode()
    assert body.startswith(f"# The diary of {user.username}\n")
    assert body.index("## 2026-05-01") < body.index("## 2026-05-02")
    assert "First day text." in body and "Second day text." in body
    assert "- Tone: Poetic" in body
    assert "**Morning:** Tea" in body and "**Evening:** Sleep early" in body
    assert "Somebody else" not in body


def test_json_export_has_entries_generations_and_edits(signed_in, user, other_user):
    entry = written(user, "Generated text.", date=dt.date(2026, 5, 1), language="ja")
    entry_update_text(entry=entry, text="Edited text.")
    written(other_user, "Somebody else's day.")

    response = signed_in.get("/export/json/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment;")
    data = json.loads(streamed(response))
    assert data["format"] == "nikki-export"
    assert data["user"]["username"] == user.username
    [exported] = data["entries"]
    assert exported["date"] == "2026-05-01"
    assert exported["text"] == "Edited text."
    assert exported["language"] == "ja"
    assert exported["morning"] == "ran by the river"
    assert [g["text"] for g in exported["generations"]] == ["Generated text."]
    assert exported["generations"][0]["writer"] == "offline"
    assert [(e["previous_text"], e["text"]) for e in exported["edits"]] == [
        ("Generated text.", "Edited text.")
    ]


def test_an_empty_diary_exports_cleanly(signed_in, user):
    markdown = streamed(signed_in.get("/export/markdown/")).decode()
    data = json.loads(streamed(signed_in.get("/export/json/")))

    assert markdown.startswith("# The diary of")
    assert data["entries"] == []


def test_exports_are_only_for_get(signed_in):
    assert signed_in.post("/export/json/").status_code == 405


def test_an_entry_being_written_has_no_restore_button(signed_in):
    user = make_user()
    signed_in.force_login(user)
    entry = written(user, "Old.")
    Generation.objects.create(
        entry=entry, status=GenerationStatus.GENERATING, writer="offline", tone="plain"
    )
    DiaryEntry.objects.filter(pk=entry.pk).update(status=EntryStatus.GENERATING, text="")

    html = signed_in.get(f"/entries/{entry.pk}/history/").text

    assert "being written right now" in html
    assert re.search(r"<button type=\"submit\"[^>]* disabled>", html)
