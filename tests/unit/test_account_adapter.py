"""Account mail as a person reads it in the console log or a mail file: the link copied from
it works."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-diary-passphrase-42"


@pytest.fixture
def console_mail(settings):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_reset_link_in_the_console_log_opens_the_reset_form(
    client, capsys, console_mail, language
):
    get_user_model().objects.create_user(
        username="hanako", email="hanako@example.com", password=PASSWORD
    )

    response = client.post(
        "/accounts/password/reset/",
        {"email": "hanako@example.com"},
        HTTP_ACCEPT_LANGUAGE=language,
    )
    assert response.status_code == 302

    log = capsys.readouterr().out
    assert "quoted-printable" not in log and "=3D" not in log
    assert "Content-Transfer-Encoding: 8bit" in log
    if language == "ja":
        assert "パスワード" in log  # the words as written, not encoded
    link = re.search(r"^http://testserver(/accounts/password/reset/key/\S+/)$", log, re.M)
    assert link, log
    form = client.get(link.group(1), follow=True)
    assert 'name="password1"' in form.text
