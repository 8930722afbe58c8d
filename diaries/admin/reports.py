"""Reports on the desk: what readers reported, resolved or dismissed, or acted on by hiding the
entry."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import selectors
from ..exceptions import DiaryError
from ..models import ModerationState, Report, ReportStatus
from ..services.moderation import entry_hide, report_resolve
from .common import (
    EVERYWHERE,
    ModerationActionForm,
    ReadOnlyAdmin,
    action_reason,
    entry_link,
    hide_reason,
    per_row,
)
from .lookups import DeclaredLookupsOnly


@admin.register(Report)
class ReportAdmin(DeclaredLookupsOnly, ReadOnlyAdmin, admin.ModelAdmin):
    """Reports: people file them from the shared page; they change by the actions only."""

    list_display = (
        "id",
        "entry_link",
        "entry_owner",
        "reason",
        "status",
        "reporter",
        "created_at",
        "resolved_by",
        "resolved_at",
    )
    list_filter = ("status", "reason", "created_at")
    search_fields = ("entry__owner__username", "reporter__username", "details")
    raw_id_fields = ("entry", "reporter", "resolved_by")
    list_select_related = ("entry__owner", "reporter", "resolved_by")
    date_hierarchy = "created_at"
    action_form = ModerationActionForm
    actions = ("resolve_reports", "dismiss_reports", "hide_reported_entries")
    fields = (
        "entry_link",
        "entry_owner",
        "reason",
        "details",
        "status",
        "reporter",
        "created_at",
        "resolved_by",
        "resolved_at",
        "resolution_note",
    )
    readonly_fields = fields

    # Every report stays listed, closed ones too: a report holds the reporter's words, never
    # diary text, and its entry link opens only what the entries' own rule allows.

    def has_resolve_permission(self, request) -> bool:
        return request.user.has_perm("diaries.change_report")

    def has_moderate_permission(self, request) -> bool:
        return self.has_resolve_permission(request) and request.user.has_perm(
            "diaries.moderate_diaryentry"
        )

    @admin.display(description=_("entry"), ordering="entry")
    def entry_link(self, obj: Report) -> str:
        return entry_link(obj.entry)

    @admin.display(description=_("owner"), ordering="entry__owner__username")
    def entry_owner(self, obj: Report) -> str:
        return obj.entry.owner.get_username()

    @admin.action(
        description=_("Resolve (acted on)"), permissions=("resolve",), location=EVERYWHERE
    )
    def resolve_reports(self, request, queryset):
        self._close(request, queryset, ReportStatus.RESOLVED, action_reason(request))

    @admin.action(
        description=_("Dismiss (no action needed)"), permissions=("resolve",), location=EVERYWHERE
    )
    def dismiss_reports(self, request, queryset):
        self._close(request, queryset, ReportStatus.DISMISSED, action_reason(request))

    @admin.action(
        description=_("Hide the reported entries and resolve their reports"),
        permissions=("moderate",),
        location=EVERYWHERE,
    )
    def hide_reported_entries(self, request, queryset):
        reason = hide_reason(self, request)
        if not reason:
            return
        entries = {report.entry_id: report.entry for report in queryset}
        # Hiding makes an entry visible to moderators: only an entry they may already see.
        visible = set(
            selectors.entries_for_moderation(user=request.user)
            .filter(pk__in=entries)
            .values_list("pk", flat=True)
        )
        for entry in entries.values():
            if entry.pk not in visible:
                # Only a closed report leads to an entry a moderator may not see.
                self.message_user(
                    request,
                    f"{entry}: {gettext('The report was already closed.')}",
                    messages.WARNING,
                )
                continue
            try:
                if entry.moderation_state != ModerationState.HIDDEN:
                    entry_hide(actor=request.user, entry=entry, reason=reason)
            except DiaryError as exc:
                self.message_user(request, f"{entry}: {exc.message}", messages.WARNING)
                continue
            self.message_user(request, gettext("%(row)s: hidden.") % {"row": entry})
            self._close(
                request,
                Report.objects.filter(entry=entry, status=ReportStatus.OPEN),
                ReportStatus.RESOLVED,
                reason,
            )

    def _close(self, request, reports, status: ReportStatus, note: str) -> None:
        done = {
            ReportStatus.RESOLVED: gettext("%(row)s: resolved."),
            ReportStatus.DISMISSED: gettext("%(row)s: dismissed."),
        }[status]
        per_row(
            self,
            request,
            reports,
            lambda report: report_resolve(
                actor=request.user, report=report, status=status, note=note
            ),
            done,
        )
