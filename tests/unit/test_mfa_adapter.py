"""diaries/mfa_adapter.py: the authenticator app's secret and the recovery codes' seed are sealed
with the server keys in the database, still give the codes a phone computes, and a key rotation
re-seals them so the old server key can go."""

from __future__ import annotations

import json

import pytest
from allauth.mfa.models import Authenticator
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from tests.support.admin import with_authenticator_app
from tests.support.factories import make_user
from tests.support.totp import totp_code

pytestmark = pytest.mark.django_db


def stored_data(authenticator: Authenticator) -> str:
    """The row's data as the database holds it (what a dump shows)."""
    table = connection.ops.quote_name(Authenticator._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT data FROM {table} WHERE id = %s", [authenticator.pk])  # noqa: S608
        value = cursor.fetchone()[0]
    return value if isinstance(value, str) else json.dumps(value)


def sign_in_with_code(client, user, code: str) -> int:
    client.post(
        "/accounts/login/", {"login": user.username, "password": "a-long-diary-passphrase-42"}
    )
    return client.post("/accounts/2fa/authenticate/", {"code": code}).status_code


def test_the_totp_secret_is_not_in_the_database_in_the_clear(client):
    user = with_authenticator_app(make_user())
    authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)

    assert user.totp_secret not in stored_data(authenticator)
    assert sign_in_with_code(client, user, totp_code(user.totp_secret)) == 302
    assert client.get("/settings/").status_code == 200


def test_rotating_the_server_keys_reseals_the_second_factor(client, settings, capsys):
    old = settings.NIKKI_ENCRYPTION_KEYS[0]
    user = with_authenticator_app(make_user())
    before = stored_data(Authenticator.objects.get(user=user))

    settings.NIKKI_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old]
    call_command("rotate_keys")
    assert "Re-sealed 1 second-factor secret(s)" in capsys.readouterr().out
    assert stored_data(Authenticator.objects.get(user=user)) != before

    settings.NIKKI_ENCRYPTION_KEYS = settings.NIKKI_ENCRYPTION_KEYS[:1]  # the old key gone
    assert sign_in_with_code(client, user, totp_code(user.totp_secret)) == 302
