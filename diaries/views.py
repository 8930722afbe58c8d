"""Pages. Thin: forms validate, services write, selectors read."""

from __future__ import annotations

import asyncio
import calendar
import datetime as dt
import logging
from collections import defaultdict

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.utils.dateparse import parse_date
from django.utils.dates import WEEKDAYS, WEEKDAYS_ABBR
from django.utils.formats import get_format
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import selectors
from .exceptions import AlreadyReported, DiaryError, RateLimited
from .forms import (
    AccountDeleteForm,
    EntryInputsForm,
    EntryOwnTextForm,
    EntryTextForm,
    SearchForm,
    SettingsForm,
)
from .models import (
    OWNER_WRITER,
    DiaryEntry,
    GenerationStatus,
    Language,
    Report,
    Tone,
)
from .services import accounts, entries, sharing, trash
from .writer_settings import writer_from_settings

logger = logging.getLogger(__name__)

ENTRIES_PER_PAGE = 20


def parse_date_or_none(value: str) -> dt.date | None:
    try:
        return parse_date(value)
    except ValueError:  # well formed, but no such day
        return None


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    own = selectors.entries_for_user(user=request.user)
    today = timezone.localdate()
    # Today's entries under Today, the others under Recent: each listed once.
    page = Paginator(own.exclude(date=today), ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    page.object_list = selectors.entries_with_text_so_far(page.object_list)
    return render(
        request,
        "diaries/home.html",
        {
            "today": today,
            "today_entries": selectors.entries_with_text_so_far(own.filter(date=today)),
            "page": page,
            "writer": writer_from_settings(),
        },
    )


@require_http_methods(["GET", "POST"])
@login_required
def entry_new(request: HttpRequest) -> HttpResponse:
    """The notes form. With JavaScript, Write sends them over the socket; without, POST saves
    them and the entry page starts writing."""
    profile = accounts.profile_get(user=request.user)
    initial = {
        # ?date=YYYY-MM-DD: a day of the calendar; anything else: today.
        "date": parse_date_or_none(request.GET.get("date", "")) or timezone.localdate(),
        "tone": profile.default_tone,
        "language": profile.default_language or Language.from_code(get_language()),
    }
    if request.GET.get("mode") == "own" or request.POST.get("form") == "own":
        return _entry_new_own(request, initial)
    form = EntryInputsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        entry = entries.entry_create(user=request.user, **form.cleaned_data)
        return redirect(f"{entry.get_absolute_url()}?write=1")
    return render(
        request, "diaries/entry_new.html", {"form": form, "writer": writer_from_settings()}
    )


def _entry_new_own(request: HttpRequest, initial: dict) -> HttpResponse:
    """ "Write it myself": a plain editor, no model; the model can be asked later."""
    form = EntryOwnTextForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        entry = entries.entry_write_by_hand(user=request.user, **form.cleaned_data)
        messages.success(
            request,
            _("Your entry is saved, in your own words. Nikki can write or polish it later."),
        )
        return redirect(entry)
    return render(request, "diaries/entry_new_own.html", {"form": form})


@require_GET
@login_required
def entry_detail(request: HttpRequest, pk: int) -> HttpResponse:
    entry = get_object_or_404(selectors.entries_for_user(user=request.user), pk=pk)
    state = selectors.entry_state(entry=entry)
    is_generating = state.status == GenerationStatus.GENERATING
    # Who is writing the text now (the running generation's writer), else who would.
    running = selectors.generation_running(entry_id=entry.pk) if is_generating else None
    return render(
        request,
        "diaries/entry_detail.html",
        {
            "entry": entry,
            "state": state,
            "is_generating": is_generating,
            "own_text": entry.writer == OWNER_WRITER,
            "writer_now": (
                {"name": running.writer, "model": running.model_name}
                if running
                else writer_from_settings()
            ),
            "history": selectors.entry_history(entry=entry),
            "autostart": request.GET.get("write") == "1" and entry.status == "draft",
        },
    )


@require_http_methods(["GET", "POST"])
@login_required
def entry_edit(request: HttpRequest, pk: int) -> HttpResponse:
    entry = get_object_or_404(selectors.entries_for_user(user=request.user), pk=pk)
    inputs_form = EntryInputsForm(
        request.POST if request.POST.get("form") == "inputs" else None,
        instance=entry,
        prefix="inputs",
    )
    text_form = EntryTextForm(
        request.POST if request.POST.get("form") == "text" else None, instance=entry
    )
    if request.method == "POST":
        if request.POST.get("form") == "text" and text_form.is_valid():
            entries.entry_update_text(entry=entry, text=text_form.cleaned_data["text"])
            messages.success(request, _("Your edit is saved. Earlier versions are kept."))
            return redirect(entry)
        if request.POST.get("form") == "inputs" and inputs_form.is_valid():
            entries.entry_update_inputs(entry=entry, **inputs_form.cleaned_data)
            messages.success(request, _("Your notes are saved. Regenerate to rewrite the entry."))
            return redirect(entry)
    return render(
        request,
        "diaries/entry_edit.html",
        {"entry": entry, "text_form": text_form, "inputs_form": inputs_form},
    )


@require_http_methods(["GET", "POST"])
@login_required
def entry_delete(request: HttpRequest, pk: int) -> HttpResponse:
    entry = get_object_or_404(selectors.entries_for_user(user=request.user), pk=pk)
    if request.method == "POST":
        trash.entry_trash(user=request.user, entry=entry)
        messages.success(request, _("The entry is in the trash. You can restore it from there."))
        return redirect("diaries:home")
    context = {"entry": entry, "trash_days": settings.DIARY_TRASH_DAYS}
    return render(request, "diaries/entry_confirm_delete.html", context)


@require_GET
def shared_entry(request: HttpRequest, token: str) -> HttpResponse:
    """The public, read-only page of a shared entry: its date, text and author's display name.

    A revoked, hidden, flagged or trashed entry, or text the automatic check has not passed, is
    a 404 (a friendly page).
    """
    entry = selectors.entry_published_by_token(token=token)
    if entry is None:  # a page that says so, kindly, and says nothing of why
        response = render(request, "diaries/shared_missing.html", status=404)
    else:
        response = render(
            request,
            "diaries/shared_entry.html",
            {
                "entry": entry,
                "author": selectors.author_name(user=entry.owner_id),
                "is_owner": request.user.is_authenticated and request.user.pk == entry.owner_id,
            },
        )
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _database_ok() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


async def _channel_layer_ok() -> bool:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "healthz.ping"})
    async with asyncio.timeout(2):
        message = await layer.receive(channel)
    return message.get("type") == "healthz.ping"


@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    """Database and channel layer reachable → 200; otherwise 503, naming what failed."""
    checks: dict[str, str] = {}
    try:
        checks["database"] = "ok" if await sync_to_async(_database_ok)() else "error"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        checks["channel_layer"] = "ok" if await _channel_layer_ok() else "error"
    except Exception as exc:
        checks["channel_layer"] = f"error: {type(exc).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503
    )


# --- Calendar, search, history, export, settings, account ---------------------------------------


# A month's grid starts and ends with days of the weeks around it, so the first and the last
# year that Python's dates can hold cannot be drawn whole: the calendar stops short of them.
CALENDAR_YEARS = range(dt.MINYEAR + 1, dt.MAXYEAR)


def _month_shift(year: int, month: int, delta: int) -> tuple[int, int] | None:
    index = year * 12 + (month - 1) + delta
    shifted = (index // 12, index % 12 + 1)
    return shifted if shifted[0] in CALENDAR_YEARS else None


@require_GET
@login_required
def calendar_month(
    request: HttpRequest, year: int | None = None, month: int | None = None
) -> HttpResponse:
    """A month of one's entries, each day linking to its entries, tones marked."""
    today = timezone.localdate()
    year, month = (year, month) if year is not None else (today.year, today.month)
    if not (1 <= month <= 12 and year in CALENDAR_YEARS):
        raise Http404
    month_entries = list(selectors.entries_for_month(user=request.user, year=year, month=month))
    by_day: dict[dt.date, list[DiaryEntry]] = defaultdict(list)
    for entry in month_entries:
        by_day[entry.date].append(entry)
    # Django counts the first day of the week from Sunday (0), the calendar module from Monday.
    first_weekday = (int(get_format("FIRST_DAY_OF_WEEK")) - 1) % 7
    weeks = [
        [
            {
                "date": day,
                "in_month": day.month == month,
                "is_today": day == today,
                "entries": by_day.get(day, []),
            }
            for day in week
        ]
        for week in calendar.Calendar(first_weekday).monthdatescalendar(year, month)
    ]
    weekdays = [
        {"name": WEEKDAYS[(first_weekday + i) % 7], "abbr": WEEKDAYS_ABBR[(first_weekday + i) % 7]}
        for i in range(7)
    ]
    previous, following = _month_shift(year, month, -1), _month_shift(year, month, 1)
    return render(
        request,
        "diaries/calendar.html",
        {
            "month_start": dt.date(year, month, 1),
            "weeks": weeks,
            "weekdays": weekdays,
            "previous": dt.date(*previous, 1) if previous else None,
            "following": dt.date(*following, 1) if following else None,
            "this_month": dt.date(today.year, today.month, 1),
            "month_entries": month_entries,
            "tones": Tone.choices,
        },
    )


@require_GET
@login_required
def entries_search(request: HttpRequest) -> HttpResponse:
    """Search over one's own entries' text and notes."""
    form = SearchForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    query = filters.get("q", "").strip()
    dates = {name: filters.get(name) for name in ("date_from", "date_to")}
    page = None
    if query or any(dates.values()):
        results = selectors.entries_search(user=request.user, query=query, **dates)
        page = Paginator(results, ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
        for entry in page.object_list:
            entry.excerpt = selectors.entry_search_excerpt(entry=entry, query=query)
    context = {"form": form, "query": query, "page": page, "searched": page is not None}
    return render(request, "diaries/search.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def settings_page(request: HttpRequest) -> HttpResponse:
    """Display name, interface language, default writing language and tone, time zone, names
    kept from the model; the account's pages (email, password, two factors); export; deletion."""
    profile = accounts.profile_get(user=request.user)
    initial = {
        "display_name": profile.display_name,
        "ui_language": profile.ui_language,
        "default_language": profile.default_language,
        "default_tone": profile.default_tone,
        "time_zone": profile.time_zone,
        "keep_names_from_model": profile.keep_names_from_model,
        "private_names": profile.private_names,
    }
    form = SettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        accounts.profile_update(user=request.user, **form.cleaned_data)
        language = form.cleaned_data["ui_language"]
        if language:
            translation.activate(language)  # the confirmation reads in the new language
        else:
            translation.activate(translation.get_language_from_request(request))
        messages.success(request, _("Your settings are saved."))
        response = redirect("diaries:settings")
        if language:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                language,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                path=settings.LANGUAGE_COOKIE_PATH,
                domain=settings.LANGUAGE_COOKIE_DOMAIN,
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
        else:  # follow the browser again
            response.delete_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                path=settings.LANGUAGE_COOKIE_PATH,
                domain=settings.LANGUAGE_COOKIE_DOMAIN,
            )
        return response
    return render(
        request,
        "diaries/settings.html",
        {
            "form": form,
            "entry_count": selectors.entries_for_user(user=request.user).count(),
            "email": selectors.email_address_shown(user=request.user),
        },
    )


@require_http_methods(["GET", "POST"])
@login_required
def account_delete(request: HttpRequest) -> HttpResponse:
    """Delete one's account and all its data, after the password is entered again."""
    form = AccountDeleteForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        user = request.user
        logout(request)
        accounts.account_delete(user=user)
        messages.success(request, _("Your account and all your entries are deleted. Goodbye."))
        return redirect("account_login")
    # Every entry goes, those in the trash too.
    count = selectors.entries_count_with_trash(user=request.user)
    context = {"form": form, "entry_count": count}
    return render(request, "registration/account_confirm_delete.html", context)


# --- Sharing and reports --------------------------------------------------------------------


@require_POST
@login_required
def entry_share(request: HttpRequest, pk: int) -> HttpResponse:
    """Share an own entry by link (or run its pending automatic check again)."""
    entry = get_object_or_404(selectors.entries_for_user(user=request.user), pk=pk)
    was_shared = entry.is_shared
    try:
        sharing.entry_share(user=request.user, entry=entry)
    except DiaryError as exc:
        messages.error(request, exc.message)
    else:
        if not was_shared:
            messages.success(request, _("Anyone with the link can now read this entry."))
    return redirect(entry)


@require_POST
@login_required
def entry_unshare(request: HttpRequest, pk: int) -> HttpResponse:
    entry = get_object_or_404(selectors.entries_for_user(user=request.user), pk=pk)
    sharing.entry_unshare(user=request.user, entry=entry)
    messages.success(request, _("The entry is private again; its link no longer works."))
    return redirect(entry)


class ReportForm(forms.ModelForm):
    class Meta:
        model = Report
        fields = ("reason", "details")
        widgets = {
            "reason": forms.RadioSelect,
            "details": forms.Textarea(attrs={"rows": 4, "maxlength": 1000}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        reason = self.fields["reason"]
        reason.choices = [choice for choice in reason.choices if choice[0]]  # no "-----"
        reason.label = _("Why should this entry not be here?")
        self.fields["details"].label = _("Anything a moderator should know (optional)")


@require_http_methods(["GET", "POST"])
@login_required
def entry_report(request: HttpRequest, token: str) -> HttpResponse:
    """Report a shared entry to the moderators (signed-in people, rate-limited)."""
    entry = selectors.entry_published_by_token(token=token)
    if entry is None:
        raise Http404("No such shared entry.")
    shared_url = redirect("diaries:shared_entry", token=token)
    if entry.owner_id == request.user.pk:
        messages.info(request, _("This is your own entry."))
        return shared_url
    form = ReportForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            sharing.entry_report(user=request.user, entry=entry, **form.cleaned_data)
        except AlreadyReported as exc:
            messages.info(request, exc.message)
            return shared_url
        except DiaryError as exc:
            form.add_error(None, exc.message)
            status = 429 if isinstance(exc, RateLimited) else 400
        else:
            messages.success(request, _("Thank you. A moderator will look at this entry."))
            return shared_url
    response = render(
        request,
        "diaries/report_form.html",
        {"entry": entry, "form": form, "token": token},
        status=status,
    )
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response
