"""Pages. Thin: forms validate, services write, selectors read."""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from . import realtime, selectors, services
from .forms import EntryInputsForm, EntryTextForm, SignupForm
from .models import DiaryEntry, GenerationStatus, Language
from .writers import writer_from_settings

logger = logging.getLogger(__name__)


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("diaries:home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Welcome to Nikki, %(name)s.") % {"name": user.username})
        return redirect("diaries:home")
    return render(request, "registration/signup.html", {"form": form})


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's view; then the user's open sockets close (other sessions are signed out)."""

    def form_valid(self, form):
        response = super().form_valid(form)
        realtime.sockets_close_for_user(user_id=form.user.pk, reason="password_changed")
        return response


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    def form_valid(self, form):
        response = super().form_valid(form)
        realtime.sockets_close_for_user(user_id=form.user.pk, reason="password_reset")
        return response


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    entries = selectors.entries_for_user(user=request.user)
    today = timezone.localdate()
    return render(
        request,
        "diaries/home.html",
        {
            "today": today,
            "today_entries": [e for e in entries.filter(date=today)],
            "entries": entries[:50],
            "writer": writer_from_settings(),
        },
    )


@require_http_methods(["GET", "POST"])
@login_required
def entry_new(request: HttpRequest) -> HttpResponse:
    """The notes form. With JavaScript, Write sends them over the socket; without, POST saves
    them and the entry page starts writing."""
    profile = services.profile_get(user=request.user)
    initial = {
        "date": timezone.localdate(),
        "tone": profile.default_tone,
        "language": profile.default_language or Language.from_code(get_language()),
    }
    form = EntryInputsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        entry = services.entry_create(user=request.user, **form.cleaned_data)
        return redirect(f"{entry.get_absolute_url()}?write=1")
    return render(
        request, "diaries/entry_new.html", {"form": form, "writer": writer_from_settings()}
    )


@require_GET
@login_required
def entry_detail(request: HttpRequest, pk: int) -> HttpResponse:
    entry = get_object_or_404(selectors.entries_for_user(user=request.user), pk=pk)
    state = selectors.entry_state(entry=entry)
    return render(
        request,
        "diaries/entry_detail.html",
        {
            "entry": entry,
            "state": state,
            "is_generating": state.status == GenerationStatus.GENERATING,
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
            services.entry_update_text(entry=entry, text=text_form.cleaned_data["text"])
            messages.success(request, _("Your edit is saved. Earlier versions are kept."))
            return redirect(entry)
        if request.POST.get("form") == "inputs" and inputs_form.is_valid():
            services.entry_update_inputs(entry=entry, **inputs_form.cleaned_data)
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
        services.entry_delete(entry=entry)
        messages.success(request, _("The entry is deleted."))
        return redirect("diaries:home")
    return render(request, "diaries/entry_confirm_delete.html", {"entry": entry})


@require_GET
def shared_entry(request: HttpRequest, token: str) -> HttpResponse:
    entry = get_object_or_404(
        DiaryEntry.objects.select_related("owner"),
        share_token=token,
        sharing="link",
        moderation_state="ok",
    )
    response = render(request, "diaries/shared_entry.html", {"entry": entry})
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
