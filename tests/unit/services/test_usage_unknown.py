"""A generation that ends without a usage report: its tokens are unknown (NULL), not 0, and the
daily usage counts it as such, once; the quota counts the generation either way."""

from __future__ import annotations

import pytest
from django.utils import timezone

from diaries.models import DailyUsage
from diaries.services.generations import generation_finish, generation_start
from tests.support.factories import make_entry, make_user

pytestmark = pytest.mark.django_db

USAGE = {"prompt_tokens": 40, "completion_tokens": 60, "total_tokens": 100}


def start(user):
    entry = make_entry(user)
    return generation_start(user=user, entry=entry, writer_name="openai", model_name="m").generation


def finish(generation, usage=None, status="done"):
    return generation_finish(
        generation_id=generation.pk, status=status, text="Dear diary.", seq=1, usage=usage
    )


def test_an_end_without_usage_is_saved_as_unknown_and_counted_as_unknown():
    user = make_user()
    saved = finish(start(user))

    assert (saved.prompt_tokens, saved.completion_tokens, saved.total_tokens) == (None,) * 3
    usage = DailyUsage.objects.get(user=user, day=timezone.localdate())
    assert (usage.generations, usage.tokens, usage.unknown_usage_generations) == (1, 0, 1)


def test_known_and_unknown_usage_add_up_separately():
    user = make_user()
    finish(start(user), USAGE)
    finish(start(user))
    finish(start(user), status="cancelled")

    usage = DailyUsage.objects.get(user=user, day=timezone.localdate())
    assert (usage.generations, usage.tokens, usage.unknown_usage_generations) == (3, 100, 2)


def test_an_end_saved_twice_counts_its_unknown_usage_once():
    user = make_user()
    generation = start(user)
    finish(generation)
    finish(generation)

    usage = DailyUsage.objects.get(user=user, day=timezone.localdate())
    assert usage.unknown_usage_generations == 1
