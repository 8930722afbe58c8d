"""The owners' own edits of their entries (superusers only), read-only."""

from __future__ import annotations

from django.contrib import admin

from ..models import EntryEdit
from .lookups import DeclaredLookupsOnly


@admin.register(EntryEdit)
class EntryEditAdmin(DeclaredLookupsOnly, admin.ModelAdmin):
    list_display = ("id", "entry", "created_at")
    raw_id_fields = ("entry",)
    readonly_fields = ("entry", "text", "previous_text", "created_at")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
