"""Writes. Every change to diaries goes through a function here.

All functions are synchronous (transactions do not work in async code); async callers wrap them
with `database_sync_to_async`.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from . import moderation, realtime, selectors
from .models import (
    DailyUsage,
    DiaryEntry,
    EntryEdit,
    EntryStatus,
    Generation,
    GenerationStatus,
    Language,
    ModerationAction,
    ModerationEvent,
    ModerationState,
    Profile,
    Report,
    ReportReason,
    ReportStatus,
    Sharing,
    Tone,
    text_digest,
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
            generation_stop(generation=generation)
        _generations_wait(Generation.objects.filter(pk__in=[g.pk for g in running]), wait)
    # Asked to stop but not ended in time (its process is busy): its end finds no rows.
    DiaryEntry.objects.filter(pk=entry.pk).delete()


def usage_day() -> dt.date:
    """The day a start counts against: the local date in the active time zone (the user's own
    where a view activated it, else the site's)."""
    return timezone.localdate()


def daily_limit_for(*, user) -> int:
    limit = (
        Profile.objects.filter(user=user).values_list("daily_generation_limit", flat=True).first()
    )
    return settings.DIARY_DAILY_GENERATIONS if limit is None else limit


def _daily_limit_of(owner) -> int:
    """The daily limit of a user fetched with `diary_profile` (None: no profile yet)."""
    try:
        limit = owner.diary_profile.daily_generation_limit
    except Profile.DoesNotExist:
        limit = None
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

    A new `entry` (unsaved, from entry_build) is saved here, only when the start is accepted:
    a refused start saves nothing, an accepted one saves the inputs before any model call
    (guarantee 1). The user's row is locked for the checks, so that two starts of one user
    (two tabs, two entries) cannot both pass them; the quota counts the user's DailyUsage row,
    which deleting entries does not lower.
    """
    new = entry.pk is None
    try:
        with transaction.atomic():
            locked = entry
            if not new:
                locked = DiaryEntry.objects.select_for_update().get(pk=entry.pk, owner=user)
            owner = (
                get_user_model()
                .objects.select_for_update(of=("self",))
                .select_related("diary_profile")
                .get(pk=user.pk)
            )
            if request_id:  # a repeated request_id starts nothing
                existing = selectors.generation_for_request(user=user, request_id=request_id)
                if existing is not None:
                    return StartResult(entry=existing.entry, generation=existing, created=False)
            running = Generation.objects.filter(
                entry__owner=user, status=GenerationStatus.GENERATING
            ).aggregate(
                total=Count("pk"),
                this_entry=Count("pk", filter=Q(entry_id=locked.pk)),
            )
            if not new and running["this_entry"]:
                raise Busy(_("This entry is already being written."), entry_id=locked.pk)
            if running["total"] >= settings.DIARY_MAX_RUNNING_PER_USER:
                raise RateLimited(
                    _("You already have %(n)d entries being written. Wait for one to finish.")
                    % {"n": running["total"]},
                    entry_id=locked.pk,
                )
            day = usage_day()
            usage = DailyUsage.objects.filter(user=user, day=day).first()
            used = usage.generations if usage is not None else 0
            if used >= _daily_limit_of(owner):
                message = (
                    _(
                        "You have written %(n)d entries today, your daily limit. "
                        "Your notes stay in the form; try again tomorrow."
                    )
                    if new
                    else _(
                        "You have written %(n)d entries today, your daily limit. "
                        "Your notes are saved; try again tomorrow."
                    )
                )
                raise QuotaExceeded(message % {"n": used}, entry_id=locked.pk)
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
            if usage is None:  # the user's row is locked: nobody else creates it meanwhile
                DailyUsage.objects.create(user=user, day=day, generations=1)
            else:
                DailyUsage.objects.filter(pk=usage.pk).update(generations=F("generations") + 1)
    except IntegrityError:
        # Lost a race: another request started this entry, or used this request_id.
        if request_id:
            existing = selectors.generation_for_request(user=user, request_id=request_id)
            if existing is not None:
                return StartResult(entry=existing.entry, generation=existing, created=False)
        raise Busy(_("This entry is already being written."), entry_id=entry.pk) from None
    return StartResult(entry=locked, generation=generation, created=True)


@transaction.atomic
def generations_checkpoint(*, texts: dict[int, tuple[str, int]], alive: list[int]) -> None:
    """One process's checkpoint: the partial text of the generations in `texts` (id → text,
    seq) and the heartbeat of every generation in `alive`. Finished ones are left alone."""
    now = timezone.now()
    running = Generation.objects.filter(status=GenerationStatus.GENERATING)
    if texts:
        # One prepared UPDATE run for every generation by the driver (executemany). The ORM
        # built a statement per row (or, with bulk_update, a CASE per field per row) in Python
        # in the database thread, holding the GIL for tens of milliseconds a second at 100
        # streams, which stalled the event loop (docs/benchmark.md).
        stamp = connection.ops.adapt_datetimefield_value(now)
        with connection.cursor() as cursor:
            cursor.executemany(
                _checkpoint_sql(connection.vendor),
                [
                    (text, seq, stamp, generation_id, GenerationStatus.GENERATING.value)
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
    check: tuple[moderation.Verdict | None, moderation.CheckerError | None] | None = None,
) -> Generation:
    """Save a generation's end, and publish its text to the entry when it is the entry's text.

    done and cancelled (the owner chose to stop) become the entry's text; failed, filtered and
    interrupted keep the entry's previous text and leave theirs in the generation for a retry.
    """
    # The generation and its entry, locked in one statement until the end is saved.
    generation = (
        Generation.objects.select_related("entry")
        .select_for_update(of=("self", "entry"))
        .get(pk=generation_id)
    )
    entry = generation.entry
    counted = generation.total_tokens is not None  # an end saved twice counts its tokens once
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
    fields = _entry_follow_fields(generation, entry)
    Generation.objects.filter(pk=generation.pk).update(
        **{name: getattr(generation, name) for name in _FINISH_FIELDS}
    )
    if generation.total_tokens and not counted:
        _usage_add_tokens(
            user_id=entry.owner_id,
            day=timezone.localdate(generation.started_at),
            tokens=generation.total_tokens,
        )
    if check is not None:  # an in-process checker's verdict, recorded with the end
        verdict, error = check
        fields += _entry_check_apply(
            entry, text=text, verdict=verdict, error=error, generation_id=generation.pk
        )
    if fields:  # one UPDATE of the entry for what the end and the checker's verdict change
        DiaryEntry.objects.filter(pk=entry.pk).update(
            **{name: getattr(entry, name) for name in dict.fromkeys(fields)}
        )
    return generation


def _usage_add_tokens(*, user_id: int, day: dt.date, tokens: int) -> None:
    """Add a generation's tokens to the usage of the day it started."""
    if not DailyUsage.objects.filter(user_id=user_id, day=day).update(tokens=F("tokens") + tokens):
        # The start counted another day (another time zone was active): count them here.
        usage, _created = DailyUsage.objects.get_or_create(user_id=user_id, day=day)
        DailyUsage.objects.filter(pk=usage.pk).update(tokens=F("tokens") + tokens)


_FINISH_FIELDS = (
    "status",
    "text",
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


def _entry_follow_fields(generation: Generation, entry: DiaryEntry) -> list[str]:
    """Set the locked `entry`'s status (and text) from its latest generation, `generation`;
    the fields to save, none when a newer generation owns the entry."""
    if selectors.generation_latest_id(entry_id=entry.pk) != generation.pk:
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
            generation.owner_channel, {"type": "hub.cancel", "entry": generation.entry_id}
        )
        return
    ended = generation_cancel_orphan(generation_id=generation.pk)
    if ended is not None:
        async_to_sync(layer.group_send)(
            realtime.entry_group(ended.entry_id),
            {
                "type": "diary.done",
                "entry": ended.entry_id,
                "generation": ended.pk,
                "status": ended.status,
                "text": ended.text,
                "seq": ended.seq,
                "usage": None,
                "finish_reason": "",
            },
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


# --- Calendar, search, history, export, settings, account ----------------------------------------


@transaction.atomic
def entry_restore_version(*, entry: DiaryEntry, version: Generation | EntryEdit) -> DiaryEntry:
    """Make an earlier generation's or edit's text the entry's text again.

    Recorded as a new edit, so the text it replaces stays in the history too.
    """
    locked = DiaryEntry.objects.select_for_update().get(pk=entry.pk)
    if version.entry_id != locked.pk:
        raise NotFound(_("That version belongs to another entry."), entry_id=locked.pk)
    if locked.status == EntryStatus.GENERATING:
        raise Busy(
            _("This entry is being written. Stop it or wait until it finishes, then restore."),
            entry_id=locked.pk,
        )
    if not version.text:
        raise ServiceError(_("That version has no text to restore."), entry_id=locked.pk)
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


def profile_update(
    *,
    user,
    ui_language: str,
    default_language: str,
    default_tone: str,
    time_zone: str,
) -> Profile:
    """Save a person's settings (the form has validated them)."""
    profile = profile_get(user=user)
    profile.ui_language = ui_language
    profile.default_language = default_language
    profile.default_tone = default_tone
    profile.time_zone = time_zone
    profile.save(update_fields=["ui_language", "default_language", "default_tone", "time_zone"])
    return profile


def profile_set_ui_language(*, user, language: str) -> None:
    """Remember the interface language a signed-in person picked with the language switcher."""
    Profile.objects.update_or_create(user=user, defaults={"ui_language": language})


def account_delete(*, user, wait: float = 2.0) -> None:
    """Delete a person's account with everything of theirs: entries, versions, profile.

    Running generations are stopped first and given `wait` seconds to save their end, so that
    no writer outlives the rows it writes to.
    """
    if user_sockets_and_generations_stop(user=user, reason="account_deleted"):
        _generations_wait(Generation.objects.filter(entry__owner=user), wait)
    user.delete()


def _generations_wait(generations, wait: float) -> None:
    """Wait up to `wait` seconds until none of `generations` is running (their ends saved)."""
    deadline = time.monotonic() + wait
    running = generations.filter(status=GenerationStatus.GENERATING)
    while running.exists() and time.monotonic() < deadline:
        time.sleep(0.05)


# --- Moderation: sharing, reports, automatic checks, the audit trail ---------------------------
# Every moderation decision writes one ModerationEvent (who, what, when, why).


class AlreadyReported(ServiceError):
    pass


def moderation_event_record(
    *,
    action: str,
    actor=None,
    entry: DiaryEntry | None = None,
    report: Report | None = None,
    subject=None,
    reason: str = "",
    details: dict | None = None,
) -> ModerationEvent:
    """Write one row of the audit trail. `actor` None is the system (the automatic check)."""
    details = dict(details or {})
    if entry is not None:
        details.setdefault("entry", entry.pk)
    if report is not None:
        details.setdefault("report", report.pk)
    subject_id = subject.pk if subject is not None else (entry.owner_id if entry else None)
    if subject_id is not None:
        details.setdefault("user", subject_id)
    return ModerationEvent.objects.create(
        action=action,
        actor=actor,
        actor_name=actor.get_username() if actor is not None else "",
        entry=entry,
        report=report,
        subject_id=subject_id,
        reason=reason,
        details=details,
    )


def _own_entry_locked(*, user, entry: DiaryEntry) -> DiaryEntry:
    try:
        return DiaryEntry.objects.select_for_update().get(pk=entry.pk, owner=user)
    except DiaryEntry.DoesNotExist:
        raise NotFound(_("This entry does not exist."), entry_id=entry.pk) from None


def _refuse_to_share(entry: DiaryEntry) -> None:
    if entry.moderation_state == ModerationState.HIDDEN:
        raise ServiceError(
            _("A moderator hid this entry, so it cannot be shared."), entry_id=entry.pk
        )
    if entry.moderation_state == ModerationState.FLAGGED:
        raise ServiceError(
            _(
                "The automatic check flagged this entry. It can be shared once a moderator has "
                "reviewed it."
            ),
            entry_id=entry.pk,
        )
    if entry.status == EntryStatus.GENERATING:
        raise Busy(
            _("This entry is being written. Share it once it is finished."), entry_id=entry.pk
        )
    if not entry.text:
        raise ServiceError(_("There is no text to share yet."), entry_id=entry.pk)


def _needs_check(entry: DiaryEntry) -> bool:
    return entry.moderation_state == ModerationState.UNCHECKED or entry.text_needs_check


def _check_again_later() -> str:
    return _(
        "The automatic check could not run just now, so the entry cannot be shared yet. "
        "Nothing is lost; try again in a few minutes."
    )


def entry_share(*, user, entry: DiaryEntry) -> DiaryEntry:
    """Share an own entry by an unguessable link.

    Text that has not passed the automatic check is checked first (a check that failed earlier
    is retried here); a flagged or hidden entry is refused. Sharing a shared entry again only
    re-runs a pending check.
    """
    with transaction.atomic():
        current = _own_entry_locked(user=user, entry=entry)
        _refuse_to_share(current)
    if _needs_check(current):
        # Outside any transaction: the check may take a few seconds.
        if entry_text_check(entry=current) is None:
            raise ServiceError(_check_again_later(), entry_id=current.pk)
    with transaction.atomic():
        locked = _own_entry_locked(user=user, entry=entry)
        _refuse_to_share(locked)  # flagged by the check just now, or changed meanwhile
        if _needs_check(locked):
            raise ServiceError(_check_again_later(), entry_id=locked.pk)
        if locked.is_shared:
            return locked
        locked.sharing = Sharing.LINK
        locked.share_token = secrets.token_urlsafe(24)
        locked.save(update_fields=["sharing", "share_token"])
        moderation_event_record(action=ModerationAction.ENTRY_SHARED, actor=user, entry=locked)
    return locked


@transaction.atomic
def entry_unshare(*, user, entry: DiaryEntry) -> DiaryEntry:
    """Stop sharing an own entry; its link stops working for good (sharing makes a new one)."""
    locked = _own_entry_locked(user=user, entry=entry)
    if locked.sharing == Sharing.PRIVATE and not locked.share_token:
        return locked
    locked.sharing = Sharing.PRIVATE
    locked.share_token = None
    locked.save(update_fields=["sharing", "share_token"])
    moderation_event_record(action=ModerationAction.ENTRY_UNSHARED, actor=user, entry=locked)
    return locked


def entry_text_check(
    *, entry: DiaryEntry, checker: moderation.Checker | None = None
) -> moderation.Verdict | None:
    """Run the automatic check on an entry's current text now and record the outcome.

    Returns the verdict, or None when the checker could not give one.
    """
    text = entry.text
    verdict: moderation.Verdict | None = None
    error: moderation.CheckerError | None = None
    try:
        verdict = async_to_sync((checker or moderation.checker_from_settings()).check)(text)
    except moderation.CheckerError as exc:
        error = exc
    except Exception as exc:
        logger.error("moderation checker crashed on entry %s: %s", entry.pk, type(exc).__name__)
        error = moderation.CheckerError("internal")
    if error is not None:
        logger.warning("moderation check of entry %s failed: %s", entry.pk, error.code)
    entry_check_record(entry_id=entry.pk, text=text, verdict=verdict, error=error)
    return verdict


def _flag_reason(verdict: moderation.Verdict) -> str:
    if verdict.checker == "wordlist":
        return _("The automatic check found words this site does not publish.")
    if verdict.categories:
        return _("The automatic check flagged this text: %(categories)s.") % {
            "categories": ", ".join(verdict.categories)
        }
    return _("The automatic check flagged this text.")


@transaction.atomic
def entry_check_record(
    *,
    entry_id: int,
    text: str,
    verdict: moderation.Verdict | None,
    error: moderation.CheckerError | None = None,
    generation_id: int | None = None,
) -> DiaryEntry | None:
    """Record what the automatic check said about `text` (an entry's text, now or just now).

    flagged → the entry is flagged (unless hidden) and joins the moderators' queue; clean → the
    text may be published; no verdict → text still unchecked is marked "not checked", so it
    stays unpublished and sharing checks it again. Never touches the text itself.
    """
    entry = DiaryEntry.objects.select_for_update().filter(pk=entry_id).first()
    if entry is None:
        return None  # deleted meanwhile
    fields = _entry_check_apply(
        entry, text=text, verdict=verdict, error=error, generation_id=generation_id
    )
    if fields:
        entry.save(update_fields=fields)  # not updated_at: the owner's text did not change
    return entry


def _entry_check_apply(
    entry: DiaryEntry,
    *,
    text: str,
    verdict: moderation.Verdict | None,
    error: moderation.CheckerError | None,
    generation_id: int | None,
) -> list[str]:
    """entry_check_record's changes to the locked `entry` (the events are saved); the fields
    to save."""
    details: dict = {"generation": generation_id} if generation_id else {}
    digest = text_digest(text)
    is_current = entry.text == text
    fields: list[str] = []
    if verdict is not None and verdict.flagged:
        details.update(verdict.as_details())
        reason = _flag_reason(verdict)
        if entry.moderation_state in (ModerationState.OK, ModerationState.UNCHECKED):
            entry.moderation_state = ModerationState.FLAGGED
            entry.moderation_reason = reason
            fields += ["moderation_state", "moderation_reason"]
        moderation_event_record(
            action=ModerationAction.CHECK_FLAGGED, entry=entry, reason=reason, details=details
        )
    elif verdict is not None:
        if is_current:
            entry.moderation_checked_digest = digest
            fields.append("moderation_checked_digest")
            if entry.moderation_state == ModerationState.UNCHECKED:
                entry.moderation_state = ModerationState.OK
                entry.moderation_reason = ""
                fields += ["moderation_state", "moderation_reason"]
                details.update(verdict.as_details())
                moderation_event_record(
                    action=ModerationAction.CHECK_PASSED, entry=entry, details=details
                )
    elif (
        is_current
        and entry.moderation_state == ModerationState.OK
        and entry.moderation_checked_digest != digest
    ):
        code = error.code if error is not None else "unknown"
        entry.moderation_state = ModerationState.UNCHECKED
        entry.moderation_reason = _(
            "The automatic check could not run (%(code)s). The entry cannot be shared until "
            "it does; sharing tries again."
        ) % {"code": code}
        fields += ["moderation_state", "moderation_reason"]
        details.update({"checker": error.checker if error else "", "code": code})
        moderation_event_record(
            action=ModerationAction.CHECK_FAILED,
            entry=entry,
            reason=entry.moderation_reason,
            details=details,
        )
    return fields


def _entry_locked(entry: DiaryEntry) -> DiaryEntry:
    return DiaryEntry.objects.select_for_update().get(pk=entry.pk)


@transaction.atomic
def entry_hide(*, actor, entry: DiaryEntry, reason: str) -> DiaryEntry:
    """Hide an entry: its share link stops working and its owner sees why."""
    reason = reason.strip()
    if not reason:
        raise ServiceError(_("Give a reason: the owner will see it."), entry_id=entry.pk)
    locked = _entry_locked(entry)
    if locked.moderation_state == ModerationState.HIDDEN:
        raise ServiceError(_("The entry was already hidden."), entry_id=locked.pk)
    previous = locked.moderation_state
    locked.moderation_state = ModerationState.HIDDEN
    locked.moderation_reason = reason
    locked.save(update_fields=["moderation_state", "moderation_reason"])
    moderation_event_record(
        action=ModerationAction.ENTRY_HIDDEN,
        actor=actor,
        entry=locked,
        reason=reason,
        details={"previous_state": previous},
    )
    return locked


def _approve(entry: DiaryEntry) -> None:
    """A moderator looked at the text: it may be published as it is."""
    entry.moderation_state = ModerationState.OK
    entry.moderation_reason = ""
    entry.moderation_checked_digest = text_digest(entry.text)
    entry.save(update_fields=["moderation_state", "moderation_reason", "moderation_checked_digest"])


@transaction.atomic
def entry_restore(*, actor, entry: DiaryEntry, reason: str = "") -> DiaryEntry:
    """Undo a hide. The moderator has looked at the text, so it counts as checked."""
    locked = _entry_locked(entry)
    if locked.moderation_state != ModerationState.HIDDEN:
        raise ServiceError(_("The entry is not hidden."), entry_id=locked.pk)
    _approve(locked)
    moderation_event_record(
        action=ModerationAction.ENTRY_RESTORED, actor=actor, entry=locked, reason=reason.strip()
    )
    return locked


@transaction.atomic
def entry_clear_flag(*, actor, entry: DiaryEntry, reason: str = "") -> DiaryEntry:
    """Clear the automatic check's flag (or its failure): the entry may be shared again."""
    locked = _entry_locked(entry)
    if locked.moderation_state not in (ModerationState.FLAGGED, ModerationState.UNCHECKED):
        raise ServiceError(_("The entry is not flagged."), entry_id=locked.pk)
    previous = locked.moderation_state
    _approve(locked)
    moderation_event_record(
        action=ModerationAction.FLAG_CLEARED,
        actor=actor,
        entry=locked,
        reason=reason.strip(),
        details={"previous_state": previous},
    )
    return locked


@transaction.atomic
def entry_share_revoke(*, actor, entry: DiaryEntry, reason: str = "") -> DiaryEntry:
    """A moderator stops the sharing of an entry; its link stops working for good."""
    locked = _entry_locked(entry)
    if not locked.is_shared:
        raise ServiceError(_("The entry is not shared."), entry_id=locked.pk)
    locked.sharing = Sharing.PRIVATE
    locked.share_token = None
    locked.save(update_fields=["sharing", "share_token"])
    moderation_event_record(
        action=ModerationAction.SHARE_REVOKED, actor=actor, entry=locked, reason=reason.strip()
    )
    return locked


def _reports_key(user_id: int) -> str:
    return f"diary-reports:{user_id}:{int(time.time() // 3600)}"


def entry_report(*, user, entry: DiaryEntry, reason: str, details: str = "") -> Report:
    """Report a shared entry: signed-in people only, one open report per person and entry,
    at most DIARY_REPORTS_PER_HOUR reports per person per hour."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        raise ServiceError(_("Sign in to report an entry."))
    if reason not in ReportReason.values:
        raise ServiceError(_("Choose a reason."), entry_id=entry.pk)
    current = DiaryEntry.objects.filter(pk=entry.pk).first()
    if current is not None and current.owner_id == user.pk:
        raise ServiceError(_("This is your own entry."), entry_id=entry.pk)
    if current is None or not selectors.entry_is_published(entry=current):
        raise NotFound(_("This entry is not shared."), entry_id=entry.pk)
    if Report.objects.filter(entry=entry, reporter=user, status=ReportStatus.OPEN).exists():
        raise AlreadyReported(
            _("You have already reported this entry; a moderator will look at it."),
            entry_id=entry.pk,
        )
    key = _reports_key(user.pk)
    if cache.get(key, 0) >= settings.DIARY_REPORTS_PER_HOUR:
        raise RateLimited(
            _("You have sent many reports in the last hour. Please try again later."),
            entry_id=entry.pk,
        )
    try:
        with transaction.atomic():
            report = Report.objects.create(
                entry=entry, reporter=user, reason=reason, details=details.strip()[:1000]
            )
            moderation_event_record(
                action=ModerationAction.REPORT_FILED,
                actor=user,
                entry=entry,
                report=report,
                reason=report.get_reason_display(),
                details={"reason": reason},
            )
    except IntegrityError:  # the same person, twice at once
        raise AlreadyReported(
            _("You have already reported this entry; a moderator will look at it."),
            entry_id=entry.pk,
        ) from None
    cache.add(key, 0, timeout=3600)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=3600)
    return report


@transaction.atomic
def report_resolve(
    *, actor, report: Report, status: str = ReportStatus.RESOLVED, note: str = ""
) -> Report:
    """Close an open report: resolved (a moderator acted) or dismissed (nothing to do)."""
    if status not in (ReportStatus.RESOLVED, ReportStatus.DISMISSED):
        raise ServiceError(_("A report is resolved or dismissed."))
    locked = Report.objects.select_for_update().select_related("entry").get(pk=report.pk)
    if locked.status != ReportStatus.OPEN:
        raise ServiceError(_("The report was already closed."))
    locked.status = status
    locked.resolved_at = timezone.now()
    locked.resolved_by = actor
    locked.resolution_note = note.strip()
    locked.save(update_fields=["status", "resolved_at", "resolved_by", "resolution_note"])
    moderation_event_record(
        action=(
            ModerationAction.REPORT_RESOLVED
            if status == ReportStatus.RESOLVED
            else ModerationAction.REPORT_DISMISSED
        ),
        actor=actor,
        entry=locked.entry,
        report=locked,
        reason=locked.resolution_note,
    )
    return locked


def _refuse_to_moderate_account(*, actor, user) -> None:
    if user.pk == actor.pk:
        raise ServiceError(_("You cannot do this to your own account."))
    if (user.is_superuser or user.is_staff) and not actor.is_superuser:
        raise ServiceError(_("Only a superuser can do this to a staff account."))


def user_deactivate(*, actor, user, reason: str = "") -> int:
    """Deactivate an account: its open sockets close at once and its running generations stop
    (their text is saved). Returns how many generations were stopped."""
    _refuse_to_moderate_account(actor=actor, user=user)
    with transaction.atomic():
        changed = (
            get_user_model().objects.filter(pk=user.pk, is_active=True).update(is_active=False)
        )
        if not changed:
            raise ServiceError(_("The account was already inactive."))
        user.is_active = False
        event = moderation_event_record(
            action=ModerationAction.USER_DEACTIVATED,
            actor=actor,
            subject=user,
            reason=reason.strip(),
        )
    stopped = user_sockets_and_generations_stop(user=user, reason="deactivated")
    if stopped:
        event.details["generations_stopped"] = stopped
        ModerationEvent.objects.filter(pk=event.pk).update(details=event.details)
    return stopped


@transaction.atomic
def user_reactivate(*, actor, user, reason: str = "") -> None:
    """Let a deactivated account sign in again."""
    _refuse_to_moderate_account(actor=actor, user=user)
    if not get_user_model().objects.filter(pk=user.pk, is_active=False).update(is_active=True):
        raise ServiceError(_("The account was already active."))
    user.is_active = True
    moderation_event_record(
        action=ModerationAction.USER_REACTIVATED, actor=actor, subject=user, reason=reason.strip()
    )


@transaction.atomic
def user_set_daily_limit(*, actor, user, limit: int | None, reason: str = "") -> Profile:
    """Set (or, with None, remove) a person's own daily generation limit."""
    if limit is not None and limit < 0:
        raise ServiceError(_("A limit cannot be negative."))
    profile, _created = Profile.objects.select_for_update().get_or_create(user=user)
    previous = profile.daily_generation_limit
    if previous == limit:
        return profile
    profile.daily_generation_limit = limit
    profile.save(update_fields=["daily_generation_limit"])
    moderation_event_record(
        action=ModerationAction.LIMIT_CHANGED,
        actor=actor,
        subject=user,
        reason=reason.strip(),
        details={"from": previous, "to": limit, "default": settings.DIARY_DAILY_GENERATIONS},
    )
    return profile
