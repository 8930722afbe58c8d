"""Token usage on the desk: a count the model server never reported reads "unknown", not 0."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..models import Generation

UNKNOWN = _("unknown")


def tokens_text(value: int | None) -> str:
    return str(UNKNOWN) if value is None else str(value)


def usage_summary(tokens: int | None, unknown: int | None) -> str:
    """Tokens counted over some days, and how many generations had no usage report."""
    tokens, unknown = tokens or 0, unknown or 0
    if not unknown:
        return str(tokens)
    if not tokens:
        return ngettext("unknown (%(n)d generation)", "unknown (%(n)d generations)", unknown) % {
            "n": unknown
        }
    return ngettext(
        "at least %(tokens)d (%(n)d generation unknown)",
        "at least %(tokens)d (%(n)d generations unknown)",
        unknown,
    ) % {"tokens": tokens, "n": unknown}


class GenerationUsageColumns:
    """A generation's token counts, "unknown" where the server sent none."""

    @admin.display(description=_("prompt tokens"), ordering="prompt_tokens")
    def prompt_tokens_shown(self, obj: Generation) -> str:
        return tokens_text(obj.prompt_tokens)

    @admin.display(description=_("completion tokens"), ordering="completion_tokens")
    def completion_tokens_shown(self, obj: Generation) -> str:
        return tokens_text(obj.completion_tokens)

    @admin.display(description=_("total tokens"), ordering="total_tokens")
    def total_tokens_shown(self, obj: Generation) -> str:
        return tokens_text(obj.total_tokens)


# The model's fields on a read-only page, with the token counts shown as above.
USAGE_SHOWN = {
    "prompt_tokens": "prompt_tokens_shown",
    "completion_tokens": "completion_tokens_shown",
    "total_tokens": "total_tokens_shown",
}
