"""A start refused for the daily quota, seen in a real browser: nothing is saved, the notes stay
in the form, and the page says why (issue 13, hole 9). Same live daphne and Chromium as
tests/live/test_browser.py."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.support.browser import (
    LiveServer,
    fill_notes,
    require_browser,
    sign_up,
    status_is,
    write_new_entry,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    require_browser()
    srv = LiveServer(tmp_path_factory.mktemp("quota-browser"), DIARY_DAILY_GENERATIONS="1")
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


def test_a_refused_start_keeps_the_notes_in_the_form_and_saves_nothing(new_context, server):
    page = new_context().new_page()
    sign_up(page)
    write_new_entry(page)
    status_is(page, "done")
    [(saved,)] = server.query("SELECT COUNT(*) FROM diaries_diaryentry")

    page.goto("/entries/new/")
    fill_notes(page)
    page.fill("#id_morning", "the second entry of the day, over the quota")
    page.locator("main [data-role=write]").click()
    page.locator("[data-role=error]").wait_for(state="visible")

    assert "daily limit" in page.locator("[data-role=error-message]").text_content()
    assert re.search(r"/entries/new/$", page.url)  # no entry to go to
    assert page.input_value("#id_morning") == "the second entry of the day, over the quota"
    assert "coffee with Ken" in page.input_value("#id_afternoon")
    assert page.locator("main [data-role=write]").is_enabled()  # press again later
    assert server.query("SELECT COUNT(*) FROM diaries_diaryentry") == [(saved,)]
