"""Sign-up is throttled per client address (diaries/signup_throttle.py; issue 13, hole 9): one
address cannot make any number of accounts, each with its own daily quota."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

PASSWORD = "a-long-diary-passphrase-42"


def signup(client, username: str, address: str):
    return client.post(
        "/accounts/signup/",
        {"username": username, "password1": PASSWORD, "password2": PASSWORD},
        REMOTE_ADDR=address,
    )


@pytest.mark.django_db
def test_signups_from_one_address_are_throttled(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.DIARY_SIGNUPS_PER_HOUR = 3
    for n in range(3):
        assert signup(Client(), f"bot{n}", "203.0.113.7").status_code == 302

    refused = signup(Client(), "bot3", "203.0.113.7")

    assert refused.status_code == 429
    assert "Too many accounts" in refused.text
    # The form is still there, with what was typed (never the passwords).
    assert 'name="username"' in refused.text and 'value="bot3"' in refused.text
    assert PASSWORD not in refused.text
    assert not get_user_model().objects.filter(username="bot3").exists()
    # Another address still signs up.
    assert signup(Client(), "person", "198.51.100.4").status_code == 302


@pytest.mark.django_db
def test_a_failed_signup_does_not_use_up_the_address_allowance(settings):
    settings.DIARY_SIGNUPS_PER_HOUR = 1
    client = Client()
    mismatch = client.post(
        "/accounts/signup/",
        {"username": "typo", "password1": PASSWORD, "password2": PASSWORD + "x"},
        REMOTE_ADDR="203.0.113.9",
    )
    assert mismatch.status_code == 200
    assert signup(client, "typo", "203.0.113.9").status_code == 302
