"""The trash's pages: what one deleted, restoring it, deleting it for good, emptying the trash."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import selectors
from .exceptions import DiaryError
from .services import trash

ENTRIES_PER_PAGE = 20


@require_GET
@login_required
def trash_list(request: HttpRequest) -> HttpResponse:
    """The entries one deleted, each restorable until the day it is deleted for good."""
    keep = dt.timedelta(days=settings.DIARY_TRASH_DAYS)
    page = Paginator(selectors.entries_in_trash(user=request.user), ENTRIES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    for entry in page.object_list:
        entry.deleted_for_good_at = entry.trashed_at + keep
    return render(
        request,
        "diaries/trash.html",
        {"page": page, "trash_days": settings.DIARY_TRASH_DAYS},
    )


@require_POST
@login_required
def trash_restore(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        entry = trash.entry_trash_restore(user=request.user, entry_id=pk)
    except DiaryError as exc:
        messages.error(request, exc.message)
        return redirect("diaries:trash")
    messages.success(request, _("The entry is back, with all its versions."))
    return redirect(entry)


@require_http_methods(["GET", "POST"])
@login_required
def trash_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete one entry of one's trash for good, after a confirmation."""
    if request.method == "POST":
        try:
            trash.trash_entry_delete(user=request.user, entry_id=pk)
        except DiaryError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("The entry is deleted for good."))
        return redirect("diaries:trash")
    entry = selectors.entries_in_trash(user=request.user).filter(pk=pk).first()
    if entry is None:
        raise Http404(_("This entry is not in your trash."))
    return render(request, "diaries/trash_confirm_delete.html", {"entry": entry})


@require_http_methods(["GET", "POST"])
@login_required
def trash_empty(request: HttpRequest) -> HttpResponse:
    """Delete every entry in one's trash for good, after a confirmation."""
    if request.method == "POST":
        count = trash.trash_empty(user=request.user)
        messages.success(
            request,
            ngettext(
                "%(count)d entry is deleted for good.",
                "%(count)d entries are deleted for good.",
                count,
            )
            % {"count": count},
        )
        return redirect("diaries:trash")
    count = selectors.entries_in_trash(user=request.user).count()
    return render(request, "diaries/trash_confirm_empty.html", {"count": count})
