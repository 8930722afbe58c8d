"""What moderators decide about entries and reports, and the audit trail every moderation
decision writes: one ModerationEvent (who, what, when, why)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..exceptions import DiaryError
from ..models import (
    DiaryEntry,
    ModerationAction,
    ModerationEvent,
    ModerationState,
    Report,
    ReportStatus,
    Sharing,
    text_digest,
)


def moderation_event_record(
    *,
    action: str,
    actor=None,
    entry: DiaryEntry | None = None,
    report: Report | None = None,
    subject=None,
    reason: str = "",
    details: dict | None = None,
) -> ModerationEvent:
    """Write one row of the audit trail. `actor` None is the system (the automatic check)."""
    details = dict(details or {})
    if entry is not None:
        details.setdefault("entry", entry.pk)
    if report is not None:
        details.setdefault("report", report.pk)
    subject_id = subject.pk if subject is not None else (entry.owner_id if entry else None)
    if subject_id is not None:
        details.setdefault("user", subject_id)
    return ModerationEvent.objects.create(
        action=action,
        actor=actor,
        actor_name=actor.get_username() if actor is not None else "",
        entry=entry,
        report=report,
        subject_id=subject_id,
        reason=reason,
        details=details,
    )


def _entry_locked(entry: DiaryEntry) -> DiaryEntry:
    return DiaryEntry.objects.select_for_update().get(pk=entry.pk)


@transaction.atomic
def entry_hide(*, actor, entry: DiaryEntry, reason: str) -> DiaryEntry:
    """Hide an entry: its share link stops working and its owner sees why."""
    reason = reason.strip()
    if not reason:
        raise DiaryError(_("Give a reason: the owner will see it."), entry=entry.pk)
    locked = _entry_locked(entry)
    if locked.moderation_state == ModerationState.HIDDEN:
        raise DiaryError(_("The entry was already hidden."), entry=locked.pk)
    previous = locked.moderation_state
    locked.moderation_state = ModerationState.HIDDEN
    locked.moderation_reason = reason
    locked.save(update_fields=["moderation_state", "moderation_reason"])
    moderation_event_record(
        action=ModerationAction.ENTRY_HIDDEN,
        actor=actor,
        entry=locked,
        reason=reason,
        details={"previous_state": previous},
    )
    return locked


def _approve(entry: DiaryEntry) -> None:
    """A moderator looked at the text: it may be published as it is."""
    entry.moderation_state = ModerationState.OK
    entry.moderation_reason = ""
    entry.moderation_checked_digest = text_digest(entry.text)
    entry.save(update_fields=["moderation_state", "moderation_reason", "moderation_checked_digest"])


@transaction.atomic
def entry_restore(*, actor, entry: DiaryEntry, reason: str = "") -> DiaryEntry:
    """Undo a hide. The moderator has looked at the text, so it counts as checked."""
    locked = _entry_locked(entry)
    if locked.moderation_state != ModerationState.HIDDEN:
        raise DiaryError(_("The entry is not hidden."), entry=locked.pk)
    _approve(locked)
    moderation_event_record(
        action=ModerationAction.ENTRY_RESTORED, actor=actor, entry=locked, reason=reason.strip()
    )
    return locked


@transaction.atomic
def entry_clear_flag(*, actor, entry: DiaryEntry, reason: str = "") -> DiaryEntry:
    """Clear the automatic check's flag (or its failure): the entry may be shared again."""
    locked = _entry_locked(entry)
    if locked.moderation_state not in (ModerationState.FLAGGED, ModerationState.UNCHECKED):
        raise DiaryError(_("The entry is not flagged."), entry=locked.pk)
    previous = locked.moderation_state
    _approve(locked)
    moderation_event_record(
        action=ModerationAction.FLAG_CLEARED,
        actor=actor,
        entry=locked,
        reason=reason.strip(),
        details={"previous_state": previous},
    )
    return locked


@transaction.atomic
def entry_share_revoke(*, actor, entry: DiaryEntry, reason: str = "") -> DiaryEntry:
    """A moderator stops the sharing of an entry; its link stops working for good."""
    locked = _entry_locked(entry)
    if not locked.is_shared:
        raise DiaryError(_("The entry is not shared."), entry=locked.pk)
    locked.sharing = Sharing.PRIVATE
    locked.share_token = None
    locked.save(update_fields=["sharing", "share_token"])
    moderation_event_record(
        action=ModerationAction.SHARE_REVOKED, actor=actor, entry=locked, reason=reason.strip()
    )
    return locked


@transaction.atomic
def report_resolve(
    *, actor, report: Report, status: str = ReportStatus.RESOLVED, note: str = ""
) -> Report:
    """Close an open report: resolved (a moderator acted) or dismissed (nothing to do)."""
    if status not in (ReportStatus.RESOLVED, ReportStatus.DISMISSED):
        raise DiaryError(_("A report is resolved or dismissed."))
    locked = Report.objects.select_for_update().select_related("entry").get(pk=report.pk)
    if locked.status != ReportStatus.OPEN:
        raise DiaryError(_("The report was already closed."))
    locked.status = status
    locked.resolved_at = timezone.now()
    locked.resolved_by = actor
    locked.resolution_note = note.strip()
    locked.save(update_fields=["status", "resolved_at", "resolved_by", "resolution_note"])
    moderation_event_record(
        action=(
            ModerationAction.REPORT_RESOLVED
            if status == ReportStatus.RESOLVED
            else ModerationAction.REPORT_DISMISSED
        ),
        actor=actor,
        entry=locked.entry,
        report=locked,
        reason=locked.resolution_note,
    )
    return locked
