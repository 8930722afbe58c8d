"""Writes. Every change to diaries goes through a function here.

All functions are synchronous (transactions do not work in async code); async callers wrap them
with `database_sync_to_async`.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from . import selectors
from .models import (
    DiaryEntry,
    EntryEdit,
    EntryStatus,
    Generation,
    GenerationStatus,
    Language,
    Profile,
    Tone,
)

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """A refusal a person can act on; `code` is a protocol error code."""

    code = "bad_request"

    def __init__(self, message: str, *, entry_id: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.entry_id = entry_id


class NotFound(ServiceError):
    code = "not_found"


class Busy(ServiceError):
    code = "busy"


class RateLimited(ServiceError):
    code = "rate_limited"


class QuotaExceeded(ServiceError):
    code = "quota_exceeded"


INTERRUPTED_MESSAGE = (
    "The server stopped while this entry was being written. The text so far is kept; "
    "press Retry to write it again."
)


def profile_get(*, user) -> Profile:
    profile, _created = Profile.objects.get_or_create(user=user)
    return profile


def entry_create(
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
    """Save a new entry's inputs (guarantee 1: before any model call)."""
    return DiaryEntry.objects.create(
        owner=user,
        date=date or timezone.localdate(),
        morning=morning,
        afternoon=afternoon,
        evening=evening,
        notes=notes,
        tone=tone,
        language=language,
    )


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


def entry_delete(*, entry: DiaryEntry) -> None:
    entry.delete()


def _start_of_today() -> dt.datetime:
    today = timezone.localdate()
    return timezone.make_aware(dt.datetime.combine(today, dt.time.min))


def daily_limit_for(*, user) -> int:
    limit = (
        Profile.objects.filter(user=user).values_list("daily_generation_limit", flat=True).first()
    )
    return settings.DIARY_DAILY_GENERATIONS if limit is None else limit


@dataclass(frozen=True, slots=True)
class StartResult:
    entry: DiaryEntry
    generation: Generation
    created: bool  # False: a repeated request_id, answered by the existing generation


def generation_start(
    *,
    user,
    entry: DiaryEntry,
    writer_name: str,
    model_name: str,
    request_id: str | None = None,
    owner_channel: str = "",
) -> StartResult:
    """Start a generation of `entry`, atomically: one running generation per entry.

    Raises Busy when one is already running (guarantee 2), QuotaExceeded past the daily limit,
    RateLimited when the user already has too many entries being written. A repeated
    `request_id` returns the existing generation and starts nothing.
    """
    if request_id:
        existing = selectors.generation_for_request(user=user, request_id=request_id)
        if existing is not None:
            return StartResult(entry=existing.entry, generation=existing, created=False)
    try:
        with transaction.atomic():
            locked = DiaryEntry.objects.select_for_update().get(pk=entry.pk, owner=user)
            running = Generation.objects.filter(
                entry__owner=user, status=GenerationStatus.GENERATING
            )
            if any(g.entry_id == locked.pk for g in running):
                raise Busy(_("This entry is already being written."), entry_id=locked.pk)
            if len(running) >= settings.DIARY_MAX_RUNNING_PER_USER:
                raise RateLimited(
                    _("You already have %(n)d entries being written. Wait for one to finish.")
                    % {"n": len(running)},
                    entry_id=locked.pk,
                )
            used = Generation.objects.filter(
                entry__owner=user, started_at__gte=_start_of_today()
            ).count()
            if used >= daily_limit_for(user=user):
                raise QuotaExceeded(
                    _(
                        "You have written %(n)d entries today, your daily limit. "
                        "Your notes are saved; try again tomorrow."
                    )
                    % {"n": used},
                    entry_id=locked.pk,
                )
            now = timezone.now()
            generation = Generation.objects.create(
                entry=locked,
                status=GenerationStatus.GENERATING,
                writer=writer_name,
                model_name=model_name,
                tone=locked.tone,
                language=locked.language,
                request_id=request_id or None,
                owner_channel=owner_channel,
                started_at=now,
                heartbeat_at=now,
            )
            locked.status = EntryStatus.GENERATING
            locked.save(update_fields=["status", "updated_at"])
    except IntegrityError:
        # Lost a race: another request started this entry, or used this request_id.
        if request_id:
            existing = selectors.generation_for_request(user=user, request_id=request_id)
            if existing is not None:
                return StartResult(entry=existing.entry, generation=existing, created=False)
        raise Busy(_("This entry is already being written."), entry_id=entry.pk) from None
    return StartResult(entry=locked, generation=generation, created=True)


def generation_checkpoint(*, generation_id: int, text: str, seq: int) -> bool:
    """Save partial text and the heartbeat. False when the generation is no longer running."""
    return bool(
        Generation.objects.filter(pk=generation_id, status=GenerationStatus.GENERATING).update(
            text=text, seq=seq, heartbeat_at=timezone.now()
        )
    )


def generation_heartbeat(*, generation_id: int) -> bool:
    return bool(
        Generation.objects.filter(pk=generation_id, status=GenerationStatus.GENERATING).update(
            heartbeat_at=timezone.now()
        )
    )


@transaction.atomic
def generation_finish(
    *,
    generation_id: int,
    status: str,
    text: str,
    seq: int,
    error_code: str = "",
    error_message: str = "",
    finish_reason: str = "",
    usage: dict | None = None,
    time_to_first_token_ms: int | None = None,
    duration_ms: int | None = None,
) -> Generation:
    """Save a generation's end, and publish its text to the entry when it is the entry's text.

    done and cancelled (the owner chose to stop) become the entry's text; failed, filtered and
    interrupted keep the entry's previous text and leave theirs in the generation for a retry.
    """
    generation = (
        Generation.objects.select_for_update().select_related("entry").get(pk=generation_id)
    )
    usage = usage or {}
    generation.status = status
    generation.text = text
    generation.seq = seq
    generation.error_code = error_code
    generation.error_message = error_message
    generation.finish_reason = finish_reason
    generation.prompt_tokens = usage.get("prompt_tokens")
    generation.completion_tokens = usage.get("completion_tokens")
    generation.total_tokens = usage.get("total_tokens")
    generation.time_to_first_token_ms = time_to_first_token_ms
    generation.duration_ms = duration_ms
    generation.finished_at = generation.heartbeat_at = timezone.now()
    generation.save()
    _entry_follow_generation(generation)
    return generation


def _entry_follow_generation(generation: Generation) -> None:
    entry = DiaryEntry.objects.select_for_update().get(pk=generation.entry_id)
    latest = entry.generations.order_by("-started_at", "-pk").values_list("pk", flat=True).first()
    if latest != generation.pk:
        return  # a newer generation owns the entry's status now
    fields = ["status", "updated_at"]
    entry.status = generation.status
    if generation.status in (GenerationStatus.DONE, GenerationStatus.CANCELLED) and (
        generation.text or generation.status == GenerationStatus.DONE
    ):
        entry.text = generation.text
        entry.writer = generation.writer
        entry.model_name = generation.model_name
        fields += ["text", "writer", "model_name"]
    entry.save(update_fields=fields)


def generations_sweep_stale(*, stale_after: float | None = None) -> int:
    """Turn running generations whose heartbeat is stale into `interrupted` (a crashed server).

    The last checkpoint's text is kept. Returns how many were swept.
    """
    seconds = settings.DIARY_HEARTBEAT_STALE_SECONDS if stale_after is None else stale_after
    cutoff = timezone.now() - dt.timedelta(seconds=seconds)
    swept = 0
    stale_ids = list(
        Generation.objects.filter(
            status=GenerationStatus.GENERATING, heartbeat_at__lt=cutoff
        ).values_list("pk", flat=True)
    )
    for generation_id in stale_ids:
        with transaction.atomic():
            generation = (
                Generation.objects.select_for_update()
                .filter(
                    pk=generation_id, status=GenerationStatus.GENERATING, heartbeat_at__lt=cutoff
                )
                .first()
            )
            if generation is None:
                continue
            generation.status = GenerationStatus.INTERRUPTED
            generation.error_code = "interrupted"
            generation.error_message = INTERRUPTED_MESSAGE
            generation.finished_at = timezone.now()
            generation.save(update_fields=["status", "error_code", "error_message", "finished_at"])
            _entry_follow_generation(generation)
            swept += 1
    if swept:
        logger.warning("swept %d stale generation(s) to interrupted", swept)
    return swept


def generation_cancel_orphan(*, generation_id: int) -> Generation | None:
    """Cancel a running generation whose owning process is gone, keeping its checkpoint."""
    with transaction.atomic():
        generation = (
            Generation.objects.select_for_update()
            .filter(pk=generation_id, status=GenerationStatus.GENERATING)
            .first()
        )
        if generation is None:
            return None
        generation.status = GenerationStatus.CANCELLED
        generation.finished_at = timezone.now()
        generation.save(update_fields=["status", "finished_at"])
        _entry_follow_generation(generation)
        return generation


def user_sockets_and_generations_stop(*, user, reason: str) -> int:
    """Close a user's sockets everywhere and stop their running generations (text kept).

    Returns how many generations were asked to stop.
    """
    from channels.layers import get_channel_layer

    from . import realtime

    realtime.sockets_close_for_user(user_id=user.pk, reason=reason)
    layer = get_channel_layer()
    running = list(Generation.objects.filter(entry__owner=user, status=GenerationStatus.GENERATING))
    for generation in running:
        if generation.owner_channel and selectors.generation_is_fresh(generation):
            async_to_sync(layer.send)(
                generation.owner_channel, {"type": "hub.cancel", "entry": generation.entry_id}
            )
        else:
            generation_cancel_orphan(generation_id=generation.pk)
    return len(running)
