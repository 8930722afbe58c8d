"""The pages around the diary, in a real browser: the landing page a visitor sees first, the
privacy page it links, and Japanese punctuation on the pages a Japanese reader uses."""

# ruff: noqa: RUF001 — Japanese punctuation here is intended.

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest

from tests.support.browser import (
    SCREENSHOTS,
    LiveServer,
    require_browser,
    sign_up,
    status_is,
    write_new_entry,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    require_browser()
    srv = LiveServer(tmp_path_factory.mktemp("browser-pages"))
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_a_visitor_lands_on_what_nikki_is_and_signs_up_from_there(new_context, server):
    page = new_context().new_page()
    page.goto("/")

    assert page.locator("h1").inner_text() == "Your day, written down for you"
    assert page.locator("main input[type=password]").count() == 0
    assert "Offline writer" in page.locator("main").inner_text()
    shot(page, "landing")

    page.locator("footer").get_by_role("link", name="Privacy").click()
    page.wait_for_url(re.compile(r"/privacy/$"))
    assert page.locator("h1").inner_text() == "Your diary and who can read it"
    assert "can read every diary" in page.locator("main").inner_text()
    shot(page, "privacy")

    page.goto("/")
    page.get_by_role("link", name="Start your diary").click()
    page.wait_for_url(re.compile(r"/accounts/signup/$"))
    assert page.get_by_role("link", name="who can read your diary").count() == 1
    page.goto("/")
    page.locator("main").get_by_role("link", name="Log in").click()
    page.wait_for_url(re.compile(r"/accounts/login/$"))

    sign_up(page)  # and the front page is the diary now
    page.goto("/")
    assert page.locator("h1").inner_text() != "Your day, written down for you"
    assert page.get_by_role("link", name="New entry").count() >= 1


def test_japanese_pages_use_japanese_punctuation(new_context, server):
    page = new_context(locale="ja-JP").new_page()
    page.goto("/")
    assert page.locator("h1").inner_text() == "あなたの一日を、日記に"
    shot(page, "ja-landing")
    sign_up(page)

    page.goto("/entries/new/")
    labels = page.locator("main label").all_inner_texts()
    assert "朝：" in labels, labels
    assert not [label for label in labels if label.rstrip().endswith(":")], labels

    entry_id = write_new_entry(page, tone="poetic", language="ja")
    status_is(page, "done")
    page.goto(f"/entries/{entry_id}/")
    details = page.locator("main").inner_text()
    assert "詩的、日本語" in details and "詩的, 日本語" not in details
    shot(page, "ja-entry-punctuation")

    today = dt.date.today()
    page.goto(f"/calendar/{today.year}/{today.month}/")
    calendar = page.locator("main").inner_text()
    assert f"{today.month}月の日記 1 件" in calendar, calendar
    assert "今月の日記" not in calendar
