"""Browser-tier helpers: a live daphne for Playwright (`LiveServer`), Debian's Chromium, the
`browser` and `new_context` fixtures (import them into a test module), and the page steps the
browser tests share (sign up, fill the notes, write, wait for a status)."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .servers import ROOT, Server

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "a-long-diary-passphrase-42"
STREAM_TIMEOUT_MS = 30_000
_names = itertools.count(1)

# Installed in every page before its own scripts: records each change of the entry's text (with
# the animation frame it happened in) and each announcement of the aria-live region.
RECORDER = """
window.__samples = [];
window.__announcements = [];
document.addEventListener("DOMContentLoaded", () => {
  const output = document.querySelector('[data-role="output"]');
  const status = document.querySelector('[data-role="status"]');
  if (output) {
    const record = () => {
      const text = output.textContent;
      const samples = window.__samples;
      if (!samples.length || samples[samples.length - 1].text !== text) {
        samples.push({ text, frame: document.timeline.currentTime });
      }
    };
    record();
    new MutationObserver(record).observe(output, {
      childList: true, characterData: true, subtree: true,
    });
  }
  if (status) {
    new MutationObserver(() => window.__announcements.push(status.textContent))
      .observe(status, { childList: true, characterData: true, subtree: true });
  }
});
"""


def require_browser() -> None:
    """Skip without Playwright or Chromium on a developer's machine; fail in CI."""
    reason = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "Playwright is not installed: pip install -e '.[dev]'"
    if reason is None and not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing: apt-get install chromium"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {reason}")
        pytest.skip(reason)


class LiveServer(Server):
    """daphne on a free loopback port with its own SQLite file, as in production (DEBUG off,
    collected static files, CSP on), in the default language and time zone."""

    manage_timeout = 120

    def __init__(self, workdir: Path, **env: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(workdir, **{"DIARY_OFFLINE_DELAY": "0.04", **env})
        for name in ("REDIS_URL", "DJANGO_LANGUAGE_CODE", "DJANGO_TIME_ZONE"):
            self.env.pop(name, None)

    def start(self) -> None:
        self.migrate()
        self.manage("collectstatic", "--noinput")
        super().start()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # a clean shutdown, as the browser tests' servers end
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        super().stop()

    def entry(self, entry_id: int) -> tuple[str, str]:
        """(status, text) of an entry as saved."""
        [(status, text)] = self.query(
            "SELECT status, text FROM diaries_diaryentry WHERE id = ?", entry_id
        )
        return status, self.opened(text)

    def generations(self, entry_id: int) -> list[tuple[str, str, str]]:
        """(status, text, error_code) of an entry's generations, oldest first."""
        rows = self.query(
            "SELECT status, text, error_code FROM diaries_generation WHERE entry_id = ? "
            "ORDER BY id",
            entry_id,
        )
        return [(status, self.opened(text), code) for status, text, code in rows]


@pytest.fixture(scope="module")
def browser():
    require_browser()
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Watch:
    """What a browser context did wrong: script errors, CSP violations, foreign requests."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.problems: list[str] = []

    def attach(self, context) -> None:
        context.on("console", self.on_console)
        context.on("weberror", lambda error: self.problems.append(f"page error: {error.error}"))
        context.on("request", self.on_request)
        context.on("page", lambda page: page.on("websocket", self.on_websocket))

    def on_console(self, message) -> None:
        if message.type in ("error", "warning") and (
            message.type == "error" or "Content Security Policy" in message.text
        ):
            self.problems.append(f"console {message.type}: {message.text}")

    def on_request(self, request) -> None:
        url = request.url
        if not (url.startswith(self.base + "/") or url.startswith(("data:", "blob:"))):
            self.problems.append(f"request to another host: {url}")

    def on_websocket(self, ws) -> None:
        expected = self.base.replace("http://", "ws://") + "/ws/diary/"
        if ws.url != expected:
            self.problems.append(f"websocket to {ws.url}")


@pytest.fixture
def new_context(browser, server) -> Iterator:
    """Make browser contexts on the live server; at the end, none may have had a problem."""
    contexts: list[tuple[Any, Watch]] = []

    def make(srv: LiveServer | None = None, **options: Any):
        srv = srv or server
        options.setdefault("viewport", {"width": 1024, "height": 800})
        options.setdefault("locale", "en-US")
        context = browser.new_context(base_url=srv.base, **options)
        context.set_default_timeout(15_000)
        context.add_init_script(RECORDER)
        watch = Watch(srv.base)
        watch.attach(context)
        contexts.append((context, watch))
        return context

    yield make
    problems = [problem for _, watch in contexts for problem in watch.problems]
    for context, _ in contexts:
        context.close()
    assert not problems, "\n".join(problems)


def sign_up(page, username: str | None = None) -> str:
    username = username or f"browser{next(_names)}"
    page.goto("/accounts/signup/")
    page.fill("#id_username", username)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/$"))
    return username


def log_in(page, username: str = "reader") -> None:
    page.goto("/accounts/login/")
    page.fill("#id_login", username)
    page.fill("#id_password", PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/$"))


def fill_notes(page, *, tone: str = "warm", language: str | None = None) -> None:
    page.fill("#id_morning", "walked the dog along the river and watched the herons")
    page.fill("#id_afternoon", "a long meeting about the budget, then coffee with Ken")
    page.fill("#id_evening", "cooked curry and read a novel until late")
    page.select_option("#id_tone", tone)
    if language:
        page.select_option("#id_language", language)


def write_new_entry(page, **notes: Any) -> int:
    """Fill the new-entry form, press Write, and return the entry's id once it exists."""
    page.goto("/entries/new/")
    fill_notes(page, **notes)
    page.locator("main [data-role=write]").click()
    page.wait_for_url(re.compile(r"/entries/\d+/$"))
    return int(re.search(r"/entries/(\d+)/$", page.url).group(1))


def status_is(page, status: str, timeout: float = STREAM_TIMEOUT_MS) -> None:
    page.wait_for_function(
        "status => document.querySelector('[data-diary]').dataset.status === status",
        arg=status,
        timeout=timeout,
    )
