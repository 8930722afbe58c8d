"""What every page of the moderation desk shares: the action bar with its reason, per-row
outcomes, the link to an entry, and the read-only inline."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import ActionLocation, helpers
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..exceptions import DiaryError
from ..models import DiaryEntry

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


def action_reason(request: HttpRequest) -> str:
    """The reason typed into the action bar (trimmed to what an audit record keeps)."""
    # The action form is prefixed on an object's own page.
    value = request.POST.get("reason") or request.POST.get(
        f"{ActionLocation.CHANGE_FORM.value}-reason", ""
    )
    return value.strip()[:500]


def hide_reason(model_admin: admin.ModelAdmin, request: HttpRequest) -> str:
    """The reason for hiding, which the owner sees; "" (and the moderator is told) if none."""
    reason = action_reason(request)
    if not reason:
        model_admin.message_user(
            request,
            gettext("Give a reason for hiding: the owner will see it. Nothing was hidden."),
            messages.ERROR,
        )
    return reason


def per_row(
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


def entry_link(entry: DiaryEntry | None) -> str:
    if entry is None:
        return "—"
    url = reverse("admin:diaries_diaryentry_change", args=[entry.pk])
    return format_html('<a href="{}">{}</a>', url, f"#{entry.pk}")


class ReadOnlyAdmin:
    """Mix into a ModelAdmin: its rows are written by services only, never added, changed or
    deleted by hand (actions still run, through their own permissions)."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


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
