"""An entry's versions: every generation and edit, word differences, restoring one."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from . import selectors
from .exceptions import DiaryError
from .models import EntryEdit, Generation, GenerationStatus
from .services import entries
from .worddiff import word_diff


def _key(item: Generation | EntryEdit) -> str:
    return f"{'generation' if isinstance(item, Generation) else 'edit'}-{item.pk}"


def _at(item: Generation | EntryEdit):
    return item.started_at if isinstance(item, Generation) else item.created_at


def _label(item: Generation | EntryEdit) -> str:
    """A version as a person names it: whose, and when."""
    when = date_format(timezone.localtime(_at(item)), "DATETIME_FORMAT")
    if isinstance(item, Generation):
        return _("the text written on %(when)s") % {"when": when}
    return _("your text of %(when)s") % {"when": when}


@require_GET
@login_required
def entry_history(request: HttpRequest, pk: int) -> HttpResponse:
    """Every generation and edit of an entry, each with its word changes against the current
    text, readable and restorable; any two compared word by word (?a=…&b=…)."""
    entry = get_object_or_404(selectors.entries_for_user(user=request.user), pk=pk)
    history = selectors.entry_history(entry=entry)
    current = selectors.entry_current_version(entry=entry, history=history)
    versions = [
        {
            "item": item,
            "key": _key(item),
            "kind": "generation" if isinstance(item, Generation) else "edit",
            "at": _at(item),
            "label": _label(item),
            "is_current": item is current,
            "diff": word_diff(item.text, entry.text) if item is not current and item.text else [],
        }
        for item in history
    ]
    by_key = {version["key"]: version for version in versions}
    first, second = by_key.get(request.GET.get("a", "")), by_key.get(request.GET.get("b", ""))
    # The form offers, unless asked otherwise, the newest other version against the current.
    current_key = next((v["key"] for v in versions if v["is_current"]), "")
    other_key = next((v["key"] for v in versions if not v["is_current"]), "")
    compared = None
    if first and second:
        compared = {
            "first": first,
            "second": second,
            "diff": word_diff(first["item"].text, second["item"].text),
        }
    return render(
        request,
        "diaries/entry_history.html",
        {
            "entry": entry,
            "versions": versions,
            "compared": compared,
            "selected": (
                first["key"] if first else other_key,
                second["key"] if second else current_key,
            ),
            "is_generating": entry.status == GenerationStatus.GENERATING,
        },
    )


@require_POST
@login_required
def entry_restore(request: HttpRequest, pk: int, kind: str, version: int) -> HttpResponse:
    """Make an earlier version the entry's text (recorded as a new edit: nothing is lost), and
    say which text it replaced."""
    entry = get_object_or_404(selectors.entries_for_user(user=request.user), pk=pk)
    try:
        item = selectors.entry_version_get(entry=entry, kind=kind, version_id=version)
    except ObjectDoesNotExist:
        raise Http404 from None
    replaced = selectors.entry_current_version(entry=entry)
    replaced_text = entry.text
    try:
        entries.entry_restore_version(entry=entry, version=item)
    except DiaryError as exc:
        messages.error(request, exc.message)
        return redirect("diaries:entry_history", pk=entry.pk)
    excerpt = Truncator(" ".join(replaced_text.split())).chars(80)
    if replaced is not None:
        message = _(
            "Restored %(restored)s. It replaced %(replaced)s (“%(excerpt)s”), which is kept "
            "in the versions."
        ) % {"restored": _label(item), "replaced": _label(replaced), "excerpt": excerpt}
    elif replaced_text:
        message = _(
            "Restored %(restored)s. It replaced the text “%(excerpt)s”, which is kept in the "
            "versions."
        ) % {"restored": _label(item), "excerpt": excerpt}
    else:
        message = _("Restored %(restored)s.") % {"restored": _label(item)}
    messages.success(request, message)
    return redirect(entry)
