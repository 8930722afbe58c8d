"""The person's own words, in a real browser (Playwright, Debian's Chromium, a live daphne):
writing an entry by hand, the question before the model replaces it, the word diff of its
versions, and the new-entry page that becomes the entry's page (its refused notes marked)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.support.browser import (
    SCREENSHOTS,
    STREAM_TIMEOUT_MS,
    LiveServer,
    fill_notes,
    require_browser,
    sign_up,
    status_is,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

MY_WORDS = "The harbour was grey and quiet. I bought bread and walked home the long way."


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    require_browser()
    srv = LiveServer(tmp_path_factory.mktemp("browser-own-words"))
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


def entry_id_of(page) -> int:
    return int(re.search(r"/entries/(\d+)/$", page.url).group(1))


def test_write_it_yourself_then_the_model_replaces_it_only_when_asked(new_context, server):
    page = new_context().new_page()
    sign_up(page)
    page.goto("/entries/new/")
    page.get_by_role("link", name="Write it myself").click()
    page.fill("#id_text", MY_WORDS)
    page.get_by_role("button", name="Save my entry").click()
    page.wait_for_url(re.compile(r"/entries/\d+/$"))
    entry_id = entry_id_of(page)
    assert server.entry(entry_id) == ("edited", MY_WORDS)
    assert page.locator("[data-role=output]").text_content() == MY_WORDS
    assert page.locator("[data-role=writer-line]").text_content().strip() == "Edited by you"

    # Regenerate asks first; keeping the text starts nothing.
    write = page.locator("[data-role=write]")
    confirm = page.locator("[data-role=confirm-replace]")
    write.click()
    confirm.wait_for(state="visible")
    page.screenshot(path=str(SCREENSHOTS / "own-words-confirm.png"), full_page=True)
    page.get_by_role("button", name="Keep my text").click()
    assert confirm.is_hidden()
    page.wait_for_timeout(500)
    assert server.generations(entry_id) == []
    assert page.locator("[data-role=output]").text_content() == MY_WORDS

    # Asked and confirmed: the model writes it, and the line names the writer at work.
    write.click()
    page.get_by_role("button", name="Replace my text").click()
    page.wait_for_function(
        "() => document.querySelector('[data-role=output]').textContent.length > 20"
        " && document.querySelector('[data-diary]').dataset.status === 'generating'",
        timeout=STREAM_TIMEOUT_MS,
    )
    line = page.locator("[data-role=writer-line]").text_content()
    assert "Offline writer" in line and "Edited by you" not in line
    status_is(page, "done")
    final = page.locator("[data-role=output]").text_content()
    assert server.entry(entry_id) == ("done", final) and final != MY_WORDS
    # The model wrote from the person's words (the offline writer echoes what it is given).
    assert "harbour" in final

    # The versions: the hand-written text, its word changes to the current text, restorable.
    page.get_by_role("link", name="Versions").click()
    assert page.locator(".status-current").count() == 1
    mine = page.locator("li.version", has_text="Written by you")
    mine.locator("summary", has_text="Changes from this version").click()
    diff = mine.locator("[data-role=word-diff]")
    # The offline writer keeps the person's sentences and adds its own around them: words added
    # at least (removed ones too when the writer rewrote any).
    assert diff.locator("ins").count() > 0
    # Without the added words it reads as the hand-written text, without the removed ones as
    # the current text.
    without = "el => {{ const c = el.cloneNode(true); c.querySelectorAll('{0}').forEach("
    without += "n => n.remove()); return c.textContent; }}"
    assert diff.evaluate(without.format("ins")) == MY_WORDS
    assert diff.evaluate(without.format("del")) == final
    page.screenshot(path=str(SCREENSHOTS / "own-words-versions.png"), full_page=True)

    # Any two versions compared: pick them and show the changes.
    page.select_option("#compare-a", index=1)
    page.select_option("#compare-b", index=0)
    page.get_by_role("button", name="Show the changes").click()
    compared = page.locator("[data-role=compared] [data-role=word-diff]")
    assert compared.locator("ins").count() > 0

    mine = page.locator("li.version", has_text="Written by you")
    mine.get_by_role("button", name="Restore this version").click()
    page.wait_for_url(re.compile(rf"/entries/{entry_id}/$"))
    message = page.locator("div.messages").text_content()
    assert "It replaced the text written on" in message
    assert server.entry(entry_id) == ("edited", MY_WORDS)


def test_the_new_entry_page_marks_refused_notes_then_becomes_the_entrys_page(new_context, server):
    page = new_context().new_page()
    sign_up(page)
    page.goto("/entries/new/")
    page.locator("#id_morning").wait_for()
    page.wait_for_function("() => !document.querySelector('[data-role=write]').disabled")
    page.locator("main [data-role=write]").click()

    morning = page.locator("#id_morning")
    page.wait_for_function(
        "() => document.querySelector('#id_morning').getAttribute('aria-invalid') === 'true'"
    )
    assert "Write at least a few words" in page.locator("#id_morning_error").text_content()
    assert morning.get_attribute("aria-describedby").split()[-1] == "id_morning_error"
    assert page.locator("[data-role=error]").is_hidden()  # not a failure to Retry
    assert page.evaluate("document.activeElement.id") == "id_morning"
    assert page.url.endswith("/entries/new/")

    fill_notes(page)
    page.locator("main [data-role=write]").click()
    page.wait_for_url(re.compile(r"/entries/\d+/$"))
    assert morning.get_attribute("aria-invalid") is None
    assert page.locator("#id_morning_error").count() == 0
    heading = page.locator("h1").text_content()
    assert "New entry" not in heading and heading.strip()
    assert page.locator("[data-role=inputs]").is_hidden()
    assert page.locator("[data-role=lead]").is_hidden()
    notes = page.locator("[data-role=notes-summary]")
    assert notes.is_visible() and "watched the herons" in notes.text_content()
    status_is(page, "done")
    entry_id = entry_id_of(page)
    assert page.get_by_role("link", name="Versions").get_attribute("href") == (
        f"/entries/{entry_id}/history/"
    )
    page.screenshot(path=str(SCREENSHOTS / "own-words-new-entry-written.png"), full_page=True)
