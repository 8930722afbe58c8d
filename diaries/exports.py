"""A person's whole diary as Markdown (to read) and as JSON (to keep or move elsewhere).

Both are made a page of entries at a time (`*_chunks`), so a download streams in constant
memory whatever the size of the diary; diaries/imports/ reads the JSON back.
"""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import DiaryEntry, EntryEdit, Generation, Profile
from .pseudonyms import parse_names

FORMAT_VERSION = 1
# Entries read (with their generations and edits) and written out at a time.
PAGE = 200


@dataclass
class Exported:
    """An entry with its generations and edits, oldest first."""

    entry: DiaryEntry
    generations: list[Generation]
    edits: list[EntryEdit]


def entries_pages(
    entries: QuerySet[DiaryEntry], *, size: int | None = None
) -> Iterator[list[Exported]]:
    """`entries` oldest first (date, creation, id), a page at a time: each page a query that
    starts after the last entry of the one before, so no page holds more than `size`. The
    versions come in two queries a page, not prefetched: a prefetched version refers back to
    its entry, and those cycles would wait for the garbage collector, growing the memory."""
    size = size or PAGE
    ordered = entries.prefetch_related(None).order_by("date", "created_at", "pk")
    after = Q()
    while True:
        page = list(ordered.filter(after)[:size])
        if not page:
            return
        ids = [entry.pk for entry in page]
        generations = defaultdict(list)
        for generation in Generation.objects.filter(entry_id__in=ids).order_by("started_at", "pk"):
            generations[generation.entry_id].append(generation)
        edits = defaultdict(list)
        for edit in EntryEdit.objects.filter(entry_id__in=ids).order_by("created_at", "pk"):
            edits[edit.entry_id].append(edit)
        yield [Exported(e, generations.pop(e.pk, []), edits.pop(e.pk, [])) for e in page]
        last = page[-1]
        after = (
            Q(date__gt=last.date)
            | Q(date=last.date, created_at__gt=last.created_at)
            | Q(date=last.date, created_at=last.created_at, pk__gt=last.pk)
        )


def _writer_label(name: str, model: str) -> str:
    if name == "owner":
        return _("Edited by you")
    if name == "offline":
        return _("Offline writer (no AI service configured)")
    if name == "openai":
        return _("OpenAI-compatible model %(model)s") % {"model": model}
    return f"{name} ({model})" if model else name


def entries_as_markdown(entries: QuerySet[DiaryEntry], *, user) -> str:
    return "".join(entries_as_markdown_chunks(entries, user=user))


def entries_as_markdown_chunks(entries: QuerySet[DiaryEntry], *, user) -> Iterator[str]:
    """Every entry, oldest first: its text, then the notes it was written from."""
    now = timezone.localtime()
    yield "\n".join(
        [
            "# " + _("The diary of %(name)s") % {"name": user.get_username()},
            "",
            _("Exported from Nikki on %(date)s.") % {"date": now.strftime("%Y-%m-%d %H:%M %Z")},
        ]
    )
    for page in entries_pages(entries):
        lines = []
        for item in page:
            lines += _markdown_entry(item.entry)
        yield "\n\n" + "\n".join(lines).rstrip()
    yield "\n"


def _markdown_entry(entry: DiaryEntry) -> list[str]:
    facts = [
        (_("Tone"), entry.get_tone_display()),
        (_("Language"), entry.get_language_display()),
        (_("Status"), entry.get_status_display()),
    ]
    if entry.writer:
        facts.append((_("Writer"), _writer_label(entry.writer, entry.model_name)))
    if entry.source:
        facts.append((_("Source"), entry.get_source_display()))
    lines = ["## " + entry.date.isoformat(), ""]
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
    return lines


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


def _user_data(*, user, profile: Profile) -> dict[str, Any]:
    return {
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
    }


def _entry_data(item: Exported) -> dict[str, Any]:
    """Everything about one entry, with every generation and edit (oldest first)."""
    entry = item.entry
    return {
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
        "generations": [_generation(g) for g in item.generations],
        "edits": [_edit(e) for e in item.edits],
    }


def entries_as_json(entries: QuerySet[DiaryEntry], *, user, profile: Profile) -> str:
    return "".join(entries_as_json_chunks(entries, user=user, profile=profile))


def _dumps(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)


def entries_as_json_chunks(
    entries: QuerySet[DiaryEntry], *, user, profile: Profile
) -> Iterator[str]:
    """The export as `json.dumps(..., indent=2)` would write it whole, a page at a time."""
    head = {
        "format": "nikki-export",
        "version": FORMAT_VERSION,
        "exported_at": _iso(timezone.now()),
        "user": _user_data(user=user, profile=profile),
    }
    yield _dumps(head)[:-2] + ',\n  "entries": ['
    separator = "\n"
    for page in entries_pages(entries):
        parts = [textwrap.indent(_dumps(_entry_data(item)), "    ") for item in page]
        yield separator + ",\n".join(parts)
        separator = ",\n"
    yield "]\n}\n" if separator == "\n" else "\n  ]\n}\n"
