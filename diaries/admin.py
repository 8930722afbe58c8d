"""The admin as a moderation desk.

Moderators (the "Moderators" group, created by migration 0004) work here. Every decision goes
through a service, which writes the audit trail (`ModerationEvent`); the admin itself edits no
diary. A moderator who is not a superuser sees only entries that are shared, flagged, hidden or
have an open report — never a private diary nobody has reason to look at, nor one whose reports
were all dismissed or resolved — in lists, on object pages and by direct address alike
(`get_queryset` and the object-level permissions). Every list accepts only the URL filters it
declares (`DeclaredLookupsOnly`), so no hidden field can be read through the query string.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import ActionLocation, helpers
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import selectors
from .admin_lookups import DeclaredLookupsOnly
from .exceptions import DiaryError
from .models import (
    Account,
    DiaryEntry,
    EntryEdit,
    Generation,
    ModerationAction,
    ModerationEvent,
    ModerationState,
    Profile,
    Report,
    ReportStatus,
)
from .services.accounts import user_deactivate, user_reactivate, user_set_daily_limit
from .services.checks import entry_text_check
from .services.moderation import (
    entry_clear_flag,
    entry_hide,
    entry_restore,
    entry_share_revoke,
    moderation_event_record,
    report_resolve,
)

# Actions run from the list (on the selected rows) and from an object's own page.
EVERYWHERE = [ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM]


class ModerationActionForm(helpers.ActionForm):
    """The action bar, with the "why" every decision records (and a hidden entry's owner sees)."""

    reason = forms.CharField(
        label=_("Reason:"),
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"size": 40}),
    )


def _reason(request: HttpRequest) -> str:
    # The action form is prefixed on an object's own page.
    value = request.POST.get("reason") or request.POST.get(
        f"{ActionLocation.CHANGE_FORM.value}-reason", ""
    )
    return value.strip()[:500]


def _per_row(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    rows: Iterable[Any],
    act: Callable[[Any], object],
    done: str,
) -> None:
    """Run a service on each row and report each outcome, refusals included."""
    for row in rows:
        try:
            act(row)
        except DiaryError as exc:
            model_admin.message_user(request, f"{row}: {exc.message}", messages.WARNING)
        else:
            model_admin.message_user(request, done % {"row": row}, messages.SUCCESS)


def _entry_link(entry: DiaryEntry | None) -> str:
    if entry is None:
        return "—"
    url = reverse("admin:diaries_diaryentry_change", args=[entry.pk])
    return format_html('<a href="{}">{}</a>', url, f"#{entry.pk}")


# --- diary entries ------------------------------------------------------------------------


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


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class GenerationInline(ReadOnlyInline):
    model = Generation
    verbose_name_plural = _("generations (history)")
    fields = (
        "started_at",
        "status",
        "writer",
        "model_name",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
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
class DiaryEntryAdmin(DeclaredLookupsOnly, admin.ModelAdmin):
    list_display = (
        "id",
        "owner",
        "date",
        "status",
        "moderation_state",
        "shared",
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
        "status",
        "writer",
        "model_name",
        ("owner", admin.RelatedOnlyFieldListFilter),
        "date",
    )
    search_fields = ("owner__username", "text")
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
                        ("created_at", "updated_at"),
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

    # Entries are written by their owners; the admin moderates, it does not edit nor delete.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

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
        reason = _reason(request)
        if not reason:
            self.message_user(
                request,
                gettext("Give a reason for hiding: the owner will see it. Nothing was hidden."),
                messages.ERROR,
            )
            return
        _per_row(
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
        reason = _reason(request)
        _per_row(
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
        reason = _reason(request)
        _per_row(
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
        reason = _reason(request)
        _per_row(
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


@admin.register(Generation)
class GenerationAdmin(DeclaredLookupsOnly, admin.ModelAdmin):
    list_display = (
        "id",
        "entry",
        "status",
        "writer",
        "model_name",
        "error_code",
        "total_tokens",
        "time_to_first_token_ms",
        "duration_ms",
        "started_at",
    )
    list_filter = ("status", "writer", "model_name", "error_code", "started_at")
    raw_id_fields = ("entry",)
    list_select_related = ("entry__owner",)
    readonly_fields = [f.name for f in Generation._meta.fields]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(entry__in=selectors.entries_for_moderation(user=request.user))
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        if not super().has_view_permission(request, obj):
            return False
        return obj is None or selectors.entry_visible_to_moderator(
            user=request.user, entry=obj.entry
        )


# --- reports and the audit trail ----------------------------------------------------------


@admin.register(Report)
class ReportAdmin(DeclaredLookupsOnly, admin.ModelAdmin):
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

    def has_add_permission(self, request) -> bool:
        return False  # people report from the shared page

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # reports change by the actions only

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_resolve_permission(self, request) -> bool:
        return request.user.has_perm("diaries.change_report")

    def has_moderate_permission(self, request) -> bool:
        return self.has_resolve_permission(request) and request.user.has_perm(
            "diaries.moderate_diaryentry"
        )

    @admin.display(description=_("entry"), ordering="entry")
    def entry_link(self, obj: Report) -> str:
        return _entry_link(obj.entry)

    @admin.display(description=_("owner"), ordering="entry__owner__username")
    def entry_owner(self, obj: Report) -> str:
        return obj.entry.owner.get_username()

    @admin.action(
        description=_("Resolve (acted on)"), permissions=("resolve",), location=EVERYWHERE
    )
    def resolve_reports(self, request, queryset):
        note = _reason(request)
        _per_row(
            self,
            request,
            queryset,
            lambda report: report_resolve(
                actor=request.user, report=report, status=ReportStatus.RESOLVED, note=note
            ),
            gettext("%(row)s: resolved."),
        )

    @admin.action(
        description=_("Dismiss (no action needed)"), permissions=("resolve",), location=EVERYWHERE
    )
    def dismiss_reports(self, request, queryset):
        note = _reason(request)
        _per_row(
            self,
            request,
            queryset,
            lambda report: report_resolve(
                actor=request.user, report=report, status=ReportStatus.DISMISSED, note=note
            ),
            gettext("%(row)s: dismissed."),
        )

    @admin.action(
        description=_("Hide the reported entries and resolve their reports"),
        permissions=("moderate",),
        location=EVERYWHERE,
    )
    def hide_reported_entries(self, request, queryset):
        reason = _reason(request)
        if not reason:
            self.message_user(
                request,
                gettext("Give a reason for hiding: the owner will see it. Nothing was hidden."),
                messages.ERROR,
            )
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
            _per_row(
                self,
                request,
                Report.objects.filter(entry=entry, status=ReportStatus.OPEN),
                lambda report: report_resolve(
                    actor=request.user, report=report, status=ReportStatus.RESOLVED, note=reason
                ),
                gettext("%(row)s: resolved."),
            )


@admin.register(ModerationEvent)
class ModerationEventAdmin(DeclaredLookupsOnly, admin.ModelAdmin):
    """The audit trail: read-only for everyone, superusers included."""

    list_display = (
        "created_at",
        "action",
        "actor_display",
        "entry_display",
        "subject",
        "reason_short",
    )
    list_filter = ("action", "created_at")
    search_fields = ("actor_name", "subject__username", "reason")
    list_select_related = ("subject",)
    date_hierarchy = "created_at"
    fields = (
        "created_at",
        "action",
        "actor_display",
        "entry_display",
        "report",
        "subject",
        "reason",
        "details",
    )
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("who"), ordering="actor_name")
    def actor_display(self, obj: ModerationEvent) -> str:
        return obj.actor_name or gettext("the system")

    @admin.display(description=_("entry"), ordering="entry")
    def entry_display(self, obj: ModerationEvent) -> str:
        if obj.entry_id is not None:
            return _entry_link(obj.entry)
        entry_id = obj.details.get("entry") if isinstance(obj.details, dict) else None
        return gettext("#%(id)s (deleted)") % {"id": entry_id} if entry_id else "—"

    @admin.display(description=_("why"))
    def reason_short(self, obj: ModerationEvent) -> str:
        return Truncator(obj.reason).chars(80)


# --- accounts -----------------------------------------------------------------------------


class AccountForm(forms.ModelForm):
    daily_generation_limit = forms.IntegerField(
        label=_("Daily generation limit"),
        required=False,
        min_value=0,
        help_text=_("Generations per day for this person; empty: the site's default."),
    )
    limit_reason = forms.CharField(
        label=_("Reason"),
        required=False,
        max_length=500,
        help_text=_("Kept in the audit trail with the change."),
    )

    class Meta:
        model = Account
        fields = ()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["daily_generation_limit"].initial = (
                Profile.objects.filter(user=self.instance)
                .values_list("daily_generation_limit", flat=True)
                .first()
            )


@admin.register(Account)
class AccountAdmin(DeclaredLookupsOnly, admin.ModelAdmin):
    """People as the moderation desk sees them: usage today, their limit, active or not."""

    form = AccountForm
    list_display = (
        "username",
        "display_name",
        "is_active",
        "is_staff",
        "generations_today",
        "tokens_today",
        "tokens_total",
        "daily_limit",
        "last_login",
        "date_joined",
    )
    list_filter = ("is_active", "is_staff", "date_joined")
    search_fields = ("username", "diary_profile__display_name")
    list_select_related = ("diary_profile",)
    ordering = ("username",)
    action_form = ModerationActionForm
    actions = ("deactivate_accounts", "reactivate_accounts")
    fields = (
        ("username", "display_name"),
        ("is_active", "is_staff"),
        ("date_joined", "last_login"),
        ("generations_today", "tokens_today", "tokens_total"),
        "daily_generation_limit",
        "limit_reason",
    )
    readonly_fields = (
        "username",
        "display_name",
        "is_active",
        "is_staff",
        "date_joined",
        "last_login",
        "generations_today",
        "tokens_today",
        "tokens_total",
    )

    def get_queryset(self, request):
        return selectors.accounts_with_usage(super().get_queryset(request))

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        if not super().has_change_permission(request, obj):
            return False
        # Only a superuser acts on staff accounts.
        return obj is None or request.user.is_superuser or not (obj.is_staff or obj.is_superuser)

    def save_model(self, request, obj, form, change) -> None:
        # Nothing of the user row itself is edited here: only the limit, through its service.
        user_set_daily_limit(
            actor=request.user,
            user=obj,
            limit=form.cleaned_data["daily_generation_limit"],
            reason=form.cleaned_data["limit_reason"],
        )

    @admin.display(description=_("display name"), ordering="diary_profile__display_name")
    def display_name(self, obj: Account) -> str:
        profile = getattr(obj, "diary_profile", None)
        return profile.display_name if profile is not None else ""

    @admin.display(description=_("generations today"), ordering="generations_today")
    def generations_today(self, obj: Account) -> int:
        return obj.generations_today

    @admin.display(description=_("tokens today"), ordering="tokens_today")
    def tokens_today(self, obj: Account) -> int:
        return obj.tokens_today or 0

    @admin.display(description=_("tokens in all"), ordering="tokens_total")
    def tokens_total(self, obj: Account) -> int:
        return obj.tokens_total or 0

    @admin.display(description=_("daily limit"), ordering="diary_profile__daily_generation_limit")
    def daily_limit(self, obj: Account) -> str:
        profile = getattr(obj, "diary_profile", None)
        own = profile.daily_generation_limit if profile is not None else None
        if own is None:
            return gettext("%(n)d (default)") % {"n": selectors.daily_limit_for(user=obj)}
        return str(own)

    @admin.action(
        description=_("Deactivate (sockets close, running generations stop and are saved)"),
        permissions=("change",),
        location=EVERYWHERE,
    )
    def deactivate_accounts(self, request, queryset):
        reason = _reason(request)
        for account in queryset:
            try:
                stopped = user_deactivate(actor=request.user, user=account, reason=reason)
            except DiaryError as exc:
                self.message_user(request, f"{account}: {exc.message}", messages.WARNING)
                continue
            self.message_user(
                request,
                gettext("%(user)s: deactivated; %(n)d running generation(s) stopped.")
                % {"user": account, "n": stopped},
                messages.SUCCESS,
            )

    @admin.action(description=_("Reactivate"), permissions=("change",), location=EVERYWHERE)
    def reactivate_accounts(self, request, queryset):
        reason = _reason(request)
        _per_row(
            self,
            request,
            queryset,
            lambda account: user_reactivate(actor=request.user, user=account, reason=reason),
            gettext("%(row)s: reactivated."),
        )


User = get_user_model()
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(DeclaredLookupsOnly, DjangoGroupAdmin):
    """Django's group admin, with the same URL filters rule as every list here."""


@admin.register(User)
class UserAdmin(DeclaredLookupsOnly, DjangoUserAdmin):
    """Django's user admin (superusers), whose activation changes reach the audit trail too."""

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)  # deactivation closes the sockets
        if change and "is_active" in form.changed_data:
            moderation_event_record(
                action=(
                    ModerationAction.USER_REACTIVATED
                    if obj.is_active
                    else ModerationAction.USER_DEACTIVATED
                ),
                actor=request.user,
                subject=obj,
                reason=gettext("Changed on the user's page."),
            )


# --- the owners' own records (superusers only) --------------------------------------------


@admin.register(EntryEdit)
class EntryEditAdmin(DeclaredLookupsOnly, admin.ModelAdmin):
    list_display = ("id", "entry", "created_at")
    raw_id_fields = ("entry",)
    readonly_fields = ("entry", "text", "previous_text", "created_at")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Profile)
class ProfileAdmin(DeclaredLookupsOnly, admin.ModelAdmin):
    list_display = ("user", "display_name", "default_language", "daily_generation_limit")
    raw_id_fields = ("user",)
    search_fields = ("user__username", "display_name")
    # Set through Accounts, so that the change reaches the audit trail.
    readonly_fields = ("daily_generation_limit",)
