"""The name on shared pages and the email address, set from Settings."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client

from diaries.models import Profile
from diaries.services.entries import entry_create
from tests.support.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-diary-passphrase-42"


def settings_post(**overrides: str) -> dict[str, str]:
    data = {"ui_language": "", "default_language": "", "default_tone": "plain", "time_zone": ""}
    data.update(overrides)
    return data


def shared_entry(owner, token: str):
    entry = entry_create(user=owner, morning="ran by the river", afternoon="", evening="")
    entry.text, entry.sharing, entry.share_token = "Hello", "link", token
    entry.save()
    return entry


def test_a_display_name_set_in_settings_names_the_shared_pages(signed_in, user):
    shared_entry(user, "tok-name")
    visitor = Client()
    assert "A Nikki user" in visitor.get("/s/tok-name/").text

    response = signed_in.post("/settings/", settings_post(display_name="  Hanako Y. "))

    assert response.status_code == 302
    assert Profile.objects.get(user=user).display_name == "Hanako Y."
    assert 'value="Hanako Y."' in signed_in.get("/settings/").text
    page = visitor.get("/s/tok-name/").text
    assert "From the diary of Hanako Y." in page and user.username not in page


def test_an_empty_display_name_goes_back_to_a_nikki_user(signed_in, user):
    Profile.objects.update_or_create(user=user, defaults={"display_name": "Hanako"})
    shared_entry(user, "tok-empty")

    signed_in.post("/settings/", settings_post(display_name=""))

    assert "A Nikki user" in Client().get("/s/tok-empty/").text


def test_a_too_long_display_name_is_refused(signed_in, user):
    response = signed_in.post("/settings/", settings_post(display_name="x" * 81))

    assert response.status_code == 200
    assert Profile.objects.get(user=user).display_name == ""


def test_settings_show_the_email_address_and_where_to_change_it(signed_in, user):
    html = signed_in.get("/settings/").text
    assert "Add an email address (for password resets)" in html
    assert 'href="/accounts/email/"' in html

    user.email = "hanako@example.com"
    user.save()
    html = signed_in.get("/settings/").text
    assert "Email address: hanako@example.com" in html
    assert "Change your email address" in html


def test_an_email_added_in_settings_gets_the_reset_mail_and_sign_in_stays_by_username(
    client, settings
):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    mail.outbox = []
    user = make_user("hanako", password=PASSWORD)
    client.force_login(user)

    added = client.post("/accounts/email/", {"action_add": "", "email": "hanako@example.com"})
    assert added.status_code == 302
    assert "Email address: hanako@example.com" in client.get("/settings/").text

    client.post("/accounts/logout/")
    mail.outbox = []
    client.post("/accounts/password/reset/", {"email": "hanako@example.com"})
    assert [m.to for m in mail.outbox] == [["hanako@example.com"]]
    assert "/accounts/password/reset/key/" in mail.outbox[0].body

    signed = client.post("/accounts/login/", {"login": "hanako", "password": PASSWORD})
    assert signed.status_code == 302
    assert client.get("/settings/").status_code == 200
    assert get_user_model().objects.filter(username="hanako").count() == 1
