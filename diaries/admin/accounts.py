"""People on the desk: accounts with their usage and daily limit, (de)activation; Django's own
user and group pages under the same URL filters rule; the profiles (superusers only)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import selectors
from ..exceptions import DiaryError
from ..models import Account, ModerationAction, Profile
from ..services.accounts import user_deactivate, user_reactivate, user_set_daily_limit
from ..services.moderation import moderation_event_record
from .common import EVERYWHERE, ModerationActionForm, action_reason, per_row
from .lookups import DeclaredLookupsOnly
from .usage import usage_summary


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
    def tokens_today(self, obj: Account) -> str:
        return usage_summary(obj.tokens_today, obj.unknown_today)

    @admin.display(description=_("tokens in all"), ordering="tokens_total")
    def tokens_total(self, obj: Account) -> str:
        return usage_summary(obj.tokens_total, obj.unknown_total)

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
        reason = action_reason(request)
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
        reason = action_reason(request)
        per_row(
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


@admin.register(Profile)
class ProfileAdmin(DeclaredLookupsOnly, admin.ModelAdmin):
    list_display = ("user", "display_name", "default_language", "daily_generation_limit")
    raw_id_fields = ("user",)
    search_fields = ("user__username", "display_name")
    # Set through Accounts, so that the change reaches the audit trail; the names a person
    # keeps from the model are their own choice, made in Settings.
    readonly_fields = ("daily_generation_limit", "keep_names_from_model", "private_names")
