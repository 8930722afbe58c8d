"""Importing in a real browser against a live daphne: a Day One zip with its photos (the page
says photos are not imported, and the text keeps a [photo] mark), then a larger journal whose
progress the page shows live, through a reload, until it is done."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.browser import SCREENSHOTS, LiveServer, require_browser, sign_up
from tests.support.imports import day_one_journal, day_one_zip

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    require_browser()
    srv = LiveServer(tmp_path_factory.mktemp("browser-import"))
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


def test_a_day_one_zip_is_imported_and_a_large_journal_shows_its_progress(new_context, server):
    context = new_context()
    page = context.new_page()
    sign_up(page)
    page.goto("/settings/")
    page.get_by_role("link", name="Import a Nikki export").click()
    assert "Photos are not imported" in page.locator("main").text_content()

    page.set_input_files(
        "#id_file",
        {"name": "Day One export.zip", "mimeType": "application/zip", "buffer": day_one_zip()},
    )
    page.get_by_role("button", name="Import", exact=True).click()
    first = page.locator("[data-import-job]").first
    first.get_by_text("3 entries imported, 0 already there.").wait_for(timeout=30_000)
    assert "1 attached file (photo, audio, PDF…) not imported." in first.text_content()
    page.screenshot(path=str(SCREENSHOTS / "import-done.png"), full_page=True)

    [(text,)] = server.query(
        "SELECT text FROM diaries_diaryentry WHERE source = 'dayone' AND date = '2019-03-03'"
    )
    assert server.opened(text).startswith("Cherry blossoms by the river already.\n\n[photo]")

    page.goto("/import/")
    page.set_input_files(
        "#id_file",
        {"name": "Journal.json", "mimeType": "application/json", "buffer": day_one_journal(3000)},
    )
    page.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_function(
        "() => /Read \\d+ of 3000/.test(document.querySelector('[data-import-job]').textContent)"
        " || document.querySelector('[data-import-job]').dataset.status === 'done'",
        timeout=60_000,
    )
    # The page opened again (a new tab: this one may be reloading itself) finds the import.
    again = context.new_page()
    again.goto("/import/")
    latest = again.locator("[data-import-job]").first
    latest.get_by_text("3000 entries imported, 0 already there.").wait_for(timeout=120_000)
    assert latest.get_attribute("data-status") == "done"
