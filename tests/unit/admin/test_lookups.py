"""URL filters on the admin's lists, tried the way they were found from outside: crafted query
strings on the real changelist addresses, as a moderator and as a staff member who may only view.

A list may be filtered only by what its page offers (its list filters, its date hierarchy, its
search box). Anything else must be refused (Django answers 400) or ignored. A lookup counts as
*honoured* when a value that matches and one that matches nothing list different rows.
"""

from __future__ import annotations

import re
import string
from urllib.parse import parse_qsl, urlencode

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db import models
from django.test import Client
from django.urls import reverse

from diaries.models import (
    Account,
    DiaryEntry,
    EntryEdit,
    Generation,
    ModerationEvent,
    Profile,
    Report,
)
from diaries.services.checks import entry_text_check
from diaries.services.sharing import entry_report, entry_share, entry_unshare
from tests.support.admin import (
    NOTE,
    make_moderator,
    make_superuser,
    signed_in,
    with_authenticator_app,
    written,
)
from tests.support.factories import make_user

pytestmark = pytest.mark.django_db

NO_SUCH = "~no-such-value~"
HASH_ALPHABET = string.ascii_letters + string.digits + "$+/=_-.:"


@pytest.fixture(autouse=True)
def _word_list_and_fast_hasher(settings):
    settings.DIARY_MODERATION = "wordlist"
    settings.DIARY_MODERATION_WORDS = ["forbidden"]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def superuser():
    user = make_superuser()
    user.email = "root@example.com"
    user.save()
    return user


@pytest.fixture
def site(superuser):
    """A row in every list: shared, reported and flagged entries with private notes, a
    generation, an edit, a profile, reports and the audit trail they leave."""
    owner = make_user("owner")
    owner.email = "owner@example.com"
    owner.save()
    Profile.objects.update_or_create(user=owner, defaults={"display_name": "Owner"})
    shared = entry_share(user=owner, entry=written(owner, "A shared day.", notes=NOTE))
    Generation.objects.create(entry=shared, status="done", text="A shared day.", writer="w")
    EntryEdit.objects.create(entry=shared, text="A shared day.", previous_text="A day.")
    flagged = written(owner, "A forbidden day.", notes=NOTE)
    entry_text_check(entry=flagged)
    reported = entry_share(user=owner, entry=written(owner, "A reported day."))
    entry_report(user=make_user(), entry=reported, reason="spam", details="rude")
    entry_unshare(user=owner, entry=reported)
    written(owner, "A private day.", notes=NOTE)
    other = make_user("other")
    entry_share(user=other, entry=written(other, "Another shared day."))
    return {"owner": owner, "shared": shared}


def a_viewer():
    """Staff who may view every list of the site but is no superuser."""
    user = make_user("viewer")
    user.is_staff = True
    user.save()
    user.user_permissions.add(
        *Permission.objects.filter(
            codename__startswith="view_", content_type__app_label__in=("diaries", "auth")
        )
    )
    return with_authenticator_app(user)  # staff sign in with two factors


ROLES = {"moderator": lambda: make_moderator("mod"), "viewer": a_viewer}


def changelist(model: type[models.Model]) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def listed(response, model: type[models.Model]) -> set[int]:
    link = rf"/admin/{model._meta.app_label}/{model._meta.model_name}/(\d+)/change/"
    return {int(pk) for pk in re.findall(link, response.text)}


def our_models() -> list[type[models.Model]]:
    """Every model with a list in the admin, but django-axes' (superusers only, not ours)."""
    return sorted(
        (m for m in admin.site._registry if m._meta.app_label in ("diaries", "auth")),
        key=lambda m: m._meta.label,
    )


def declared_paths(model: type[models.Model]) -> set[str]:
    """The fields the admin declares filters for: these may take their own parameters."""
    model_admin = admin.site._registry[model]
    paths = {model_admin.date_hierarchy} - {None}
    for item in model_admin.list_filter:
        if isinstance(item, str):
            paths.add(item)
        elif isinstance(item, (list, tuple)):
            paths.add(item[0])
    return paths


def is_text(field) -> bool:
    return isinstance(field, (models.CharField, models.TextField))


def probes(model: type[models.Model]) -> list[tuple[str, str, str]]:
    """(lookup, a value matching rows, a value matching none) for every concrete field of the
    model and of every model one relation away, forward or reverse."""
    paths = [(field.name, field) for field in model._meta.concrete_fields]
    for relation in model._meta.get_fields():
        if relation.is_relation and relation.related_model is not None:
            paths += [
                (f"{relation.name}__{field.name}", field)
                for field in relation.related_model._meta.concrete_fields
            ]
    declared = declared_paths(model)
    found = []
    for path, field in paths:
        if path not in declared:
            found.append((f"{path}__isnull", "0", "1"))
        if is_text(field):
            found.append((f"{path}__startswith", "", NO_SUCH))
            found.append((f"{path}__regex", ".*", NO_SUCH))
    return found


def honoured(client: Client, model, lookup: str, matching: str, not_matching: str) -> bool:
    url = changelist(model)
    nothing = client.get(url, {lookup: not_matching})
    if nothing.status_code != 200:
        return False  # 400 (refused) or a redirect to "?e=1" (invalid): no rows shown
    something = client.get(url, {lookup: matching})
    return something.status_code == 200 and listed(something, model) != listed(nothing, model)


def opened_by(client: Client) -> list[type[models.Model]]:
    return [m for m in our_models() if client.get(changelist(m)).status_code == 200]


MODERATOR_LISTS = {
    "diaries.Account",
    "diaries.DiaryEntry",
    "diaries.Generation",
    "diaries.ModerationEvent",
    "diaries.Report",
}


@pytest.mark.parametrize("role", list(ROLES))
def test_no_list_can_be_filtered_by_a_lookup_it_does_not_declare(site, role):
    client = signed_in(ROLES[role]())
    models_opened = opened_by(client)
    if role == "viewer":  # the same rule; only the lists closed to moderators are new here
        models_opened = [m for m in models_opened if m._meta.label not in MODERATOR_LISTS]
    assert models_opened, "the role opens no list at all"
    honoured_lookups = []
    for model in models_opened:
        assert listed(client.get(changelist(model)), model), f"{model}: nothing to filter"
        for lookup, matching, not_matching in probes(model):
            if honoured(client, model, lookup, matching, not_matching):
                honoured_lookups.append(f"{model._meta.label}?{lookup}")

    assert not honoured_lookups, "honoured:\n" + "\n".join(honoured_lookups)


def test_the_lists_a_moderator_opens(site):
    names = {m._meta.label for m in opened_by(signed_in(make_moderator("mod")))}

    assert names == MODERATOR_LISTS


def learned_prefix(client: Client, model, lookup: str, target: int, length: int) -> str:
    """Bisect a field of row `target` character by character through `lookup`, as the attack
    did; returns what was learned."""
    prefix = ""
    for _ in range(length):
        for char in HASH_ALPHABET:
            response = client.get(changelist(model), {lookup: prefix + char})
            if response.status_code != 200:
                return prefix
            if target in listed(response, model):
                prefix += char
                break
        else:
            return prefix
    return prefix


def test_a_moderator_cannot_read_the_superusers_password_hash(site, superuser):
    client = signed_in(make_moderator("mod"))

    learned = learned_prefix(client, Account, "password__startswith", superuser.pk, 6)
    responses = [
        client.get(changelist(Account), {"password__startswith": value})
        for value in (superuser.password[:4], NO_SUCH)
    ]

    assert learned == "", f"learned {learned!r} of {superuser.password!r}"
    assert [r.status_code for r in responses] == [400, 400]
    for lookup in ("email__startswith", "last_login__isnull", "password__regex"):
        assert client.get(changelist(Account), {lookup: "r"}).status_code == 400, lookup


@pytest.mark.parametrize(
    ("model", "lookup"),
    [
        (DiaryEntry, "notes__icontains"),
        (DiaryEntry, "notes__regex"),
        (DiaryEntry, "morning__icontains"),
        (DiaryEntry, "owner__password__startswith"),
        (Generation, "entry__notes__icontains"),
        (Report, "entry__morning__icontains"),
        (Report, "entry__owner__password__startswith"),
        (ModerationEvent, "subject__password__startswith"),
    ],
)
def test_a_moderator_cannot_read_owners_notes_nor_hashes_through_a_list(site, model, lookup):
    client = signed_in(make_moderator("mod"))
    value = site["owner"].password[:3] if "password" in lookup else NOTE[:12]
    everything = listed(client.get(changelist(model)), model)

    found = client.get(changelist(model), {lookup: value})
    nothing = client.get(changelist(model), {lookup: NO_SUCH})

    assert everything, "nothing listed to filter"
    assert (found.status_code, nothing.status_code) == (400, 400)


@pytest.mark.parametrize("role", list(ROLES))
def test_searching_never_reaches_a_private_field(site, superuser, role):
    client = signed_in(ROLES[role]())
    secrets = [NOTE, superuser.password[4:16], "A private day."]
    if role == "moderator":
        secrets.append(superuser.email)  # Django's user list, closed to moderators, shows it

    found = set()
    for model in opened_by(client):
        nothing = listed(client.get(changelist(model), {"q": NO_SUCH}), model)
        for secret in secrets:
            if listed(client.get(changelist(model), {"q": secret}), model) != nothing:
                found.add((model._meta.label, secret))

    assert found == set()


def test_every_filter_link_a_page_offers_still_works(site):
    """The allow-list refuses only what the pages do not offer: follow every filter, date and
    search link each list shows (as the superuser, who sees every list)."""
    client = signed_in(make_superuser())
    followed = set()
    for model in our_models():
        url = changelist(model)
        html = client.get(url).text
        for query in set(re.findall(r'href="\?([^"#]*)"', html.replace("&amp;", "&"))):
            params = parse_qsl(query, keep_blank_values=True)
            if {key for key, _ in params} <= {"o", "_facets", "q", "p", "all"}:
                continue  # ordering, facets, pages: not filters
            response = client.get(f"{url}?{urlencode(params)}")
            assert response.status_code == 200, f"{url}?{query}"
            followed.update(f"{model._meta.model_name}?{key}" for key, _ in params)

    for expected in (
        "diaryentry?owner__id__exact",
        "diaryentry?date__year",
        "report?status__exact",
    ):
        assert expected in followed
