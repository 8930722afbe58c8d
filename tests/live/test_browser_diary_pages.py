"""The trash and the calendar's days in a real browser (issue 17): Chromium through Playwright
against a live daphne (its own SQLite file), watched for script errors, CSP violations and
requests to other hosts as in tests/live/test_browser.py."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator

import pytest

from tests.support.browser import (
    PASSWORD,
    SCREENSHOTS,
    STREAM_TIMEOUT_MS,
    LiveServer,
    log_in,
    require_browser,
    sign_up,
    status_is,
    write_new_entry,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

SEED = textwrap.dedent(
    """
    import datetime as dt
    from django.contrib.auth.models import User
    from django.utils import timezone
    from diaries.services.entries import entry_create, entry_update_text

    user = User.objects.create_user("reader", password=PASSWORD)
    today = timezone.localdate()
    first = today.replace(day=1)
    entry_update_text(
        entry=entry_create(user=user, date=first, morning="tea"),
        text="The day the kettle sang.",
    )
    walker = User.objects.create_user("walker", password=PASSWORD)
    entry_update_text(
        entry=entry_create(user=walker, date=first, morning="a walk"),
        text="A walk on the first.",
    )
    for words in ("Two on one day: the first.", "Two on one day: the second."):
        entry_update_text(
            entry=entry_create(user=walker, date=first + dt.timedelta(days=1), morning="x"),
            text=words,
        )
    """
).replace("PASSWORD", repr(PASSWORD))


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    require_browser()
    srv = LiveServer(tmp_path_factory.mktemp("browser-pages"))
    try:
        srv.start()
        srv.manage("shell", "-c", SEED)
        yield srv
    finally:
        srv.stop()


def test_delete_to_the_trash_restore_and_empty_it(new_context, server):
    page = new_context().new_page()
    log_in(page)
    kettle = page.locator(".entry-item", has_text="The day the kettle sang.").first
    kettle.locator("a.entry-link").click()
    page.wait_for_url(re.compile(r"/entries/\d+/$"))
    entry_url = page.url

    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Yes, move it to the trash").click()
    page.wait_for_url(re.compile(r"/$"))
    assert "in the trash" in page.locator(".messages").text_content()
    assert page.get_by_text("The day the kettle sang.").count() == 0

    page.locator("nav.site-nav").get_by_role("link", name="Trash").click()
    page.wait_for_url(re.compile(r"/trash/$"))
    assert page.get_by_text("The day the kettle sang.").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "trash.png"), full_page=True)
    page.get_by_role("button", name=re.compile(r"^Restore")).click()
    page.wait_for_url(entry_url)
    assert "The day the kettle sang." in page.locator("[data-role=output]").text_content()

    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Yes, move it to the trash").click()
    page.goto("/trash/")
    page.get_by_role("link", name="Empty trash").click()
    page.get_by_role("button", name="Yes, delete them for good").click()
    page.wait_for_url(re.compile(r"/trash/$"))
    assert "1 entry is deleted for good." in page.locator(".messages").text_content()
    assert page.get_by_text("The trash is empty.").count() == 1
    assert page.request.get(entry_url).status == 404  # not a page load: no console error


def test_the_calendars_days_open_an_entry_a_list_or_a_new_entry(new_context, server):
    page = new_context().new_page()
    log_in(page, "walker")
    page.goto("/calendar/")
    days = page.locator("table.calendar a.day-link")

    days.nth(0).click()  # the 1st: one entry
    page.wait_for_url(re.compile(r"/entries/\d+/$"))
    assert "A walk on the first." in page.locator("[data-role=output]").text_content()

    page.go_back()
    days.nth(1).click()  # the 2nd: two entries
    page.wait_for_url(re.compile(r"/search/\?date_from="))
    assert page.locator(".entry-list .entry-item").count() == 2
    page.screenshot(path=str(SCREENSHOTS / "calendar-day-list.png"), full_page=True)

    page.go_back()
    days.nth(2).focus()  # the 3rd, by keyboard: nothing yet, a new entry of that date
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/entries/new/\?date=\d{4}-\d{2}-03$"))
    assert page.locator("#id_date").input_value().endswith("-03")


def test_the_share_links_copy_button_copies_it(new_context, server):
    context = new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    log_in(page, "walker")
    page.goto("/calendar/")
    page.locator("table.calendar a.day-link").nth(0).click()
    page.wait_for_url(re.compile(r"/entries/\d+/$"))
    page.get_by_role("button", name="Share by link").click()

    page.get_by_role("button", name="Copy link").click()

    page.get_by_text("Copied.").wait_for()
    link = page.locator("#share-link").input_value()
    assert re.search(r"/s/[\w-]+/$", link)
    assert page.evaluate("navigator.clipboard.readText()") == link
    page.screenshot(path=str(SCREENSHOTS / "share-copied.png"))


def test_the_home_page_shows_an_entry_being_written_growing(new_context, server):
    context = new_context()
    writing = context.new_page()
    sign_up(writing)
    entry_id = write_new_entry(writing)
    home = context.new_page()
    home.goto("/")
    preview = home.locator(f"[data-live-entry='{entry_id}']")
    assert preview.count() == 1  # once, under Today; its text so far, not the notes
    assert "walked the dog" not in preview.text_content()

    lengths = []
    for _ in range(3):
        home.wait_for_function(
            "([id, n]) => document.querySelector(`[data-live-entry='${id}']`)"
            ".textContent.length > n",
            arg=[entry_id, len(preview.text_content())],
            timeout=STREAM_TIMEOUT_MS,
        )
        lengths.append(len(preview.text_content()))
    assert lengths == sorted(lengths) and len(set(lengths)) == 3
    status_is(writing, "done")
    live_status = home.locator(".entry-item", has=preview).locator("[data-role=live-status]")
    live_status.filter(has_text="Done").wait_for(timeout=STREAM_TIMEOUT_MS)
    assert home.locator(".entry-item", has=preview).count() == 1
