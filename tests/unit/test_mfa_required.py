"""Two-factor sign-in (django-allauth's mfa) and DIARY_MFA_REQUIRED_FOR_STAFF
(diaries/mfa_required.py): codes from an authenticator app or a recovery code after the
password; staff and moderators set up a second factor before anything else, the admin
included."""

from __future__ import annotations

import re

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.contrib.auth.models import Group
from django.test import Client

from tests.support.admin import make_moderator, make_superuser, with_authenticator_app
from tests.support.factories import make_user
from tests.support.totp import totp_code

PASSWORD = "a-long-diary-passphrase-42"

pytestmark = pytest.mark.django_db


def signed_in_user_id(client: Client) -> int | None:
    value = client.session.get("_auth_user_id")
    return int(value) if value is not None else None


def password_step(client: Client, username: str, next_url: str = ""):
    data = {"login": username, "password": PASSWORD}
    if next_url:
        data["next"] = next_url
    return client.post("/accounts/login/", data)


def signed_in_by_password(username: str) -> Client:
    """Signed in through the form (allauth then counts the sign-in as recent, which adding an
    authenticator asks for)."""
    client = Client()
    assert password_step(client, username).status_code == 302
    return client


def activation_page(client: Client) -> str:
    """The authenticator-app set-up page, after giving the password again as allauth asks
    before any change to the second factors; its secret."""
    first = client.get("/accounts/2fa/totp/activate/")
    assert first.status_code == 302 and first.url.startswith("/accounts/reauthenticate/")
    again = client.post(first.url, {"password": PASSWORD})
    assert again.status_code == 302 and again.url == "/accounts/2fa/totp/activate/"
    page = client.get(again.url)
    secret = re.search(r'value="([A-Z2-7]{32})"', page.text)
    assert secret, page.text[:2000]
    return secret.group(1)


# --- signing in with a second factor -------------------------------------------------------


def test_a_password_alone_does_not_sign_in_a_person_with_an_authenticator_app():
    user = with_authenticator_app(make_user("hanako"))
    client = Client()

    response = password_step(client, "hanako")

    assert response.status_code == 302 and response.url == "/accounts/2fa/authenticate/"
    assert signed_in_user_id(client) is None
    page = client.get(response.url)
    assert 'name="code"' in page.text
    assert client.get("/entries/new/").status_code == 302  # still signed out
    # The code from the app finishes the sign-in.
    done = client.post("/accounts/2fa/authenticate/", {"code": totp_code(user.totp_secret)})
    assert done.status_code == 302 and done.url == "/"
    assert signed_in_user_id(client) == user.pk


def test_a_wrong_code_is_refused_and_nobody_is_signed_in():
    user = with_authenticator_app(make_user("hanako"))
    client = Client()
    password_step(client, "hanako")
    right = totp_code(user.totp_secret)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    response = client.post("/accounts/2fa/authenticate/", {"code": wrong})

    assert response.status_code == 200
    assert "Incorrect code" in response.text
    assert signed_in_user_id(client) is None


def test_a_recovery_code_signs_in_once():
    user = with_authenticator_app(make_user("hanako"))
    code = RecoveryCodes.activate(user).generate_codes()[0]

    first = Client()
    password_step(first, "hanako")
    done = first.post("/accounts/2fa/authenticate/", {"code": code})
    assert done.status_code == 302 and signed_in_user_id(first) == user.pk

    again = Client()
    password_step(again, "hanako")
    refused = again.post("/accounts/2fa/authenticate/", {"code": code})
    assert refused.status_code == 200 and signed_in_user_id(again) is None


def test_a_person_sets_up_an_authenticator_app_from_the_settings_page():
    user = make_user("hanako")
    client = signed_in_by_password("hanako")
    settings_page = client.get("/settings/")
    assert 'href="/accounts/2fa/"' in settings_page.text

    secret = activation_page(client)
    response = client.post("/accounts/2fa/totp/activate/", {"code": totp_code(secret)})

    assert response.status_code == 302
    # Recovery codes are made at the same time and shown next.
    assert response.url == "/accounts/2fa/recovery-codes/"
    codes = client.get(response.url)
    assert len(re.findall(r"\b\d{8}\b", codes.text)) >= 10
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.RECOVERY_CODES).exists()


# --- DIARY_MFA_REQUIRED_FOR_STAFF ---------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: make_moderator(second_factor=False),
        lambda: make_superuser(second_factor=False),
    ],
    ids=["moderator", "superuser"],
)
def test_staff_without_a_second_factor_set_one_up_before_anything_else(make):
    staff = make()
    client = signed_in_by_password(staff.username)

    for url in ("/", "/entries/new/", "/settings/", "/admin/", "/admin/diaries/diaryentry/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url == "/accounts/2fa/totp/activate/", url
    # The two-factor pages stay open (adding one asks for the password again first).
    index = client.get("/accounts/2fa/")
    assert index.status_code == 200
    assert "Staff and moderators sign in with two factors" in index.text
    assert client.get("/accounts/reauthenticate/").status_code == 200
    passkey = client.get("/accounts/2fa/webauthn/add/")
    assert passkey.status_code == 302 and passkey.url.startswith("/accounts/reauthenticate/")


def test_once_set_up_the_staff_member_reaches_the_admin():
    moderator = make_moderator(second_factor=False)
    client = signed_in_by_password(moderator.username)
    secret = activation_page(client)

    client.post("/accounts/2fa/totp/activate/", {"code": totp_code(secret)})

    assert client.get("/admin/").status_code == 200
    assert client.get("/").status_code == 200


def test_a_moderator_who_is_not_staff_is_held_back_too():
    user = make_user()
    user.groups.add(Group.objects.get(name="Moderators"))
    client = Client()
    client.force_login(user)

    assert client.get("/").url == "/accounts/2fa/totp/activate/"


def test_people_who_are_not_staff_need_no_second_factor(client):
    client.force_login(make_user())

    assert client.get("/").status_code == 200


def test_the_requirement_can_be_turned_off(settings):
    settings.DIARY_MFA_REQUIRED_FOR_STAFF = False
    client = Client()
    client.force_login(make_moderator(second_factor=False))

    assert client.get("/admin/").status_code == 200


def test_signing_out_stays_open_to_staff_without_a_second_factor():
    client = Client()
    client.force_login(make_moderator(second_factor=False))

    response = client.post("/accounts/logout/")

    assert response.status_code == 302 and signed_in_user_id(client) is None


# --- the admin signs in through allauth ------------------------------------------------------


def test_the_admin_login_is_the_sites_sign_in_with_its_second_factor():
    moderator = make_moderator("mod")
    client = Client()

    login = client.get("/admin/login/?next=/admin/")
    assert login.status_code == 302
    assert login.url == "/accounts/login/?next=%2Fadmin%2F"

    password = password_step(client, "mod", next_url="/admin/")
    assert password.url == "/accounts/2fa/authenticate/"
    assert client.get("/admin/").status_code == 302  # not yet
    done = client.post("/accounts/2fa/authenticate/", {"code": totp_code(moderator.totp_secret)})
    assert done.status_code == 302 and done.url == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_the_admin_login_refuses_a_signed_in_person_who_is_not_staff(client):
    client.force_login(make_user())

    assert client.get("/admin/login/").status_code == 403


def test_guessing_codes_is_stopped_after_a_few_tries():
    user = with_authenticator_app(make_user("hanako"))
    client = Client()
    password_step(client, "hanako")
    right = totp_code(user.totp_secret)
    wrong = [f"{(int(right) + n) % 1_000_000:06d}" for n in range(100, 106)]

    answers = [client.post("/accounts/2fa/authenticate/", {"code": code}) for code in wrong]

    assert all("Incorrect code" in answer.text for answer in answers[:5])
    assert "Too many failed login attempts" in answers[5].text
    # Even the right code is refused for now.
    late = client.post("/accounts/2fa/authenticate/", {"code": right})
    assert "Too many failed login attempts" in late.text and signed_in_user_id(client) is None


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_under_asgi_too_staff_without_a_second_factor_are_sent_to_set_one_up():
    from asgiref.sync import sync_to_async
    from django.test import AsyncClient

    # A superuser: a transactional test's flush may have removed migration 0004's group.
    staff = await sync_to_async(make_superuser)(second_factor=False)
    client = AsyncClient()
    await client.aforce_login(staff)

    response = await client.get("/admin/")

    assert response.status_code == 302 and response.url == "/accounts/2fa/totp/activate/"
    assert (await client.get("/accounts/2fa/")).status_code == 200
