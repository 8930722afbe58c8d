"""Migration 0006 counts the finished generations that have no usage as unknown, per person and
day, beside the tokens 0005 counted."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.support.migrations import migrate

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("diaries", "0005_daily_usage")]
AFTER = [("diaries", "0006_daily_usage_unknown")]


def test_finished_generations_without_usage_are_counted_unknown_by_day():
    apps = migrate(BEFORE)
    User = apps.get_model("auth", "User")
    DiaryEntry = apps.get_model("diaries", "DiaryEntry")
    Generation = apps.get_model("diaries", "Generation")
    DailyUsage = apps.get_model("diaries", "DailyUsage")
    owner = User.objects.create(username="before-0006")
    entry = DiaryEntry.objects.create(owner=owner, date=dt.date(2026, 5, 1))
    day = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)
    rows = [("done", None), ("failed", None), ("done", 30), ("generating", None)]
    for status, total in rows:
        Generation.objects.create(
            entry=entry, status=status, total_tokens=total, started_at=day, heartbeat_at=day
        )
    DailyUsage.objects.create(user=owner, day=day.date(), generations=4, tokens=30)

    apps = migrate(AFTER)

    usage = apps.get_model("diaries", "DailyUsage").objects.get(user_id=owner.pk)
    assert (usage.generations, usage.tokens, usage.unknown_usage_generations) == (4, 30, 2)
