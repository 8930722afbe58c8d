"""Diary entries on the desk: the moderation queue, its filters, an entry's history inline, and
the decisions (hide, restore, clear a flag, revoke a share, check again)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import selectors
from ..models import DiaryEntry, Generation, ModerationEvent, ModerationState, Report
from ..services.checks import entry_text_check
from ..services.moderation import entry_clear_flag, entry_hide, entry_restore, entry_share_revoke
from .common import (
    EVERYWHERE,
    ModerationActionForm,
    ReadOnlyAdmin,
    ReadOnlyInline,
    action_reason,
    hide_reason,
    per_row,
)
from .lookups import DeclaredLookupsOnly
from .usage import GenerationUsageColumns


class QueueFilter(admin.SimpleListFilter):
    title = _("moderation queue")
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return (
            ("review", _("Needs review")),
            ("reported", _("Open reports")),
            ("flagged", _("Flagged")),
            ("unchecked", _("Not checked")),
        )

    def queryset(self, request, queryset):
        match self.value():
            case "review":
                return selectors.entries_needing_review(queryset)
            case "reported":
                return queryset.filter(open_report_count__gt=0)
            case "flagged":
                return queryset.filter(moderation_state=ModerationState.FLAGGED)
            case "unchecked":
                return queryset.filter(moderation_state=ModerationState.UNCHECKED)
        return queryset


class ReportCountFilter(admin.SimpleListFilter):
    title = _("reports")
    parameter_name = "reports"

    def lookups(self, request, model_admin):
        return (("open", _("Open reports")), ("any", _("Any report")), ("none", _("No report")))

    def queryset(self, request, queryset):
        match self.value():
            case "open":
                return queryset.filter(open_report_count__gt=0)
            case "any":
                return queryset.filter(report_count__gt=0)
            case "none":
                return queryset.filter(report_count=0)
        return queryset


class TrashFilter(admin.SimpleListFilter):
    title = _("trash")
    parameter_name = "trash"

    def lookups(self, request, model_admin):
        return (("in", _("In the trash")), ("out", _("Not in the trash")))

    def queryset(self, request, queryset):
        match self.value():
            case "in":
                return queryset.filter(trashed_at__isnull=False)
            case "out":
                return queryset.filter(trashed_at__isnull=True)
        return queryset


class GenerationInline(GenerationUsageColumns, ReadOnlyInline):
    model = Generation
    verbose_name_plural = _("generations (history)")
    fields = (
        "started_at",
        "status",
        "writer",
        "model_name",
        "prompt_tokens_shown",
        "completion_tokens_shown",
        "total_tokens_shown",
        "time_to_first_token_ms",
        "duration_ms",
        "error_code",
        "error_message",
        "finished_at",
    )


class ReportInline(ReadOnlyInline):
    model = Report
    fk_name = "entry"
    fields = (
        "created_at",
        "reason",
        "details",
        "status",
        "reporter",
        "resolved_by",
        "resolution_note",
    )


class ModerationEventInline(ReadOnlyInline):
    model = ModerationEvent
    fk_name = "entry"
    verbose_name_plural = _("audit trail")
    fields = ("created_at", "action", "actor_name", "reason", "details")


@admin.register(DiaryEntry)
class DiaryEntryAdmin(DeclaredLookupsOnly, ReadOnlyAdmin, admin.ModelAdmin):
    """Entries are written by their owners; the admin moderates, it does not edit nor delete."""

    list_display = (
        "id",
        "owner",
        "date",
        "status",
        "moderation_state",
        "shared",
        "in_trash",
        "report_count",
        "open_report_count",
        "writer",
        "model_name",
    )
    list_filter = (
        QueueFilter,
        "moderation_state",
        "sharing",
        ReportCountFilter,
        TrashFilter,
        "status",
        "writer",
        "model_name",
        ("owner", admin.RelatedOnlyFieldListFilter),
        "date",
    )
    # Never the words: they are encrypted at rest (search by owner or entry number).
    search_fields = ("owner__username", "id__exact")
    raw_id_fields = ("owner",)
    list_select_related = ("owner",)
    date_hierarchy = "date"
    ordering = ("-date", "-created_at")
    inlines = (GenerationInline, ReportInline, ModerationEventInline)
    action_form = ModerationActionForm
    actions = (
        "hide_entries",
        "restore_entries",
        "clear_flags",
        "revoke_shares",
        "check_again",
    )
    readonly_fields = (
        "owner_account",
        "date",
        "status",
        "tone",
        "language",
        "writer",
        "model_name",
        "text",
        "created_at",
        "updated_at",
        "trashed_at",
        "sharing",
        "share_link",
        "moderation_state",
        "moderation_reason",
        "text_checked",
        "morning",
        "afternoon",
        "evening",
        "notes",
    )

    def get_fieldsets(self, request, obj=None):
        fieldsets = [
            (
                None,
                {
                    "fields": (
                        ("owner_account", "date"),
                        ("status", "writer", "model_name"),
                        ("tone", "language"),
                        "text",
                        ("created_at", "updated_at", "trashed_at"),
                    )
                },
            ),
            (
                _("Sharing and moderation"),
                {
                    "fields": (
                        ("sharing", "share_link"),
                        ("moderation_state", "text_checked"),
                        "moderation_reason",
                    )
                },
            ),
        ]
        if request.user.is_superuser:
            # The notes are never published; moderators have no reason to read them.
            fieldsets.append(
                (
                    _("The owner's notes (private)"),
                    {
                        "classes": ("collapse",),
                        "fields": ("morning", "afternoon", "evening", "notes"),
                    },
                )
            )
        return fieldsets

    def get_queryset(self, request):
        entries = selectors.entries_for_moderation(
            user=request.user, entries=super().get_queryset(request)
        )
        return selectors.entries_with_report_counts(entries)

    def has_view_permission(self, request, obj=None) -> bool:
        if not super().has_view_permission(request, obj):
            return False
        return obj is None or selectors.entry_visible_to_moderator(user=request.user, entry=obj)

    def has_moderate_permission(self, request) -> bool:
        return request.user.has_perm("diaries.moderate_diaryentry")

    def view_on_site(self, obj: DiaryEntry) -> str | None:
        if selectors.entry_is_published(entry=obj):
            return reverse("diaries:shared_entry", args=[obj.share_token])
        return None

    @admin.display(description=_("owner"))
    def owner_account(self, obj: DiaryEntry) -> str:
        # To the moderators' view of the account, not Django's user page (superusers only).
        url = reverse("admin:diaries_account_change", args=[obj.owner_id])
        return format_html('<a href="{}">{}</a>', url, obj.owner.get_username())

    @admin.display(description=_("shared"), boolean=True, ordering="sharing")
    def shared(self, obj: DiaryEntry) -> bool:
        return obj.is_shared

    @admin.display(description=_("in the trash"), boolean=True, ordering="trashed_at")
    def in_trash(self, obj: DiaryEntry) -> bool:
        return obj.trashed_at is not None

    @admin.display(description=_("reports"), ordering="report_count")
    def report_count(self, obj: DiaryEntry) -> int:
        return obj.report_count

    @admin.display(description=_("open reports"), ordering="open_report_count")
    def open_report_count(self, obj: DiaryEntry) -> int:
        return obj.open_report_count

    @admin.display(description=_("share link"))
    def share_link(self, obj: DiaryEntry) -> str:
        if not obj.is_shared:
            return "—"
        url = reverse("diaries:shared_entry", args=[obj.share_token])
        if not selectors.entry_is_published(entry=obj):
            return format_html("{} ({})", url, gettext("not working: not published"))
        return format_html('<a href="{}" rel="noopener">{}</a>', url, url)

    @admin.display(description=_("text checked"), boolean=True)
    def text_checked(self, obj: DiaryEntry) -> bool:
        return not obj.text_needs_check

    @admin.action(
        description=_("Hide (the share link stops working; the owner sees the reason)"),
        permissions=("moderate",),
        location=EVERYWHERE,
    )
    def hide_entries(self, request, queryset):
        reason = hide_reason(self, request)
        if not reason:
            return
        per_row(
            self,
            request,
            queryset,
            lambda entry: entry_hide(actor=request.user, entry=entry, reason=reason),
            gettext("%(row)s: hidden."),
        )

    @admin.action(
        description=_("Restore hidden entries"), permissions=("moderate",), location=EVERYWHERE
    )
    def restore_entries(self, request, queryset):
        reason = action_reason(request)
        per_row(
            self,
            request,
            queryset,
            lambda entry: entry_restore(actor=request.user, entry=entry, reason=reason),
            gettext("%(row)s: restored."),
        )

    @admin.action(
        description=_("Clear the flag (the entry may be shared)"),
        permissions=("moderate",),
        location=EVERYWHERE,
    )
    def clear_flags(self, request, queryset):
        reason = action_reason(request)
        per_row(
            self,
            request,
            queryset,
            lambda entry: entry_clear_flag(actor=request.user, entry=entry, reason=reason),
            gettext("%(row)s: flag cleared."),
        )

    @admin.action(
        description=_("Revoke the share link"), permissions=("moderate",), location=EVERYWHERE
    )
    def revoke_shares(self, request, queryset):
        reason = action_reason(request)
        per_row(
            self,
            request,
            queryset,
            lambda entry: entry_share_revoke(actor=request.user, entry=entry, reason=reason),
            gettext("%(row)s: share link revoked."),
        )

    @admin.action(
        description=_("Run the automatic check again"),
        permissions=("moderate",),
        location=EVERYWHERE,
    )
    def check_again(self, request, queryset):
        for entry in queryset:
            if not entry.text:
                self.message_user(request, f"{entry}: {gettext('no text')}", messages.WARNING)
                continue
            verdict = entry_text_check(entry=entry)
            if verdict is None:
                text, level = gettext("the check could not run."), messages.WARNING
            elif verdict.flagged:
                text, level = gettext("flagged."), messages.WARNING
            else:
                text, level = gettext("passed."), messages.SUCCESS
            self.message_user(request, f"{entry}: {text}", level)
