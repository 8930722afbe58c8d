"""Sharing an entry by link, and reporting a shared one."""

from __future__ import annotations

import secrets
import time

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from .. import selectors
from ..exceptions import AlreadyReported, Busy, DiaryError, NotFound, RateLimited
from ..models import (
    DiaryEntry,
    EntryStatus,
    ModerationAction,
    ModerationState,
    Report,
    ReportReason,
    ReportStatus,
    Sharing,
)
from .checks import entry_text_check
from .moderation import moderation_event_record


def _own_entry_locked(*, user, entry: DiaryEntry) -> DiaryEntry:
    try:
        return DiaryEntry.objects.select_for_update().get(
            pk=entry.pk, owner=user, trashed_at__isnull=True
        )
    except DiaryEntry.DoesNotExist:
        raise NotFound(_("This entry does not exist."), entry=entry.pk) from None


def _refuse_to_share(entry: DiaryEntry) -> None:
    if entry.moderation_state == ModerationState.HIDDEN:
        raise DiaryError(_("A moderator hid this entry, so it cannot be shared."), entry=entry.pk)
    if entry.moderation_state == ModerationState.FLAGGED:
        raise DiaryError(
            _(
                "The automatic check flagged this entry. It can be shared once a moderator has "
                "reviewed it."
            ),
            entry=entry.pk,
        )
    if entry.status == EntryStatus.GENERATING:
        raise Busy(_("This entry is being written. Share it once it is finished."), entry=entry.pk)
    if not entry.text:
        raise DiaryError(_("There is no text to share yet."), entry=entry.pk)


def _needs_check(entry: DiaryEntry) -> bool:
    return entry.moderation_state == ModerationState.UNCHECKED or entry.text_needs_check


def _check_again_later() -> str:
    return _(
        "The automatic check could not run just now, so the entry cannot be shared yet. "
        "Nothing is lost; try again in a few minutes."
    )


def entry_share(*, user, entry: DiaryEntry) -> DiaryEntry:
    """Share an own entry by an unguessable link.

    Text that has not passed the automatic check is checked first (a check that failed earlier
    is retried here); a flagged or hidden entry is refused. Sharing a shared entry again only
    re-runs a pending check.
    """
    with transaction.atomic():
        current = _own_entry_locked(user=user, entry=entry)
        _refuse_to_share(current)
    if _needs_check(current):
        # Outside any transaction: the check may take a few seconds.
        if entry_text_check(entry=current) is None:
            raise DiaryError(_check_again_later(), entry=current.pk)
    with transaction.atomic():
        locked = _own_entry_locked(user=user, entry=entry)
        _refuse_to_share(locked)  # flagged by the check just now, or changed meanwhile
        if _needs_check(locked):
            raise DiaryError(_check_again_later(), entry=locked.pk)
        if locked.is_shared:
            return locked
        locked.sharing = Sharing.LINK
        locked.share_token = secrets.token_urlsafe(24)
        locked.save(update_fields=["sharing", "share_token"])
        moderation_event_record(action=ModerationAction.ENTRY_SHARED, actor=user, entry=locked)
    return locked


@transaction.atomic
def entry_unshare(*, user, entry: DiaryEntry) -> DiaryEntry:
    """Stop sharing an own entry; its link stops working for good (sharing makes a new one)."""
    locked = _own_entry_locked(user=user, entry=entry)
    if locked.sharing == Sharing.PRIVATE and not locked.share_token:
        return locked
    locked.sharing = Sharing.PRIVATE
    locked.share_token = None
    locked.save(update_fields=["sharing", "share_token"])
    moderation_event_record(action=ModerationAction.ENTRY_UNSHARED, actor=user, entry=locked)
    return locked


def _reports_key(user_id: int) -> str:
    return f"diary-reports:{user_id}:{int(time.time() // 3600)}"


def entry_report(*, user, entry: DiaryEntry, reason: str, details: str = "") -> Report:
    """Report a shared entry: signed-in people only, one open report per person and entry,
    at most DIARY_REPORTS_PER_HOUR reports per person per hour."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        raise DiaryError(_("Sign in to report an entry."))
    if reason not in ReportReason.values:
        raise DiaryError(_("Choose a reason."), entry=entry.pk)
    current = DiaryEntry.objects.filter(pk=entry.pk).first()
    if current is not None and current.owner_id == user.pk:
        raise DiaryError(_("This is your own entry."), entry=entry.pk)
    if current is None or not selectors.entry_is_published(entry=current):
        raise NotFound(_("This entry is not shared."), entry=entry.pk)
    if Report.objects.filter(entry=entry, reporter=user, status=ReportStatus.OPEN).exists():
        raise AlreadyReported(
            _("You have already reported this entry; a moderator will look at it."),
            entry=entry.pk,
        )
    key = _reports_key(user.pk)
    if cache.get(key, 0) >= settings.DIARY_REPORTS_PER_HOUR:
        raise RateLimited(
            _("You have sent many reports in the last hour. Please try again later."),
            entry=entry.pk,
        )
    try:
        with transaction.atomic():
            report = Report.objects.create(
                entry=entry, reporter=user, reason=reason, details=details.strip()[:1000]
            )
            moderation_event_record(
                action=ModerationAction.REPORT_FILED,
                actor=user,
                entry=entry,
                report=report,
                reason=report.get_reason_display(),
                details={"reason": reason},
            )
    except IntegrityError:  # the same person, twice at once
        raise AlreadyReported(
            _("You have already reported this entry; a moderator will look at it."),
            entry=entry.pk,
        ) from None
    cache.add(key, 0, timeout=3600)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=3600)
    return report
