"""A person's whole diary as Markdown (to read) and as JSON (to keep or move elsewhere)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import DiaryEntry, EntryEdit, Generation, Profile
from .pseudonyms import parse_names

FORMAT_VERSION = 1


def _writer_label(name: str, model: str) -> str:
    if name == "owner":
        return _("Edited by you")
    if name == "offline":
        return _("Offline writer (no AI service configured)")
    if name == "openai":
        return _("OpenAI-compatible model %(model)s") % {"model": model}
    return f"{name} ({model})" if model else name


def entries_as_markdown(entries: Iterable[DiaryEntry], *, user) -> str:
    """Every entry, oldest first: its text, then the notes it was written from."""
    now = timezone.localtime()
    lines = [
        "# " + _("The diary of %(name)s") % {"name": user.get_username()},
        "",
        _("Exported from Nikki on %(date)s.") % {"date": now.strftime("%Y-%m-%d %H:%M %Z")},
        "",
    ]
    for entry in entries:
        facts = [
            (_("Tone"), entry.get_tone_display()),
            (_("Language"), entry.get_language_display()),
            (_("Status"), entry.get_status_display()),
        ]
        if entry.writer:
            facts.append((_("Writer"), _writer_label(entry.writer, entry.model_name)))
        lines += ["## " + entry.date.isoformat(), ""]
        lines += [f"- {label}: {value}" for label, value in facts]
        lines += ["", entry.text.strip() or "_" + _("Not written yet.") + "_", ""]
        notes = [
            (_("Morning"), entry.morning),
            (_("Afternoon"), entry.afternoon),
            (_("Evening"), entry.evening),
            (_("Notes"), entry.notes),
        ]
        if any(value.strip() for _label, value in notes):
            lines += ["### " + _("Your notes"), ""]
            for label, value in notes:
                if value.strip():
                    lines += [f"**{label}:** {value.strip()}", ""]
    return "\n".join(lines).rstrip() + "\n"


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _generation(generation: Generation) -> dict[str, Any]:
    return {
        "id": generation.pk,
        "status": generation.status,
        "text": generation.text,
        "writer": generation.writer,
        "model": generation.model_name,
        "tone": generation.tone,
        "language": generation.language,
        "error_code": generation.error_code,
        "error_message": generation.error_message,
        "finish_reason": generation.finish_reason,
        "usage": {
            "prompt_tokens": generation.prompt_tokens,
            "completion_tokens": generation.completion_tokens,
            "total_tokens": generation.total_tokens,
        },
        "time_to_first_token_ms": generation.time_to_first_token_ms,
        "duration_ms": generation.duration_ms,
        "started_at": _iso(generation.started_at),
        "finished_at": _iso(generation.finished_at),
    }


def _edit(edit: EntryEdit) -> dict[str, Any]:
    return {
        "id": edit.pk,
        "text": edit.text,
        "previous_text": edit.previous_text,
        "created_at": _iso(edit.created_at),
    }


def entries_as_data(entries: Iterable[DiaryEntry], *, user, profile: Profile) -> dict[str, Any]:
    """Everything about every entry, with every generation and edit (oldest first)."""
    return {
        "format": "nikki-export",
        "version": FORMAT_VERSION,
        "exported_at": _iso(timezone.now()),
        "user": {
            "username": user.get_username(),
            "email": user.email,
            "date_joined": _iso(user.date_joined),
            "settings": {
                "display_name": profile.display_name,
                "ui_language": profile.ui_language,
                "default_language": profile.default_language,
                "default_tone": profile.default_tone,
                "time_zone": profile.time_zone,
                "keep_names_from_model": profile.keep_names_from_model,
                "names_kept_from_model": parse_names(profile.private_names),
            },
        },
        "entries": [
            {
                "id": entry.pk,
                **entry.inputs(),
                "text": entry.text,
                "status": entry.status,
                "writer": entry.writer,
                "model": entry.model_name,
                "sharing": entry.sharing,
                "source": entry.source,
                "created_at": _iso(entry.created_at),
                "updated_at": _iso(entry.updated_at),
                "generations": [
                    _generation(g) for g in sorted(entry.generations.all(), key=_started)
                ],
                "edits": [_edit(e) for e in sorted(entry.edits.all(), key=_created)],
            }
            for entry in entries
        ],
    }


def _started(generation: Generation) -> tuple[dt.datetime, int]:
    return generation.started_at, generation.pk


def _created(edit: EntryEdit) -> tuple[dt.datetime, int]:
    return edit.created_at, edit.pk


def entries_as_json(entries: Iterable[DiaryEntry], *, user, profile: Profile) -> str:
    data = entries_as_data(entries, user=user, profile=profile)
    return json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2) + "\n"
