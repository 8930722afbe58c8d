"""Reads. Every query a view or consumer makes about diaries lives here."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from .models import DiaryEntry, EntryEdit, Generation, GenerationStatus


def entries_for_user(*, user) -> QuerySet[DiaryEntry]:
    """The user's entries, newest first."""
    return DiaryEntry.objects.owned_by(user).order_by("-date", "-created_at")


def entry_get_for_user(*, user, entry_id: int) -> DiaryEntry:
    """One of the user's own entries; DiaryEntry.DoesNotExist for anyone else's."""
    return DiaryEntry.objects.owned_by(user).get(pk=entry_id)


def generation_latest(*, entry: DiaryEntry) -> Generation | None:
    return entry.generations.order_by("-started_at", "-pk").first()


def generation_running(*, entry_id: int) -> Generation | None:
    return Generation.objects.filter(entry_id=entry_id, status=GenerationStatus.GENERATING).first()


def generation_for_request(*, user, request_id: str) -> Generation | None:
    """The generation a request_id already started, if any (a repeat starts nothing)."""
    from .services import ServiceError

    existing = Generation.objects.select_related("entry").filter(request_id=request_id).first()
    if existing is not None and existing.entry.owner_id != user.pk:
        raise ServiceError("This request_id has already been used.")
    return existing


def generation_is_fresh(generation: Generation) -> bool:
    """Whether the process running `generation` has shown signs of life recently."""
    stale = dt.timedelta(seconds=settings.DIARY_HEARTBEAT_STALE_SECONDS)
    return generation.heartbeat_at >= timezone.now() - stale


@dataclass(frozen=True, slots=True)
class EntryState:
    """What a client attaching to an entry needs: the text so far and where the stream is."""

    entry_id: int
    generation_id: int | None
    status: str
    text: str
    seq: int
    error_code: str = ""
    error_message: str = ""
    owner_channel: str = ""
    fresh: bool = False


def entry_state(*, entry: DiaryEntry) -> EntryState:
    """The database's view of an entry for a snapshot (the checkpoint when a stream runs)."""
    latest = generation_latest(entry=entry)
    if latest is None:
        return EntryState(
            entry_id=entry.pk, generation_id=None, status=entry.status, text=entry.text, seq=0
        )
    if latest.status == GenerationStatus.GENERATING:
        return EntryState(
            entry_id=entry.pk,
            generation_id=latest.pk,
            status=latest.status,
            text=latest.text,
            seq=latest.seq,
            owner_channel=latest.owner_channel,
            fresh=generation_is_fresh(latest),
        )
    # Finished: the reader sees the entry's text unless the last attempt left partial text.
    text = entry.text
    if latest.status not in (GenerationStatus.DONE, GenerationStatus.CANCELLED) and latest.text:
        text = latest.text
    if entry.writer == "owner" and entry.updated_at >= (latest.finished_at or latest.started_at):
        text = entry.text
    return EntryState(
        entry_id=entry.pk,
        generation_id=latest.pk,
        status=entry.status,
        text=text,
        seq=latest.seq,
        error_code=latest.error_code,
        error_message=latest.error_message,
    )


def generations_today_count(*, user) -> int:
    today = timezone.localdate()
    start = timezone.make_aware(dt.datetime.combine(today, dt.time.min))
    return Generation.objects.filter(entry__owner=user, started_at__gte=start).count()


def entry_history(*, entry: DiaryEntry) -> list[Generation | EntryEdit]:
    """Every generation and edit of an entry, newest first."""
    items: list[Generation | EntryEdit] = [*entry.generations.all(), *entry.edits.all()]
    items.sort(
        key=lambda item: item.started_at if isinstance(item, Generation) else item.created_at,
        reverse=True,
    )
    return items
