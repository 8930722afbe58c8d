"""The trash: a deleted entry is kept DIARY_TRASH_DAYS days, restorable with all it had, then
deleted for good by the sweeper or when its owner empties the trash."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import search_index
from ..exceptions import NotFound
from ..models import DiaryEntry, Generation, GenerationStatus, ModerationAction, Sharing
from . import entries, generations
from .moderation import moderation_event_record


def entry_trash(*, user, entry: DiaryEntry, wait: float = 2.0) -> DiaryEntry:
    """Move an own entry to the trash: out of every list, search, export and socket action;
    its share link stops working for good. Its generations and edits are kept.

    In the trash first, so that nothing starts it again; then its running generation is
    stopped and given `wait` seconds to save its end. What the entry used stays counted in the
    day's DailyUsage, and a generation that has not stopped yet still counts as running.
    """
    with transaction.atomic():
        try:
            locked = DiaryEntry.objects.select_for_update().get(
                pk=entry.pk, owner=user, trashed_at__isnull=True
            )
        except DiaryEntry.DoesNotExist:
            raise NotFound(_("This entry does not exist."), entry=entry.pk) from None
        was_shared = locked.sharing != Sharing.PRIVATE or bool(locked.share_token)
        locked.trashed_at = timezone.now()
        locked.sharing = Sharing.PRIVATE
        locked.share_token = None
        locked.save(update_fields=["trashed_at", "sharing", "share_token"])
        if was_shared:
            moderation_event_record(
                action=ModerationAction.ENTRY_UNSHARED,
                actor=user,
                entry=locked,
                details={"trashed": True},
            )
        running = list(locked.generations.filter(status=GenerationStatus.GENERATING))
    for generation in running:
        generations.generation_stop(generation=generation)
    if running:
        generations.generations_wait(
            Generation.objects.filter(pk__in=[g.pk for g in running]), wait
        )
    return locked


@transaction.atomic
def entry_trash_restore(*, user, entry_id: int) -> DiaryEntry:
    """Take an own entry out of the trash, as it was (private: sharing makes a new link)."""
    try:
        locked = DiaryEntry.objects.select_for_update().get(
            pk=entry_id, owner=user, trashed_at__isnull=False
        )
    except DiaryEntry.DoesNotExist:
        raise NotFound(_("This entry is not in your trash."), entry=entry_id) from None
    locked.trashed_at = None
    locked.save(update_fields=["trashed_at"])
    return locked


def _delete_for_good(trashed) -> int:
    """Delete the entries of `trashed` (a queryset of entries in a trash); how many."""
    running = Generation.objects.filter(entry=OuterRef("pk"), status=GenerationStatus.GENERATING)
    search_index.entries_forgotten(trashed.values_list("owner_id", "date"))
    count = 0
    # Rare (a generation that did not stop when its entry was trashed): stopped first.
    for entry in trashed.filter(Exists(running)):
        entries.entry_delete(entry=entry)
        count += 1
    _total, per_model = trashed.delete()
    return count + per_model.get(DiaryEntry._meta.label, 0)


def trash_entry_delete(*, user, entry_id: int) -> None:
    """Delete one entry of the user's trash for good (NotFound when it is not in their trash)."""
    if not _delete_for_good(DiaryEntry.objects.in_trash_of(user).filter(pk=entry_id)):
        raise NotFound(_("This entry is not in your trash."), entry=entry_id)


def trash_empty(*, user) -> int:
    """Delete every entry in the user's trash for good; how many."""
    return _delete_for_good(DiaryEntry.objects.in_trash_of(user))


def trash_sweep_expired(*, now: dt.datetime | None = None) -> int:
    """Delete for good the entries that have been in a trash DIARY_TRASH_DAYS days; how many."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.DIARY_TRASH_DAYS)
    return _delete_for_good(DiaryEntry.objects.filter(trashed_at__lt=cutoff))
