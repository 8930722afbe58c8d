"""Template helpers for the diary pages: error messages in the reader's language, tone marks."""

from __future__ import annotations

from django import template
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from .. import selectors
from ..models import EntryStatus

register = template.Library()

# The protocol's error codes in the reader's language. The server's own messages (socket frames,
# saved generations) are written in English, with details such as a timeout's length; pages in
# English show those, pages in another language show these.
ERROR_MESSAGES = {
    "bad_request": _("The request could not be understood. Reload the page and try again."),
    "not_found": _("There is no such entry of yours."),
    "busy": _("This entry is already being written."),
    "rate_limited": _("Too many messages at once. Wait a moment and try again."),
    "quota_exceeded": _(
        "The writing limit has been reached (your daily limit, or the service's credit). "
        # Kept: saved with an entry, or still in the form when a new entry's start is refused.
        "Your notes are kept; try again later."
    ),
    "upstream_unavailable": _(
        "The language model service is unavailable right now. "
        "The text written so far is kept; you can try again."
    ),
    "upstream_auth": _(
        "The language model service rejected the site's credentials, so the entry could not be "
        "written. The site's administrator needs to check the API key; your notes are saved."
    ),
    "upstream_rate_limited": _(
        "The language model service is receiving too many requests right now. "
        "Please wait a minute and try again. The text written so far is kept."
    ),
    "upstream_timeout": _(
        "The language model service took too long to answer. "
        "The text written so far is kept; you can try again."
    ),
    "filtered": _(
        "The language model service's content filter stopped this entry. "
        "The text written so far is kept; you can reword your notes and try again."
    ),
    "interrupted": _(
        "The server stopped while this entry was being written. "
        "The text so far is kept; press Retry to write it again."
    ),
    "internal": _("Something went wrong on our side. Your notes are saved; please try again."),
}

GENERIC_ERROR = _("The entry could not be written. The text so far is kept; press Retry.")

# A mark per tone for the calendar and lists; the tone's name goes with it as text.
TONE_MARKS = {
    "plain": "✎",
    "warm": "☀",
    "humorous": "☺",
    "poetic": "✿",
    "reflective": "☾",
}


def _server_language_is_current() -> bool:
    return (get_language() or "en").split("-")[0] == "en"


@register.simple_tag
def error_message(code: str = "", message: str = "") -> str:
    """What to tell the reader about an error: the server's message in English, else the
    message for its code in the reader's language."""
    if message and (_server_language_is_current() or code not in ERROR_MESSAGES):
        return message
    return str(ERROR_MESSAGES.get(code, GENERIC_ERROR))


@register.simple_tag
def localized_error_messages() -> dict[str, str]:
    """The code → message table the socket script uses; empty when the server's messages are
    already in the reader's language."""
    if _server_language_is_current():
        return {}
    return {code: str(text) for code, text in ERROR_MESSAGES.items()}


@register.filter
def tone_mark(tone: str) -> str:
    return TONE_MARKS.get(tone, "•")


@register.filter
def is_published(entry) -> bool:
    """Whether the entry's share link shows it now (diaries.selectors.entry_is_published)."""
    return selectors.entry_is_published(entry=entry)


@register.simple_tag
def entry_status_labels() -> dict[str, str]:
    """Each entry status's name in the reader's language (for a script that shows it)."""
    return {value: str(label) for value, label in EntryStatus.choices}
