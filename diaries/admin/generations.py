"""Generations on the desk: every attempt at an entry, read-only, as far as its entry is
visible to the moderator."""

from __future__ import annotations

from django.contrib import admin

from .. import selectors
from ..models import Generation
from .common import ReadOnlyAdmin
from .lookups import DeclaredLookupsOnly
from .usage import USAGE_SHOWN, GenerationUsageColumns


@admin.register(Generation)
class GenerationAdmin(GenerationUsageColumns, DeclaredLookupsOnly, ReadOnlyAdmin, admin.ModelAdmin):
    list_display = (
        "id",
        "entry",
        "status",
        "writer",
        "model_name",
        "error_code",
        "total_tokens_shown",
        "time_to_first_token_ms",
        "duration_ms",
        "started_at",
    )
    list_filter = ("status", "writer", "model_name", "error_code", "started_at")
    raw_id_fields = ("entry",)
    list_select_related = ("entry__owner",)
    readonly_fields = [USAGE_SHOWN.get(f.name, f.name) for f in Generation._meta.fields]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(entry__in=selectors.entries_for_moderation(user=request.user))
        )

    def has_view_permission(self, request, obj=None) -> bool:
        if not super().has_view_permission(request, obj):
            return False
        return obj is None or selectors.entry_visible_to_moderator(
            user=request.user, entry=obj.entry
        )
