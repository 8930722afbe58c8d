"""Two-factor sign-in in a real browser: Chromium through Playwright against a live daphne on
http://localhost (a secure context, and a host WebAuthn accepts as a relying party).

An authenticator app is played by computing codes in the test (tests/support/totp.py); a
passkey by Chromium's own virtual authenticator, set up through the DevTools Protocol
(WebAuthn.addVirtualAuthenticator), as a phone or laptop with a fingerprint reader would be.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.support.browser import PASSWORD, SCREENSHOTS, LiveServer, require_browser, sign_up
from tests.support.totp import totp_code

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


class LocalhostServer(LiveServer):
    """The live server, addressed as http://localhost:<port> (WebAuthn refuses IP addresses as
    relying-party ids)."""

    @property
    def base(self) -> str:
        return f"http://localhost:{self.port}"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    require_browser()
    srv = LocalhostServer(tmp_path_factory.mktemp("browser-mfa"), DJANGO_ALLOWED_HOSTS="localhost")
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


def log_out(page) -> None:
    page.locator("header form[action='/accounts/logout/'] button").click()
    page.wait_for_url(re.compile(r"/accounts/login/$"))


def password_step(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_login", username)
    page.fill("#id_password", PASSWORD)
    page.locator("main form[action='/accounts/login/'] button[type=submit]").click()


def confirm_password(page) -> None:
    """allauth asks for the password again before any change to the second factors."""
    page.wait_for_url(re.compile(r"/accounts/reauthenticate/"))
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Confirm").click()


def signed_in_as(page, username: str) -> bool:
    return page.get_by_role("button", name=f"Log out ({username})").is_visible()


def test_sign_in_with_an_authenticator_app_code_and_with_a_recovery_code(new_context, server):
    page = new_context().new_page()
    username = sign_up(page)

    # Settings → two-factor sign-in → set up an authenticator app.
    page.goto("/settings/")
    page.get_by_role("link", name=re.compile("Two-factor sign-in")).click()
    page.wait_for_url(re.compile(r"/accounts/2fa/$"))
    page.goto("/accounts/2fa/totp/activate/")
    confirm_password(page)
    page.wait_for_url(re.compile(r"/accounts/2fa/totp/activate/$"))
    assert page.locator("img[src^='data:image/svg+xml']").count() == 1  # the QR code
    secret = page.input_value("#authenticator_secret")
    page.fill("#id_code", totp_code(secret))
    page.get_by_role("button", name="Activate").click()
    page.wait_for_url(re.compile(r"/accounts/2fa/recovery-codes/$"))
    codes = page.input_value("#recovery_codes").split()
    assert len(codes) == 10 and all(re.fullmatch(r"\d{8}", code) for code in codes)
    page.screenshot(path=str(SCREENSHOTS / "mfa-recovery-codes.png"), full_page=True)

    # Out, and back in: the password, then a code from the app.
    log_out(page)
    password_step(page, username)
    page.wait_for_url(re.compile(r"/accounts/2fa/authenticate/$"))
    assert not signed_in_as(page, username)
    page.screenshot(path=str(SCREENSHOTS / "mfa-authenticate.png"), full_page=True)
    page.fill("#id_code", totp_code(secret))
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(server.base + "/")
    assert signed_in_as(page, username)

    # Out, and back in with a recovery code instead (the phone is lost).
    log_out(page)
    password_step(page, username)
    page.wait_for_url(re.compile(r"/accounts/2fa/authenticate/$"))
    page.fill("#id_code", codes[0])
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(server.base + "/")
    assert signed_in_as(page, username)

    # Settings → the signed-in sessions: this browser, marked as this device.
    page.goto("/settings/")
    page.get_by_role("link", name="Signed-in sessions and devices").click()
    page.wait_for_url(re.compile(r"/accounts/sessions/$"))
    assert page.locator("tr[aria-current=true]").get_by_text("This device").is_visible()
    page.screenshot(path=str(SCREENSHOTS / "sessions.png"), full_page=True)

    # A used recovery code does not work twice.
    log_out(page)
    password_step(page, username)
    page.wait_for_url(re.compile(r"/accounts/2fa/authenticate/$"))
    page.fill("#id_code", codes[0])
    page.get_by_role("button", name="Sign In").click()
    assert page.get_by_text("Incorrect code").is_visible()
    assert not signed_in_as(page, username)


def test_add_a_passkey_and_sign_in_with_it_alone(new_context, server):
    context = new_context()
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )["authenticatorId"]
    username = sign_up(page)

    page.goto("/accounts/2fa/webauthn/add/")
    confirm_password(page)
    page.wait_for_url(re.compile(r"/accounts/2fa/webauthn/add/$"))
    page.fill("#id_name", "Laptop")
    page.check("#id_passwordless")  # a passkey: signs in without the password
    page.locator("#mfa_webauthn_add").click()
    page.wait_for_url(re.compile(r"/accounts/2fa/(recovery-codes|webauthn)/$"))
    [credential] = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})[
        "credentials"
    ]
    assert credential["isResidentCredential"]

    log_out(page)
    page.goto("/accounts/login/")
    page.locator("#passkey_login").click()
    page.wait_for_url(server.base + "/")
    assert signed_in_as(page, username)
    # The authenticator really signed: its counter moved.
    [after] = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert after["signCount"] > credential["signCount"]
