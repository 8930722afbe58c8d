"""An entry's own life: its inputs, the owner's edits, restoring an earlier version, deleting."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import search_index
from ..exceptions import Busy, DiaryError, NotFound
from ..models import (
    OWNER_WRITER,
    DiaryEntry,
    EntryEdit,
    EntryStatus,
    Generation,
    GenerationStatus,
    Language,
    Tone,
)
from . import generations


def entry_build(
    *,
    user,
    date: dt.date | None = None,
    morning: str = "",
    afternoon: str = "",
    evening: str = "",
    notes: str = "",
    tone: str = Tone.PLAIN,
    language: str = Language.ENGLISH,
) -> DiaryEntry:
    """A new entry's inputs, not saved yet: `generation_start` saves them with the start, only
    when the start is accepted (a refused start leaves the inputs in the client's form)."""
    return DiaryEntry(
        owner=user,
        date=date or timezone.localdate(),
        morning=morning,
        afternoon=afternoon,
        evening=evening,
        notes=notes,
        tone=tone,
        language=language,
    )


def entry_create(**inputs) -> DiaryEntry:
    """Save a new entry's inputs (the page's form; `entry_build` takes the same arguments)."""
    entry = entry_build(**inputs)
    entry.save(force_insert=True)
    return entry


@transaction.atomic
def entry_write_by_hand(
    *, user, text: str, date: dt.date, tone: str = Tone.PLAIN, language: str = Language.ENGLISH
) -> DiaryEntry:
    """A new entry the owner wrote themselves, with no model: their text is the entry's, and
    the first of its versions. The model can be asked later to write it (from this text)."""
    entry = DiaryEntry.objects.create(
        owner=user,
        date=date,
        tone=tone,
        language=language,
        text=text,
        writer=OWNER_WRITER,
        status=EntryStatus.EDITED,
    )
    EntryEdit.objects.create(entry=entry, text=text, previous_text="")
    return entry


def entry_update_inputs(
    *,
    entry: DiaryEntry,
    date: dt.date,
    morning: str,
    afternoon: str,
    evening: str,
    notes: str,
    tone: str,
    language: str,
) -> DiaryEntry:
    entry.date = date
    entry.morning = morning
    entry.afternoon = afternoon
    entry.evening = evening
    entry.notes = notes
    entry.tone = tone
    entry.language = language
    entry.save(
        update_fields=[
            "date",
            "morning",
            "afternoon",
            "evening",
            "notes",
            "tone",
            "language",
            "updated_at",
        ]
    )
    return entry


@transaction.atomic
def entry_update_text(*, entry: DiaryEntry, text: str) -> DiaryEntry:
    """The owner's own edit. The previous text stays in the edit history."""
    entry = DiaryEntry.objects.select_for_update().get(pk=entry.pk)
    if text == entry.text:
        return entry
    EntryEdit.objects.create(entry=entry, text=text, previous_text=entry.text)
    entry.text = text
    entry.writer = "owner"
    entry.model_name = ""
    if entry.status != EntryStatus.GENERATING:
        entry.status = EntryStatus.EDITED
    entry.save(update_fields=["text", "writer", "model_name", "status", "updated_at"])
    return entry


def entry_delete(*, entry: DiaryEntry, wait: float = 2.0) -> None:
    """Delete an entry with its versions.

    Its running generation is stopped first and given `wait` seconds to save its end, as
    account_delete does: deleting must neither leave a writer streaming (and paid for) into
    rows that are gone, nor free a place under the running limit while it still streams. What
    the entry's generations used stays counted in the day's DailyUsage.
    """
    search_index.entries_forgotten([(entry.owner_id, entry.date)])
    for _round in range(2):
        with transaction.atomic():
            # Locked: a start of this entry waits, then finds it gone.
            locked = DiaryEntry.objects.select_for_update().filter(pk=entry.pk).first()
            if locked is None:
                return
            running = list(locked.generations.filter(status=GenerationStatus.GENERATING))
            if not running:
                locked.delete()
                return
        for generation in running:
            generations.generation_stop(generation=generation)
        generations.generations_wait(
            Generation.objects.filter(pk__in=[g.pk for g in running]), wait
        )
    # Asked to stop but not ended in time (its process is busy): its end finds no rows.
    DiaryEntry.objects.filter(pk=entry.pk).delete()


@transaction.atomic
def entry_restore_version(*, entry: DiaryEntry, version: Generation | EntryEdit) -> DiaryEntry:
    """Make an earlier generation's or edit's text the entry's text again.

    Recorded as a new edit, so the text it replaces stays in the history too.
    """
    locked = DiaryEntry.objects.select_for_update().get(pk=entry.pk)
    if version.entry_id != locked.pk:
        raise NotFound(_("That version belongs to another entry."), entry=locked.pk)
    if locked.status == EntryStatus.GENERATING:
        raise Busy(
            _("This entry is being written. Stop it or wait until it finishes, then restore."),
            entry=locked.pk,
        )
    if not version.text:
        raise DiaryError(_("That version has no text to restore."), entry=locked.pk)
    EntryEdit.objects.create(entry=locked, text=version.text, previous_text=locked.text)
    locked.text = version.text
    # A restored generation is still the model's text: keep its writer, so the moderation
    # check still applies before it can be shared.
    if isinstance(version, Generation):
        locked.writer, locked.model_name = version.writer, version.model_name
    else:
        locked.writer, locked.model_name = "owner", ""
    locked.status = EntryStatus.EDITED
    locked.save(update_fields=["text", "writer", "model_name", "status", "updated_at"])
    return locked
