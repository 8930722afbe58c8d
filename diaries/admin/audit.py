"""The audit trail on the desk: every moderation decision (`ModerationEvent`), read-only."""

from __future__ import annotations

from django.contrib import admin
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..models import ModerationEvent
from .common import ReadOnlyAdmin, entry_link
from .lookups import DeclaredLookupsOnly


@admin.register(ModerationEvent)
class ModerationEventAdmin(DeclaredLookupsOnly, ReadOnlyAdmin, admin.ModelAdmin):
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

    @admin.display(description=_("who"), ordering="actor_name")
    def actor_display(self, obj: ModerationEvent) -> str:
        return obj.actor_name or gettext("the system")

    @admin.display(description=_("entry"), ordering="entry")
    def entry_display(self, obj: ModerationEvent) -> str:
        if obj.entry_id is not None:
            return entry_link(obj.entry)
        entry_id = obj.details.get("entry") if isinstance(obj.details, dict) else None
        return gettext("#%(id)s (deleted)") % {"id": entry_id} if entry_id else "—"

    @admin.display(description=_("why"))
    def reason_short(self, obj: ModerationEvent) -> str:
        return Truncator(obj.reason).chars(80)
