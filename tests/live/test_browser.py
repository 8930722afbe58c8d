"""The browser experience, in a real browser: Playwright drives Debian's Chromium against a live
daphne (its own SQLite file, the offline writer at a reading pace).

Every page is watched for JavaScript errors, Content-Security-Policy violations and requests to
any other host; any of them fails the test. The tests save screenshots of the main pages into
test-artifacts/screenshots/.

Chromium comes from Debian (`apt-get install chromium`), never from `playwright install`. Without
it the tests skip, except in CI (CI set), where they fail.
"""

from __future__ import annotations

import itertools
import json
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
from tests.support.openai_server import Script, ScriptedOpenAIServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

SEED = textwrap.dedent(
    """
    import datetime as dt
    from django.contrib.auth.models import User
    from django.utils import timezone
    from diaries.services.entries import entry_create, entry_update_text
    from diaries.models import Generation

    user = User.objects.create_user("reader", password=PASSWORD)
    today = timezone.localdate()
    specs = [
        (0, "warm", "en", "A warm morning with tea on the balcony. The river was bright."),
        (2, "humorous", "en", "The cat stole my toast again. I have filed a complaint."),
        (4, "poetic", "en", "Rain on the window, a slow afternoon, the kettle singing."),
        (6, "reflective", "ja", "今日は川沿いを走った。少し考えごとをした一日だった。"),
        (9, "plain", "en", "Worked on the budget. Dinner with Ken. Early night."),
    ]
    for offset, tone, language, text in specs:
        day = today.replace(day=1) + dt.timedelta(days=min(offset, today.day - 1))
        entry = entry_create(
            user=user, date=day, morning="notes for " + tone, tone=tone, language=language
        )
        Generation.objects.create(
            entry=entry, status="done", text=text, writer="offline",
            model_name="nikki-offline-1", tone=tone, language=language,
            finished_at=timezone.now(),
        )
        entry.text, entry.status, entry.writer = text, "done", "offline"
        entry.model_name = "nikki-offline-1"
        entry.save()
    entry_update_text(entry=entry, text="My own words about the budget day.")
    """
).replace("PASSWORD", repr(PASSWORD))


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    require_browser()
    srv = LiveServer(tmp_path_factory.mktemp("browser"))
    try:
        srv.start()
        srv.manage("shell", "-c", SEED)
        yield srv
    finally:
        srv.stop()


def shot(page, name: str, *, full_page: bool = True) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def text_longer_than(page, length: int) -> None:
    page.wait_for_function(
        "n => document.querySelector('[data-role=output]').textContent.length > n",
        arg=length,
        timeout=STREAM_TIMEOUT_MS,
    )


def samples(page) -> list[dict[str, Any]]:
    return page.evaluate("window.__samples")


def output_text(page) -> str:
    return page.locator("[data-role=output]").text_content()


def assert_grows_by_appending(recorded: list[dict[str, Any]], *, at_least: int = 3) -> None:
    """Each state of the text is a prefix of the next (no gap, no repeat, nothing rewritten),
    with at least `at_least` states strictly between the first and the last."""
    texts = [sample["text"] for sample in recorded]
    for before, after in itertools.pairwise(texts):
        assert after.startswith(before), f"not an append:\n{before!r}\n→ {after!r}"
    assert len(texts) - 2 >= at_least, f"only {len(texts)} states: {texts}"


def assert_at_most_one_update_per_frame(recorded: list[dict[str, Any]]) -> None:
    frames = [sample["frame"] for sample in recorded[1:]]  # the first is the page's own text
    assert len(frames) == len(set(frames)), f"two text updates in one animation frame: {frames}"


# --- writing ------------------------------------------------------------------------------------


def test_sign_up_write_and_watch_it_stream_then_stop_and_regenerate(new_context, server):
    page = new_context().new_page()
    page.goto("/accounts/signup/")
    shot(page, "signup")
    sign_up(page)
    shot(page, "home-empty")

    entry_id = write_new_entry(page, tone="warm")
    text_longer_than(page, 40)
    shot(page, "entry-streaming")
    status_is(page, "done")
    shot(page, "entry-done")

    recorded = samples(page)
    final = output_text(page)
    assert recorded[0]["text"] == "" and recorded[-1]["text"] == final
    assert_grows_by_appending(recorded, at_least=3)
    assert_at_most_one_update_per_frame(recorded)
    assert server.entry(entry_id) == ("done", final)
    assert "herons" in final
    announcements = page.evaluate("window.__announcements")
    assert "Writing…" in announcements and announcements[-1] == "Done"
    assert page.locator("[data-role=status]").get_attribute("aria-live") == "polite"

    # Regenerate, then Stop part-way: the partial text is kept and becomes the entry's text.
    page.evaluate("window.__samples.length = 0")
    page.locator("[data-role=write]").click()
    # The new generation starts from an empty text (`started`), then grows.
    page.wait_for_function(
        # A function, not an expression: the page's CSP forbids eval, which an expression needs.
        "() => window.__samples.some((s) => s.text === '')"
        " && document.querySelector('[data-role=output]').textContent.length > 30",
        timeout=STREAM_TIMEOUT_MS,
    )
    page.locator("[data-role=stop]").click()
    status_is(page, "cancelled")
    partial = output_text(page)
    assert 0 < len(partial)  # a regeneration reads differently from `final`: not its prefix
    assert_grows_by_appending(samples(page), at_least=2)
    assert page.locator("[data-role=status]").text_content() == (
        "Stopped — the text so far is kept"
    )
    assert [g[0] for g in server.generations(entry_id)] == ["done", "cancelled"]
    assert server.generations(entry_id)[-1][1] == partial
    assert server.entry(entry_id) == ("cancelled", partial)
    # The keyboard focus went from Stop (now disabled) to Regenerate, not to the page's top.
    assert page.evaluate("document.activeElement.dataset.role") == "write"

    # Regenerate again and let it finish; after a reload the page shows the saved text.
    page.keyboard.press("Enter")
    status_is(page, "done")
    rewritten = output_text(page)
    assert "herons" in rewritten
    page.reload()
    assert output_text(page) == rewritten
    assert server.entry(entry_id) == ("done", rewritten)


def test_reload_mid_stream_resumes_with_no_gap_or_repeat(new_context, server):
    page = new_context().new_page()
    sign_up(page)
    entry_id = write_new_entry(page, tone="reflective")
    text_longer_than(page, 60)
    before_reload = output_text(page)

    page.reload()  # the URL is the entry's own page by now
    status_is(page, "done")

    recorded = samples(page)
    final = output_text(page)
    assert final.startswith(before_reload)
    assert server.entry(entry_id) == ("done", final)
    # After the reload the text kept growing live (it did not just appear whole at the end).
    assert_grows_by_appending(recorded, at_least=3)
    assert_at_most_one_update_per_frame(recorded)
    assert [g[0] for g in server.generations(entry_id)] == ["done"]


def test_two_tabs_on_one_entry_show_the_same_stream(new_context, server):
    context = new_context()
    first, second = context.new_page(), context.new_page()
    sign_up(first)
    entry_id = write_new_entry(first, tone="humorous")
    text_longer_than(first, 20)
    second.goto(f"/entries/{entry_id}/")
    # The second tab sees the stream too, and its Regenerate waits for the running one.
    text_longer_than(second, 20)
    assert second.locator("[data-role=write]").is_disabled()

    status_is(first, "done")
    status_is(second, "done")

    saved = server.entry(entry_id)
    assert saved[0] == "done"
    for page in (first, second):
        assert output_text(page) == saved[1]
    assert_grows_by_appending(samples(first), at_least=3)
    assert_grows_by_appending(samples(second), at_least=3)
    assert len(server.generations(entry_id)) == 1


# --- when the language model fails ---------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedOpenAIServer]:
    words = "Dear diary, the herons were out again and the river was calm all morning."
    tokens = [words.split(" ")[0]] + [" " + word for word in words.split(" ")[1:]] * 3
    with ScriptedOpenAIServer(Script(tokens=tokens, delay=0.04)).running_in_thread() as srv:
        yield srv


@pytest.fixture(scope="module")
def openai_server(tmp_path_factory, upstream) -> Iterator[LiveServer]:
    require_browser()
    srv = LiveServer(
        tmp_path_factory.mktemp("browser-openai"),
        DIARY_WRITER="openai",
        OPENAI_BASE_URL=upstream.base_url,
        OPENAI_API_KEY="sk-browser-test",
        OPENAI_MAX_RETRIES="0",
    )
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


def test_an_upstream_failure_shows_a_clear_message_and_retry_works(
    new_context, openai_server, upstream
):
    upstream.enqueue(Script(status=500))
    page = new_context(openai_server).new_page()
    sign_up(page)

    entry_id = write_new_entry(page)
    error = page.locator("[data-role=error]")
    error.wait_for(state="visible", timeout=STREAM_TIMEOUT_MS)
    message = page.locator("[data-role=error-message]").text_content()
    assert "language model service is unavailable" in message
    assert "try again" in message
    assert page.locator("[data-role=status]").text_content().endswith(message)
    shot(page, "upstream-error")
    assert server_generation_statuses(openai_server, entry_id) == [
        ("failed", "upstream_unavailable")
    ]

    page.locator("[data-role=retry]").click()
    status_is(page, "done")
    assert error.is_hidden()
    final = output_text(page)
    assert final.startswith("Dear diary, the herons")
    assert openai_server.entry(entry_id) == ("done", final)
    assert server_generation_statuses(openai_server, entry_id) == [
        ("failed", "upstream_unavailable"),
        ("done", ""),
    ]


def server_generation_statuses(srv: LiveServer, entry_id: int) -> list[tuple[str, str]]:
    return [(status, code) for status, _text, code in srv.generations(entry_id)]


# --- the diary around the entries ---------------------------------------------------------------


def test_calendar_search_history_and_export_by_keyboard_and_mouse(new_context, server):
    page = new_context().new_page()
    log_in(page)
    shot(page, "home")

    # The keyboard: the skip link comes first and lands on the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    # Calendar: every entry of the month is a link with its tone named; Enter opens one.
    page.goto("/calendar/")
    links = page.locator("table.calendar .day-entries a")
    assert links.count() == 5
    assert "Warm" in links.first.inner_text() or links.first.get_attribute("title")
    shot(page, "calendar")
    links.first.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/entries/\d+/$"))

    # Search: own entries, from the box, with the keyboard.
    page.goto("/search/")
    page.fill("#id_q", "toast")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/search/\?q=toast"))
    results = page.locator(".entry-list .entry-item")
    assert results.count() == 1
    assert "The cat stole my toast" in results.first.inner_text()
    shot(page, "search")

    # History: the budget entry has a generation and the owner's edit; restore the generation.
    entries = server.query("SELECT id, text FROM diaries_diaryentry")
    [entry_id] = [pk for pk, text in entries if server.opened(text).startswith("My own words")]
    page.goto(f"/entries/{entry_id}/history/")
    versions = page.locator("ol.versions > li")
    assert versions.count() == 2
    shot(page, "history")
    versions.nth(1).get_by_role("button", name="Restore this version").click()
    page.wait_for_url(re.compile(rf"/entries/{entry_id}/$"))
    assert output_text(page) == "Worked on the budget. Dinner with Ken. Early night."
    restored = page.locator(".messages").inner_text()
    assert "It replaced your text of" in restored and "“My own words about the budget" in restored
    assert server.entry(entry_id) == ("edited", output_text(page))

    # Export: both downloads carry the diary.
    page.goto("/settings/")
    shot(page, "settings")
    with page.expect_download() as markdown:
        page.get_by_role("link", name="Markdown (to read)").click()
    body = Path(markdown.value.path()).read_text(encoding="utf-8")
    assert body.startswith("# The diary of reader") and "The cat stole my toast" in body
    assert markdown.value.suggested_filename.endswith(".md")
    with page.expect_download() as exported:
        page.get_by_role("link", name="JSON (everything, with the history)").click()
    data = json.loads(Path(exported.value.path()).read_text(encoding="utf-8"))
    assert len(data["entries"]) == 5


def test_deleting_an_account_after_confirming_with_the_password(new_context, server):
    page = new_context().new_page()
    username = sign_up(page)
    page.goto("/settings/")
    page.get_by_role("link", name="Delete my account…").click()
    page.wait_for_url(re.compile(r"/accounts/delete/$"))
    shot(page, "account-delete")

    page.fill("#id_password", "not-the-password")
    page.get_by_role("button", name="Delete my account and all my entries").click()
    assert "That is not your password." in page.locator("main").inner_text()
    assert server.query("SELECT count(*) FROM auth_user WHERE username = ?", username) == [(1,)]

    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Delete my account and all my entries").click()
    page.wait_for_url(re.compile(r"/accounts/login/$"))
    assert "deleted" in page.locator(".messages").inner_text()
    assert server.query("SELECT count(*) FROM auth_user WHERE username = ?", username) == [(0,)]


# --- a phone, dark mode, contrast --------------------------------------------------------------

CONTRAST = """
(selectors) => {
  const rgb = (value) => value.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const luminance = ([r, g, b]) => {
    const [R, G, B] = [r, g, b].map((c) => {
      c /= 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * R + 0.7152 * G + 0.0722 * B;
  };
  const background = (element) => {
    for (let e = element; e; e = e.parentElement) {
      const color = getComputedStyle(e).backgroundColor;
      if (color && !color.startsWith("rgba(0, 0, 0, 0)") && color !== "transparent") return color;
    }
    return getComputedStyle(document.body).backgroundColor;
  };
  const ratios = {};
  for (const selector of selectors) {
    const element = document.querySelector(selector);
    if (!element) { ratios[selector] = null; continue; }
    const a = luminance(rgb(getComputedStyle(element).color));
    const b = luminance(rgb(background(element)));
    ratios[selector] = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  }
  return ratios;
}
"""
CHECKED = ["body", "main a", ".muted, .writer-info", ".site-nav a", ".tone-warm", "h1"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_has_enough_contrast(new_context, scheme):
    page = new_context(color_scheme=scheme).new_page()
    log_in(page)
    for url in ("/", "/calendar/"):
        page.goto(url)
        ratios = page.evaluate(CONTRAST, CHECKED)
        for selector, ratio in ratios.items():
            assert ratio is None or ratio >= 4.5, f"{url} {selector} ({scheme}): {ratio:.2f}"
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    dark = sum(map(int, re.findall(r"\d+", background)[:3])) < 200
    assert dark == (scheme == "dark")
    shot(page, f"calendar-{scheme}")


def test_a_phone_sized_screen(new_context, server):
    context = new_context(
        viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True
    )
    page = context.new_page()
    log_in(page)
    entry_id = server.query("SELECT id FROM diaries_diaryentry ORDER BY id LIMIT 1")[0][0]
    for name, url in [
        ("home", "/"),
        ("new-entry", "/entries/new/"),
        ("entry", f"/entries/{entry_id}/"),
        ("calendar", "/calendar/"),
        ("search", "/search/?q=the"),
        ("settings", "/settings/"),
    ]:
        page.goto(url)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{url} scrolls sideways on a phone: {width}px wide"
        shot(page, f"phone-{name}")
    # Buttons are large enough to tap.
    page.goto(f"/entries/{entry_id}/")
    for button in page.locator("main .actions .button, main .actions button").all():
        assert button.bounding_box()["height"] >= 44

    # Writing works on the phone too. The page follows the growing text while its end is in
    # view, and leaves the reader alone once they scroll away from it.
    write_new_entry(page, tone="poetic")
    text_longer_than(page, 200)
    end_in_view = (
        "() => document.querySelector('[data-role=output]').getBoundingClientRect().bottom"
        " <= window.innerHeight + 24"
    )
    assert page.evaluate(end_in_view)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.wait_for_timeout(600)
    assert page.evaluate("() => window.scrollY") == 0
    status_is(page, "done")
    shot(page, "phone-entry-written")


# --- Japanese -----------------------------------------------------------------------------------

KANA_OR_KANJI = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def test_the_japanese_interface_writes_in_japanese(new_context, server):
    page = new_context(locale="ja-JP").new_page()
    page.goto("/accounts/signup/")
    assert page.locator("html").get_attribute("lang") == "ja"
    assert "日記をはじめる" in page.locator("h1").inner_text()
    shot(page, "ja-signup")
    username = sign_up(page)
    assert "今日" in page.locator("h1").inner_text()
    assert re.search(r"\d+年\d+月\d+日", page.locator("h1").inner_text())

    page.goto("/entries/new/")
    assert page.locator("#id_language").input_value() == "ja"  # writes in the UI's language
    entry_id = write_new_entry(page, tone="poetic")
    text_longer_than(page, 10)
    shot(page, "ja-entry-streaming")
    assert "執筆中" in page.evaluate("window.__announcements.join(' ')")
    status_is(page, "done")
    text = output_text(page)
    assert KANA_OR_KANJI.search(text)
    assert server.entry(entry_id) == ("done", text)
    assert page.locator("[data-role=status]").text_content() == "完了"
    page.reload()  # the entry's own page
    assert re.search(r"\d+年\d+月\d+日", page.locator("h1").inner_text())
    assert page.locator("[data-role=entry-status]").text_content() == "完了"
    shot(page, "ja-entry-done")

    page.goto("/calendar/")
    assert re.search(r"\d+年\d+月", page.locator("h1").inner_text())
    shot(page, "ja-calendar")
    page.goto("/settings/")
    shot(page, "ja-settings")

    # The switcher: English, remembered on the profile.
    page.get_by_role("button", name="English").click()
    page.wait_for_url(re.compile(r"/settings/$"))
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Settings"
    [(ui_language,)] = server.query(
        "SELECT p.ui_language FROM diaries_profile p JOIN auth_user u ON u.id = p.user_id "
        "WHERE u.username = ?",
        username,
    )
    assert ui_language == "en"
