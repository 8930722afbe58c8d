"""Accounts: django-allauth's sign-in, sign-up, sign-out, password change and reset, at
/accounts/ (Django's old addresses for the password pages redirect)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

PASSWORD = "a-long-diary-passphrase-42"
NEW_PASSWORD = "another-long-passphrase-77"

pytestmark = pytest.mark.django_db


@pytest.fixture
def member():
    return get_user_model().objects.create_user(
        username="hanako", email="hanako@example.com", password=PASSWORD
    )


@pytest.fixture
def outbox(settings):
    """Mail goes to django.core.mail.outbox (Django 6.1's MAILERS setting)."""
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    mail.outbox = []
    return mail.outbox


def signed_in_user_id(client) -> int | None:
    """The id of the user the client's session belongs to, if any."""
    value = client.session.get("_auth_user_id")
    return int(value) if value is not None else None


def test_signup_page_shows_the_user_creation_fields(client):
    response = client.get("/accounts/signup/")

    assert response.status_code == 200
    for name in ("username", "password1", "password2", "email"):
        assert f'name="{name}"' in response.text


def test_signup_creates_the_user_logs_in_and_redirects_home(client):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "taro",
            "email": "taro@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )

    assert response.status_code == 302
    assert response.url == reverse("diaries:home")
    user = get_user_model().objects.get(username="taro")
    assert user.email == "taro@example.com"
    assert user.check_password(PASSWORD)
    assert signed_in_user_id(client) == user.pk
    home = client.get(response.url)
    assert home.status_code == 200
    assert "taro" in home.text


def test_signup_email_is_optional(client):
    response = client.post(
        "/accounts/signup/",
        {"username": "jiro", "password1": PASSWORD, "password2": PASSWORD},
    )

    assert response.status_code == 302
    assert get_user_model().objects.get(username="jiro").email == ""


def test_signup_errors_are_shown_and_nobody_is_created(client):
    response = client.post(
        "/accounts/signup/",
        {"username": "saburo", "password1": PASSWORD, "password2": PASSWORD + "x"},
    )

    assert response.status_code == 200
    assert "errorlist" in response.text
    assert "same password each time" in response.text
    assert not get_user_model().objects.filter(username="saburo").exists()
    assert signed_in_user_id(client) is None


def test_signup_refuses_a_taken_username(client, member):
    response = client.post(
        "/accounts/signup/",
        {"username": "hanako", "password1": PASSWORD, "password2": PASSWORD},
    )

    assert response.status_code == 200
    assert "already exists" in response.text
    assert get_user_model().objects.filter(username="hanako").count() == 1


def test_signup_while_signed_in_goes_home(client, member):
    client.force_login(member)

    response = client.get("/accounts/signup/")

    assert response.status_code == 302
    assert response.url == reverse("diaries:home")


def test_login_with_the_right_password(client, member):
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert 'name="login"' in page.text

    response = client.post("/accounts/login/", {"login": "hanako", "password": PASSWORD})

    assert response.status_code == 302
    assert response.url == reverse("diaries:home")
    assert signed_in_user_id(client) == member.pk


def test_login_with_a_wrong_password_shows_an_error(client, member):
    response = client.post("/accounts/login/", {"login": "hanako", "password": "wrong"})

    assert response.status_code == 200
    assert "errorlist" in response.text
    assert signed_in_user_id(client) is None


def test_login_follows_next(client, member):
    response = client.post(
        "/accounts/login/?next=/entries/new/",
        {"login": "hanako", "password": PASSWORD, "next": "/entries/new/"},
    )

    assert response.status_code == 302
    assert response.url == "/entries/new/"


def test_logout_is_a_post_form_in_the_header(client, member):
    client.force_login(member)

    home = client.get("/")

    assert re.search(r'<form[^>]*method="post"[^>]*action="/accounts/logout/"', home.text)
    assert "csrfmiddlewaretoken" in home.text


def test_logout_by_get_only_asks_and_keeps_the_session(client, member):
    client.force_login(member)

    response = client.get("/accounts/logout/")

    assert response.status_code == 200
    assert re.search(r'<form[^>]*method="post"[^>]*action="/accounts/logout/"', response.text)
    assert signed_in_user_id(client) == member.pk


def test_logout_by_post_ends_the_session(client, member):
    client.force_login(member)

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert signed_in_user_id(client) is None
    assert client.get("/entries/new/").status_code == 302


def test_password_change(client, member):
    client.force_login(member)
    page = client.get("/accounts/password/change/")
    assert page.status_code == 200
    for name in ("oldpassword", "password1", "password2"):
        assert f'name="{name}"' in page.text

    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert "Password successfully changed" in client.get(response.url).text
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)
    # The session survives the change (update_session_auth_hash).
    assert signed_in_user_id(client) == member.pk


def test_djangos_old_password_addresses_redirect(client, member):
    client.force_login(member)

    change = client.get("/accounts/password_change/")
    reset = client.get("/accounts/password_reset/")

    assert change.status_code == 302 and change.url == "/accounts/password/change/"
    assert reset.status_code == 302 and reset.url == "/accounts/password/reset/"


def test_password_change_with_a_wrong_old_password_shows_an_error(client, member):
    client.force_login(member)

    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": "wrong", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 200
    assert "errorlist" in response.text
    member.refresh_from_db()
    assert member.check_password(PASSWORD)


def test_password_change_needs_login(client):
    response = client.get("/accounts/password/change/")

    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_password_reset_sends_an_email_with_a_working_link(client, member, outbox):
    assert client.get("/accounts/password/reset/").status_code == 200

    response = client.post("/accounts/password/reset/", {"email": "hanako@example.com"})

    assert response.status_code == 302
    assert response.url == reverse("account_reset_password_done")
    assert client.get(response.url).status_code == 200
    assert len(outbox) == 1
    message = outbox[0]
    assert message.to == ["hanako@example.com"]
    assert "Nikki" in message.subject
    assert "\n" not in message.subject
    assert "hanako" in message.body
    assert "&#x27;" not in message.body and "&amp;" not in message.body  # plain text, unescaped
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+/)", message.body)
    assert link, message.body

    # The link redirects to the form under a session token, which sets the new password.
    confirm = client.get(link.group(1), follow=True)
    assert confirm.status_code == 200
    assert 'name="password1"' in confirm.text
    form_url = confirm.redirect_chain[-1][0]
    done = client.post(form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert done.status_code == 302
    assert done.url == reverse("account_reset_password_from_key_done")
    assert client.get(done.url).status_code == 200
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)

    # A used link is no longer valid.
    again = client.get(link.group(1), follow=True)
    assert 'name="password1"' not in again.text


def test_password_reset_for_an_unknown_email_sends_nothing_but_looks_the_same(client, outbox):

    response = client.post("/accounts/password/reset/", {"email": "nobody@example.com"})

    assert response.status_code == 302
    assert response.url == reverse("account_reset_password_done")
    assert outbox == []
