"""Token usage on the desk, through the real admin URLs: "unknown" where the model server sent
none, never 0."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from diaries.services.generations import generation_finish, generation_start
from tests.support.admin import make_superuser, signed_in
from tests.support.factories import make_entry, make_user

pytestmark = pytest.mark.django_db


def written(user, usage):
    entry = make_entry(user)
    generation = generation_start(
        user=user, entry=entry, writer_name="openai", model_name="m"
    ).generation
    generation_finish(
        generation_id=generation.pk, status="done", text="Dear diary.", seq=1, usage=usage
    )
    return entry, generation


def cells(html: str, name: str) -> list[str]:
    """The text of the changelist cells of column `name`."""
    found = re.findall(rf'<t([dh]) class="field-{name}[^"]*">(.*?)</t\1>', html, flags=re.S)
    return [re.sub(r"<[^>]+>", "", cell).strip() for _, cell in found]


def test_generations_without_usage_read_unknown_and_with_usage_their_count():
    owner, root = make_user(), signed_in(make_superuser())
    _, unknown = written(owner, None)
    written(owner, {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12})

    listing = root.get(reverse("admin:diaries_generation_changelist")).text
    assert sorted(cells(listing, "total_tokens_shown")) == ["12", "unknown"]

    page = root.get(reverse("admin:diaries_generation_change", args=[unknown.pk])).text
    assert page.count("unknown") >= 3 and ">0<" not in page.replace(" ", "")


def test_an_entrys_generations_show_unknown_usage():
    owner, root = make_user(), signed_in(make_superuser())
    entry, _ = written(owner, None)

    page = root.get(reverse("admin:diaries_diaryentry_change", args=[entry.pk])).text
    assert cells(page, "total_tokens_shown") == ["unknown"]
    assert cells(page, "prompt_tokens_shown") == ["unknown"]


def test_an_accounts_tokens_say_how_many_generations_had_no_usage():
    root = signed_in(make_superuser())
    only_unknown, mixed = make_user(), make_user()
    written(only_unknown, None)
    written(mixed, {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12})
    written(mixed, None)

    listing = root.get(reverse("admin:diaries_account_changelist")).text
    shown = dict(zip(cells(listing, "username"), cells(listing, "tokens_today"), strict=True))
    assert shown[only_unknown.username] == "unknown (1 generation)"
    assert shown[mixed.username] == "at least 12 (1 generation unknown)"
