"""Admin-tier helpers: staff users, a signed-in test client, an entry with written text."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.test import Client

from diaries.models import DiaryEntry
from tests.support.factories import make_entry, make_user

NOTE = "PRIVATE-NOTE-never-for-moderators"


def make_moderator(username: str | None = None):
    user = make_user(username)
    user.is_staff = True
    user.save()
    user.groups.add(Group.objects.get(name="Moderators"))
    return user


def make_superuser():
    user = make_user()
    user.is_staff = user.is_superuser = True
    user.save()
    return user


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def written(owner, text: str, **fields) -> DiaryEntry:
    entry = make_entry(owner, morning=NOTE)
    DiaryEntry.objects.filter(pk=entry.pk).update(
        text=text, writer="scripted", model_name="scripted-1", status="done", **fields
    )
    entry.refresh_from_db()
    return entry
