"""The daily quota: what each person's generations count against, a row per person and day
(DailyUsage), so deleting entries does not give any back."""

from __future__ import annotations

import datetime as dt

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import selectors
from ..exceptions import QuotaExceeded
from ..models import DailyUsage


def usage_day() -> dt.date:
    """The day a start counts against: the local date in the active time zone (the user's own
    where a view activated it, else the site's)."""
    return timezone.localdate()


def usage_generation_take(*, user, limit: int, new: bool, entry_id: int | None) -> None:
    """Count one generation against today's quota, or raise QuotaExceeded past `limit`.

    Inside the start's transaction, with the user's row locked: nobody else counts meanwhile.
    `new`: the entry is not saved yet (its notes stay in the client's form).
    """
    day = usage_day()
    counted = DailyUsage.objects.filter(user=user, day=day, generations__lt=limit).update(
        generations=F("generations") + 1
    )
    if counted:
        return
    usage = selectors.usage_for_day(user=user, day=day)  # the day's first, or over the limit
    used = usage.generations if usage is not None else 0
    if usage is None and limit > 0:
        DailyUsage.objects.create(user=user, day=day, generations=1)
        return
    message = (
        _(
            "You have written %(n)d entries today, your daily limit. "
            "Your notes stay in the form; try again tomorrow."
        )
        if new
        else _(
            "You have written %(n)d entries today, your daily limit. "
            "Your notes are saved; try again tomorrow."
        )
    )
    raise QuotaExceeded(message % {"n": used}, entry=entry_id)


def usage_tokens_add(*, user_id: int, day: dt.date, tokens: int | None) -> None:
    """Add a generation's tokens to the usage of the day it started; None (the server reported
    none) counts the generation as one whose usage is unknown."""
    if tokens is None:
        change = {"unknown_usage_generations": F("unknown_usage_generations") + 1}
    else:
        change = {"tokens": F("tokens") + tokens}
    if not DailyUsage.objects.filter(user_id=user_id, day=day).update(**change):
        # The start counted another day (another time zone was active): count them here.
        usage, _created = DailyUsage.objects.get_or_create(user_id=user_id, day=day)
        DailyUsage.objects.filter(pk=usage.pk).update(**change)
