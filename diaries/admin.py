from django.contrib import admin

from .models import DiaryEntry, EntryEdit, Generation, Profile


class GenerationInline(admin.TabularInline):
    model = Generation
    extra = 0
    can_delete = False
    fields = (
        "status",
        "writer",
        "model_name",
        "error_code",
        "total_tokens",
        "time_to_first_token_ms",
        "duration_ms",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DiaryEntry)
class DiaryEntryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "owner",
        "date",
        "status",
        "moderation_state",
        "sharing",
        "writer",
        "model_name",
        "updated_at",
    )
    list_filter = ("status", "moderation_state", "sharing", "writer", "language", "tone")
    search_fields = ("owner__username", "text")
    raw_id_fields = ("owner",)
    date_hierarchy = "date"
    inlines = (GenerationInline,)


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
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
    list_filter = ("status", "writer", "error_code")
    raw_id_fields = ("entry",)
    readonly_fields = [f.name for f in Generation._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(EntryEdit)
class EntryEditAdmin(admin.ModelAdmin):
    list_display = ("id", "entry", "created_at")
    raw_id_fields = ("entry",)


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "display_name", "default_language", "daily_generation_limit")
    raw_id_fields = ("user",)
    search_fields = ("user__username", "display_name")
