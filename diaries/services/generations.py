"""A generation's life in the database: start, checkpoint, end, sweep, stop.

All functions are synchronous (transactions do not work in async code); the runner
(diaries.generation) calls them through `database_sync_to_async`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from functools import lru_cache

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from keystore.fields import Sealed, seal

from .. import realtime, selectors
from ..checkers.base import CheckerError, Verdict
from ..exceptions import Busy, DiaryError, RateLimited, ReplacesEdit
from ..models import OWNER_WRITER, DiaryEntry, EntryStatus, Generation, GenerationStatus
from ..realtime import events
from .checks import entry_check_apply
from .usage import usage_generation_take, usage_tokens_add

logger = logging.getLogger(__name__)


INTERRUPTED_MESSAGE = (
    "The server stopped while this entry was being written. The text so far is kept; "
    "press Retry to write it again."
)


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
    replace_edit: bool = False,
) -> StartResult:
    """Start a generation of `entry`, atomically: one running generation per entry.

    Raises Busy when one is already running (guarantee 2), ReplacesEdit when the entry's text
    is the owner's own and `replace_edit` is not set (the person's words are never replaced
    without asking), QuotaExceeded past the daily limit, RateLimited when the user already has
    too many entries being written. A repeated `request_id` returns the existing generation and
    starts nothing.

    A new `entry` (unsaved, from entry_build) is saved here, only when the start is accepted:
    a refused start saves nothing, an accepted one saves the inputs before any model call
    (guarantee 1). The user's row is locked for the checks, so that two starts of one user
    (two tabs, two entries) cannot both pass them; the quota counts the user's DailyUsage row,
    which deleting entries does not lower.
    """
    new = entry.pk is None
    try:
        with transaction.atomic():
            if new:
                locked, limit = entry, _owner_lock(user)
            else:  # the entry and its owner's row, locked in one statement
                locked = (
                    DiaryEntry.objects.select_for_update(of=("self", "owner"))
                    .select_related("owner__diary_profile")
                    .order_by()
                    .get(pk=entry.pk, owner=user, trashed_at__isnull=True)
                )
                limit = selectors.daily_limit_of(user=locked.owner)
            counts = {"total": Count("pk")}
            if not new:
                counts["this_entry"] = Count("pk", filter=Q(entry_id=locked.pk))
            running = Generation.objects.filter(
                entry__owner=user, status=GenerationStatus.GENERATING
            ).aggregate(**counts)
            try:
                if running.get("this_entry"):
                    raise Busy(_("This entry is already being written."), entry=locked.pk)
                if not new and locked.writer == OWNER_WRITER and not replace_edit:
                    raise ReplacesEdit(
                        _(
                            "This entry's text is your own. Writing it again replaces your text "
                            '(it stays in the versions): confirm with "replace_edit": true.'
                        ),
                        entry=locked.pk,
                    )
                if running["total"] >= settings.DIARY_MAX_RUNNING_PER_USER:
                    raise RateLimited(
                        _("You already have %(n)d entries being written. Wait for one to finish.")
                        % {"n": running["total"]},
                        entry=locked.pk,
                    )
                usage_generation_take(user=user, limit=limit, new=new, entry_id=locked.pk)
            except DiaryError:
                # Refused, unless this is a repeat of a request that already started (it is
                # looked for only here: a repeat that passes the checks fails on the unique
                # request_id below and is answered after the rollback).
                existing = _repeated(user=user, request_id=request_id)
                if existing is not None:
                    return existing
                raise
            now = timezone.now()
            if new:  # saved as a row of its own: a refused start leaves `entry` unsaved
                locked = DiaryEntry.objects.create(
                    owner=user,
                    status=EntryStatus.GENERATING,
                    **{name: getattr(entry, name) for name in DiaryEntry.INPUT_FIELDS},
                )
            else:
                locked.status = EntryStatus.GENERATING
                locked.updated_at = now
                DiaryEntry.objects.filter(pk=locked.pk).update(status=locked.status, updated_at=now)
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
    except IntegrityError:
        # Lost a race: another request started this entry, or used this request_id.
        existing = _repeated(user=user, request_id=request_id)
        if existing is not None:
            return existing
        raise Busy(_("This entry is already being written."), entry=entry.pk) from None
    return StartResult(entry=locked, generation=generation, created=True)


def _owner_lock(user) -> int:
    """Lock the user's row for a start's checks; their daily limit."""
    owner = (
        get_user_model()
        .objects.select_for_update(of=("self",))
        .select_related("diary_profile")
        .only("pk", "diary_profile__daily_generation_limit")
        .get(pk=user.pk)
    )
    return selectors.daily_limit_of(user=owner)


def _repeated(*, user, request_id: str | None) -> StartResult | None:
    """The start a repeated `request_id` already made, if any."""
    existing = request_id and selectors.generation_for_request(user=user, request_id=request_id)
    if not existing:
        return None
    return StartResult(entry=existing.entry, generation=existing, created=False)


@transaction.atomic
def generations_checkpoint(*, texts: dict[int, tuple[Sealed | str, int]], alive: list[int]) -> None:
    """One process's checkpoint: the partial text of the generations in `texts` (id → text
    sealed for its owner with keystore.fields.seal, seq) and the heartbeat of every generation
    in `alive`. Finished ones are left alone."""
    now = timezone.now()
    running = Generation.objects.filter(status=GenerationStatus.GENERATING)
    if texts:
        # One prepared UPDATE run for every generation by the driver (executemany). The ORM
        # built a statement per row (or, with bulk_update, a CASE per field per row) in Python
        # in the database thread, holding the GIL for tens of milliseconds a second at 100
        # streams, which stalled the event loop (docs/benchmark.md).
        stamp = connection.ops.adapt_datetimefield_value(now)
        # The field encrypts (and refuses a text whose owner it is not told).
        column = Generation._meta.get_field("text")
        with connection.cursor() as cursor:
            cursor.executemany(
                _checkpoint_sql(connection.vendor),
                [
                    (
                        column.get_db_prep_save(text, connection),
                        seq,
                        stamp,
                        generation_id,
                        GenerationStatus.GENERATING.value,
                    )
                    for generation_id, (text, seq) in texts.items()
                ],
            )
    quiet = [gid for gid in alive if gid not in texts]
    if quiet:
        running.filter(pk__in=quiet).update(heartbeat_at=now)


@lru_cache(maxsize=4)
def _checkpoint_sql(vendor: str) -> str:
    """The checkpoint's UPDATE: names from the model (its documented `_meta` API), quoted by the
    backend; every value a parameter."""
    meta, quote = Generation._meta, connection.ops.quote_name
    text, seq, heartbeat, status = (
        quote(meta.get_field(name).column) for name in ("text", "seq", "heartbeat_at", "status")
    )
    return (
        f"UPDATE {quote(meta.db_table)} SET {text} = %s, {seq} = %s, {heartbeat} = %s "  # noqa: S608
        f"WHERE {quote(meta.pk.column)} = %s AND {status} = %s"
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
    check: tuple[Verdict | None, CheckerError | None] | None = None,
) -> Generation:
    """Save a generation's end, and publish its text to the entry when it is the entry's text.

    done and cancelled (the owner chose to stop) become the entry's text; failed, filtered and
    interrupted keep the entry's previous text and leave theirs in the generation for a retry.
    """
    # The generation and its entry, locked in one statement until the end is saved.
    generation = (
        Generation.objects.select_related("entry")
        .select_for_update(of=("self", "entry"))
        .order_by()
        .get(pk=generation_id)
    )
    entry = generation.entry
    # Still running: its first end, and the entry's latest generation (no other generation of
    # the entry can have started meanwhile: one running generation per entry, a constraint).
    first_end = generation.status == GenerationStatus.GENERATING
    latest = first_end or None
    # An end saved twice counts its tokens once, and a generation without usage once.
    counted = generation.total_tokens is not None
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
    fields = _entry_follow_fields(generation, entry, latest=latest)
    Generation.objects.filter(pk=generation.pk).update(
        **{name: getattr(generation, name) for name in _FINISH_FIELDS},
        text=seal(entry.owner_id, generation.text),
    )
    if (generation.total_tokens and not counted) or (generation.total_tokens is None and first_end):
        usage_tokens_add(
            user_id=entry.owner_id,
            day=timezone.localdate(generation.started_at),
            tokens=generation.total_tokens,
        )
    if check is not None:  # an in-process checker's verdict, recorded with the end
        verdict, error = check
        fields += entry_check_apply(
            entry, text=text, verdict=verdict, error=error, generation_id=generation.pk
        )
    if fields:  # one UPDATE of the entry for what the end and the checker's verdict change
        changes = {name: getattr(entry, name) for name in dict.fromkeys(fields)}
        if "text" in changes:
            changes["text"] = seal(entry.owner_id, entry.text)
        DiaryEntry.objects.filter(pk=entry.pk).update(**changes)
    return generation


# `text` is saved beside these, sealed for the entry's owner.
_FINISH_FIELDS = (
    "status",
    "seq",
    "error_code",
    "error_message",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "time_to_first_token_ms",
    "duration_ms",
    "finished_at",
    "heartbeat_at",
)


def _entry_follow_generation(generation: Generation) -> None:
    entry = DiaryEntry.objects.select_for_update().get(pk=generation.entry_id)
    fields = _entry_follow_fields(generation, entry)
    if fields:
        entry.save(update_fields=fields)


def _entry_follow_fields(
    generation: Generation, entry: DiaryEntry, *, latest: bool | None = None
) -> list[str]:
    """Set the locked `entry`'s status (and text) from its latest generation, `generation`;
    the fields to save, none when a newer generation owns the entry. `latest`: known to be
    the entry's latest (None: look it up)."""
    if latest is None:
        latest = selectors.generation_latest_id(entry_id=entry.pk) == generation.pk
    if not latest:
        return []  # a newer generation owns the entry's status now
    fields = ["status", "updated_at"]
    entry.status = generation.status
    entry.updated_at = timezone.now()  # auto_now, which update() does not apply
    if generation.status in (GenerationStatus.DONE, GenerationStatus.CANCELLED) and (
        generation.text or generation.status == GenerationStatus.DONE
    ):
        entry.text = generation.text
        entry.writer = generation.writer
        entry.model_name = generation.model_name
        fields += ["text", "writer", "model_name"]
    return fields


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


def generation_stop(*, generation: Generation) -> None:
    """Stop a running generation wherever it runs (its text is kept).

    The process running it is asked over the channel layer; when that process is gone, the
    generation is cancelled here with its last checkpoint, and its watchers are told.
    """
    layer = get_channel_layer()
    if generation.owner_channel and selectors.generation_is_fresh(generation):
        async_to_sync(layer.send)(
            generation.owner_channel, events.cancel_request(entry=generation.entry_id)
        )
        return
    ended = generation_cancel_orphan(generation_id=generation.pk)
    if ended is not None:
        async_to_sync(layer.group_send)(
            realtime.entry_group(ended.entry_id),
            events.done(
                entry=ended.entry_id,
                generation=ended.pk,
                status=ended.status,
                text=ended.text,
                seq=ended.seq,
            ),
        )


def user_sockets_and_generations_stop(*, user, reason: str) -> int:
    """Close a user's sockets everywhere and stop their running generations (text kept).

    Returns how many generations were asked to stop.
    """
    realtime.sockets_close_for_user(user_id=user.pk, reason=reason)
    running = list(Generation.objects.filter(entry__owner=user, status=GenerationStatus.GENERATING))
    for generation in running:
        generation_stop(generation=generation)
    return len(running)


def generations_wait(generations, wait: float) -> None:
    """Wait up to `wait` seconds until none of `generations` is running (their ends saved)."""
    deadline = time.monotonic() + wait
    running = generations.filter(status=GenerationStatus.GENERATING)
    while running.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
