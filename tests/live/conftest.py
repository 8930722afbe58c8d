"""The browser tier's fixtures (Chromium through Playwright), for the browser tests here."""

from tests.support.browser import browser, new_context  # noqa: F401
