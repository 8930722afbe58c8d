"""Reads. Every query a view or consumer makes about diaries lives here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from . import search, search_index
from .exceptions import DiaryError, NotFound
from .models import (
    DailyUsage,
    DiaryEntry,
    EntryEdit,
    EntryStatus,
    Generation,
    GenerationStatus,
    ModerationState,
    Profile,
    Report,
    ReportStatus,
    Sharing,
)
from .pseudonyms import parse_names

# The group migration 0004 creates; its members work in the admin.
MODERATORS = "Moderators"


def entries_for_user(*, user) -> QuerySet[DiaryEntry]:
    """The user's entries, newest first (those in the trash aside)."""
    return DiaryEntry.objects.owned_by(user).order_by("-date", "-created_at")


def entries_count_with_trash(*, user) -> int:
    """How many entries the user has, those in the trash included."""
    return DiaryEntry.objects.filter(owner=user).count()


def entries_in_trash(*, user) -> QuerySet[DiaryEntry]:
    """The user's entries in the trash, the last deleted first."""
    return DiaryEntry.objects.in_trash_of(user).order_by("-trashed_at", "-pk")


def entry_get_for_user(*, user, entry_id: int) -> DiaryEntry:
    """One of the user's own entries; DiaryEntry.DoesNotExist for anyone else's."""
    return DiaryEntry.objects.owned_by(user).get(pk=entry_id)


# An entry's latest generation: the last started (ties: the last created).
LATEST_FIRST = ("-started_at", "-pk")


def generation_latest(*, entry: DiaryEntry) -> Generation | None:
    return entry.generations.order_by(*LATEST_FIRST).first()


def generation_latest_with_text(*, entry: DiaryEntry) -> Generation | None:
    """An entry's latest generation that wrote something (None: none did)."""
    # In Python: the text is encrypted at rest, so the database cannot tell an empty one.
    return next(
        (generation for generation in entry.generations.order_by(*LATEST_FIRST) if generation.text),
        None,
    )


def generation_latest_id(*, entry_id: int) -> int | None:
    """The id of an entry's latest generation (None: never generated)."""
    return (
        Generation.objects.filter(entry_id=entry_id)
        .order_by(*LATEST_FIRST)
        .values_list("pk", flat=True)
        .first()
    )


def generation_running(*, entry_id: int) -> Generation | None:
    return Generation.objects.filter(entry_id=entry_id, status=GenerationStatus.GENERATING).first()


def generation_for_request(*, user, request_id: str) -> Generation | None:
    """The generation a request_id already started, if any (a repeat starts nothing)."""
    existing = Generation.objects.select_related("entry").filter(request_id=request_id).first()
    if existing is not None and existing.entry.owner_id != user.pk:
        raise DiaryError("This request_id has already been used.")
    if existing is not None and existing.entry.trashed_at is not None:
        raise NotFound("There is no such entry of yours.", entry=existing.entry_id)
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


# Generations whose text, when there is any, is the entry's own text.
_WHOLE = (GenerationStatus.DONE, GenerationStatus.CANCELLED)


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
    # Finished: the reader sees the entry's text unless the last attempts left partial text
    # (interrupted, failed, filtered) that the owner has not edited over since. An attempt that
    # failed before writing anything hides nothing: the one before it shows, so an entry that
    # was never written whole keeps the text so far on its page, with Retry.
    text = entry.text
    if latest.status not in _WHOLE:
        left = latest if latest.text else generation_latest_with_text(entry=entry)
        edited = (
            entry.writer == "owner"
            and left is not None
            and (entry.updated_at >= (left.finished_at or left.started_at))
        )
        if left is not None and left.status not in _WHOLE and not edited:
            text = left.text
    return EntryState(
        entry_id=entry.pk,
        generation_id=latest.pk,
        status=entry.status,
        text=text,
        seq=latest.seq,
        error_code=latest.error_code,
        error_message=latest.error_message,
    )


# --- The daily quota -----------------------------------------------------------------------------


def usage_for_day(*, user, day: dt.date) -> DailyUsage | None:
    """A user's usage of one day: what counts against the daily quota (None: nothing yet)."""
    return DailyUsage.objects.filter(user=user, day=day).first()


def generations_today_count(*, user) -> int:
    """The generations a user started today: what counts against their daily quota, deleted
    entries' included."""
    usage = usage_for_day(user=user, day=timezone.localdate())
    return usage.generations if usage is not None else 0


def daily_limit_for(*, user) -> int:
    """How many generations a day the user may start: their own limit, else the site's."""
    limit = (
        Profile.objects.filter(user=user).values_list("daily_generation_limit", flat=True).first()
    )
    return settings.DIARY_DAILY_GENERATIONS if limit is None else limit


def names_kept_from_model(*, user_id: int) -> list[str]:
    """The names a person keeps from the model (Settings), or none when the option is off."""
    profile = (
        Profile.objects.filter(user_id=user_id, keep_names_from_model=True)
        .only("private_names")
        .first()
    )
    return parse_names(profile.private_names) if profile is not None else []


def daily_limit_of(*, user) -> int:
    """daily_limit_for a user fetched with `select_related("diary_profile")`: no query."""
    try:
        limit = user.diary_profile.daily_generation_limit
    except Profile.DoesNotExist:  # no profile yet
        limit = None
    return settings.DIARY_DAILY_GENERATIONS if limit is None else limit


def entry_history(*, entry: DiaryEntry) -> list[Generation | EntryEdit]:
    """Every generation and edit of an entry, newest first."""
    items: list[Generation | EntryEdit] = [*entry.generations.all(), *entry.edits.all()]
    items.sort(
        key=lambda item: item.started_at if isinstance(item, Generation) else item.created_at,
        reverse=True,
    )
    return items


def entry_current_version(
    *, entry: DiaryEntry, history: list[Generation | EntryEdit] | None = None
) -> Generation | EntryEdit | None:
    """The one version whose text the entry shows: the newest with that text (a restored
    version is recorded as a new edit, so it is the newest), or None when none has it."""
    if not entry.text:
        return None
    items = entry_history(entry=entry) if history is None else history
    return next((item for item in items if item.text == entry.text), None)


# --- Calendar, search, history, export ----------------------------------------------------------


def entries_with_text_so_far(entries: Iterable[DiaryEntry]) -> list[DiaryEntry]:
    """`entries` as a list, each being written marked `is_live` and given `text_so_far`: its
    running generation's last checkpoint (one query for them all)."""
    entries = list(entries)
    writing = [entry.pk for entry in entries if entry.status == EntryStatus.GENERATING]
    texts = (
        dict(
            Generation.objects.filter(entry_id__in=writing, status=GenerationStatus.GENERATING)
            .values_list("entry_id", "text")
            .order_by()
        )
        if writing
        else {}
    )
    for entry in entries:
        if entry.pk in texts:
            entry.is_live, entry.text_so_far = True, texts[entry.pk]
    return entries


def entries_for_month(*, user, year: int, month: int) -> QuerySet[DiaryEntry]:
    """The user's entries dated in one month, in calendar order."""
    first = dt.date(year, month, 1)
    after = dt.date(year + month // 12, month % 12 + 1, 1)
    return (
        DiaryEntry.objects.owned_by(user)
        .filter(date__gte=first, date__lt=after)
        .order_by("date", "created_at")
    )


class SearchResults(Sequence):
    """The entries a search found, best first, for a Paginator: the ranking holds only ids, and
    a page loads its own entries (20 rows, not every match)."""

    def __init__(self, ids: list[int], entries: QuerySet[DiaryEntry]) -> None:
        self.ids = ids
        self.entries = entries

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index):
        if isinstance(index, int):
            return self[index : index + 1 or None][0]
        ids = self.ids[index]
        found = self.entries.in_bulk(ids)
        return [found[pk] for pk in ids if pk in found]


# The last few searchers' normalized diaries (see search.CorpusCache; settings say how long).
_corpora = search.CorpusCache()
SEARCH_REFRESH_MARGIN_SECONDS = 60


def search_cache_clear() -> None:
    """Forget every kept search corpus (tests: a rolled-back database reuses ids)."""
    _corpora.clear()


def entries_search(
    *,
    user,
    query: str,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> SearchResults:
    """The user's entries whose text or notes match `query`, best first (see diaries.search),
    dated from `date_from` to `date_to` (both included) when given; with no words, the entries
    of that range, newest first.

    The match runs in Python over each entry's sealed search document (diaries.search_index);
    no SQL mentions the words. The normalized diary is kept a while for the next page or query;
    when an entry changes, only the entries written since are read (and opened) again.
    """
    own = entries_for_user(user=user)
    dated = own
    if date_from is not None:
        dated = dated.filter(date__gte=date_from)
    if date_to is not None:
        dated = dated.filter(date__lte=date_to)
    if not search.terms_of(query):
        if date_from is None and date_to is None:
            return SearchResults([], own)
        return SearchResults(list(dated.values_list("pk", flat=True)), own)
    ranked = _entries_ranked(user=user, own=own, query=query)
    if dated is not own:
        in_range = set(dated.values_list("pk", flat=True))
        ranked = [pk for pk in ranked if pk in in_range]
    return SearchResults(ranked, own)


def _entries_ranked(*, user, own: QuerySet[DiaryEntry], query: str) -> list[int]:
    # What the database says about the diary: the entries, the last change and, since an entry
    # restored from the trash may be older than the last change, the trash.
    live, trashed = Q(trashed_at__isnull=True), Q(trashed_at__isnull=False)
    fingerprint = DiaryEntry.objects.filter(owner=user).aggregate(
        count=Count("pk", filter=live),
        changed=Max("updated_at", filter=live),
        last=Max("pk", filter=live),
        in_trash=Count("pk", filter=trashed),
        trashed=Max("trashed_at"),
    )

    def refresh(corpus: search.Corpus, kept: tuple) -> search.Corpus | None:
        _count, changed, *_rest = kept
        if changed is None:
            return None
        # A margin for writes whose transaction committed after a later one's.
        since = changed - dt.timedelta(seconds=SEARCH_REFRESH_MARGIN_SECONDS)
        return corpus.updated(
            own.values_list("pk", flat=True),
            search_index.documents(own.filter(updated_at__gte=since), owner=user),
        )

    corpus = _corpora.get(
        user.pk,
        tuple(fingerprint.values()),
        lambda: search.Corpus.of_documents(search_index.documents(own, owner=user)),
        seconds=settings.DIARY_SEARCH_CACHE_SECONDS,
        size=settings.DIARY_SEARCH_CACHE_PEOPLE,
        refresh=refresh,
    )
    return corpus.rank(query)


def entry_search_excerpt(*, entry: DiaryEntry, query: str) -> search.Excerpt | None:
    """Where a search found `entry`: a piece of its text, else of the notes it was written
    from, every match marked (diaries.search.excerpt). Field names as in DiaryEntry."""
    return search.excerpt([(name, getattr(entry, name)) for name in search.FIELDS], query)


def entry_version_get(*, entry: DiaryEntry, kind: str, version_id: int) -> Generation | EntryEdit:
    """One earlier version of an entry: a generation or an edit (DoesNotExist otherwise)."""
    if kind == "generation":
        return entry.generations.get(pk=version_id)
    if kind == "edit":
        return entry.edits.get(pk=version_id)
    raise Generation.DoesNotExist(f"unknown version kind {kind!r}")


def entries_for_export(*, user) -> QuerySet[DiaryEntry]:
    """All the user's entries, oldest first, with every generation and edit."""
    return (
        DiaryEntry.objects.owned_by(user)
        .order_by("date", "created_at")
        .prefetch_related("generations", "edits")
    )


# --- Moderation: sharing, reports, the moderators' view ----------------------------------------


def entry_is_published(*, entry: DiaryEntry) -> bool:
    """Whether the shared page shows this entry: shared, not hidden nor flagged, and its text
    either the owner's own or model-written text that passed the check (or a moderator)."""
    return (
        entry.is_shared
        and entry.trashed_at is None
        and entry.moderation_state == ModerationState.OK
        and bool(entry.text)
        and not entry.text_needs_check
    )


def entry_published_by_token(*, token: str) -> DiaryEntry | None:
    """The entry a share link shows, or None (revoked, hidden, flagged, not checked yet)."""
    entry = DiaryEntry.objects.filter(
        share_token=token, sharing=Sharing.LINK, trashed_at__isnull=True
    ).first()
    return entry if entry is not None and entry_is_published(entry=entry) else None


def email_address_shown(*, user) -> str:
    """The address a person's mail goes to, as allauth keeps it: the primary one, else the
    first added ("" when there is none)."""
    address = (
        EmailAddress.objects.filter(user=user)
        .order_by("-primary", "pk")
        .values_list("email", flat=True)
        .first()
    )
    return address or user.email or ""


def author_name(*, user) -> str:
    """How a shared entry names its author: the display name they chose, never the username."""
    name = Profile.objects.filter(user=user).values_list("display_name", flat=True).first()
    return name or _("A Nikki user")


def entries_for_moderation(
    *, user, entries: QuerySet[DiaryEntry] | None = None
) -> QuerySet[DiaryEntry]:
    """The entries (of `entries`, default all) a moderator may see: all for a superuser; for
    anyone else only those shared, flagged, hidden or with an open report — never a private
    diary nobody has reason to look at. A closed report (dismissed or resolved) opens nothing:
    once it is decided, what the owner writes in private is private again."""
    entries = DiaryEntry.objects.all() if entries is None else entries
    if user.is_superuser:
        return entries
    return entries.filter(
        Q(sharing=Sharing.LINK)
        | Q(moderation_state__in=(ModerationState.FLAGGED, ModerationState.HIDDEN))
        | Exists(Report.objects.filter(entry=OuterRef("pk"), status=ReportStatus.OPEN))
    )


def entry_visible_to_moderator(*, user, entry: DiaryEntry) -> bool:
    if user.is_superuser:
        return True
    return entries_for_moderation(user=user).filter(pk=entry.pk).exists()


def entries_with_report_counts(entries: QuerySet[DiaryEntry]) -> QuerySet[DiaryEntry]:
    return entries.annotate(
        report_count=Count("reports", distinct=True),
        open_report_count=Count(
            "reports", filter=Q(reports__status=ReportStatus.OPEN), distinct=True
        ),
    )


def entries_needing_review(entries: QuerySet[DiaryEntry]) -> QuerySet[DiaryEntry]:
    """The moderation queue: flagged, open reports, or shared and not checked."""
    return entries.filter(
        Q(moderation_state=ModerationState.FLAGGED)
        | Q(sharing=Sharing.LINK, moderation_state=ModerationState.UNCHECKED)
        | Exists(Report.objects.filter(entry=OuterRef("pk"), status=ReportStatus.OPEN))
    )


def generations_for_moderation(*, user) -> QuerySet[Generation]:
    return Generation.objects.filter(entry__in=entries_for_moderation(user=user))


def accounts_with_usage(users: QuerySet) -> QuerySet:
    """Users with their generations and tokens today, and tokens ever, from their daily usage
    (what the quota counts: deleting entries does not lower it), and how many of those
    generations ended without a usage report (their tokens unknown)."""
    today = Q(diary_usage__day=timezone.localdate())
    return users.annotate(
        generations_today=Coalesce(Sum("diary_usage__generations", filter=today), 0),
        tokens_today=Sum("diary_usage__tokens", filter=today),
        tokens_total=Sum("diary_usage__tokens"),
        unknown_today=Sum("diary_usage__unknown_usage_generations", filter=today),
        unknown_total=Sum("diary_usage__unknown_usage_generations"),
    )


def open_report_exists(*, user, entry: DiaryEntry) -> bool:
    return Report.objects.filter(entry=entry, reporter=user, status=ReportStatus.OPEN).exists()


def user_needs_second_factor(*, user) -> bool:
    """Whether DIARY_MFA_REQUIRED_FOR_STAFF holds this signed-in person back until they add an
    authenticator app or a passkey: staff, superusers and moderators read other people's
    diaries."""
    if not settings.DIARY_MFA_REQUIRED_FOR_STAFF or not user.is_authenticated:
        return False
    if not (user.is_staff or user.is_superuser or user.groups.filter(name=MODERATORS).exists()):
        return False
    return not Authenticator.objects.filter(
        user=user, type__in=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
    ).exists()
