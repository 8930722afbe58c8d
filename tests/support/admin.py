"""Admin-tier helpers: staff users, a signed-in test client, an entry with written text."""

from __future__ import annotations

import base64
import secrets

from allauth.mfa.adapter import get_adapter
from allauth.mfa.models import Authenticator
from django.contrib.auth.models import Group
from django.test import Client

from diaries.models import DiaryEntry
from keystore.fields import EncryptedTextField, seal
from tests.support.factories import make_entry, make_user

NOTE = "PRIVATE-NOTE-never-for-moderators"


def with_authenticator_app(user):
    """Staff and moderators have a second factor (DIARY_MFA_REQUIRED_FOR_STAFF); the secret is
    on the returned user as `totp_secret`, to compute codes with."""
    user.totp_secret = base64.b32encode(secrets.token_bytes(20)).decode()
    # As allauth's activation stores it: the secret through the MFA adapter's encrypt hook.
    Authenticator.objects.create(
        user=user,
        type=Authenticator.Type.TOTP,
        data={"secret": get_adapter().encrypt(user.totp_secret)},
    )
    return user


def make_moderator(username: str | None = None, *, second_factor: bool = True):
    user = make_user(username)
    user.is_staff = True
    user.save()
    user.groups.add(Group.objects.get(name="Moderators"))
    return with_authenticator_app(user) if second_factor else user


def make_superuser(*, second_factor: bool = True):
    user = make_user()
    user.is_staff = user.is_superuser = True
    user.save()
    return with_authenticator_app(user) if second_factor else user


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def written(owner, text: str, **fields) -> DiaryEntry:
    """An entry a model wrote, as generation_finish leaves it; `fields` may set its notes."""
    entry = make_entry(owner, morning=NOTE)
    encrypted = {f.name for f in DiaryEntry._meta.fields if isinstance(f, EncryptedTextField)}
    fields = {
        name: seal(owner.pk, value) if name in encrypted else value
        for name, value in fields.items()
    }
    DiaryEntry.objects.filter(pk=entry.pk).update(
        text=seal(owner.pk, text),
        writer="scripted",
        model_name="scripted-1",
        status="done",
        **fields,
    )
    entry.refresh_from_db()
    return entry
