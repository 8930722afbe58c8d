"""What the moderation desk says about the automatic check in force."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from diaries.checkers.base import NullChecker
from diaries.checkers.openai import OpenAIModerationChecker
from diaries.checkers.wordlist import WordListChecker
from diaries.services.checks import checker_from_settings

register = template.Library()


@register.simple_tag
def moderation_check_summary() -> str:
    """One sentence: which checker looks at every finished text, and what that means."""
    try:
        checker = checker_from_settings()
    except Exception:
        return _("The automatic check is misconfigured: see DIARY_MODERATION in the logs.")
    if isinstance(checker, OpenAIModerationChecker):
        return _("Automatic check: OpenAI's moderation endpoint (%(model)s).") % {
            "model": checker.model
        }
    if isinstance(checker, NullChecker):
        return _(
            "Nothing is checked automatically (DIARY_MODERATION=off): shared entries are "
            "published as written, and only reports bring them here."
        )
    if isinstance(checker, WordListChecker) and checker.shipped:
        return _(
            "Automatic check: only the small word list shipped with Nikki (English and "
            "Japanese, %(count)d words and phrases). Without an OpenAI key nothing else checks a "
            "text before it is shared; set DIARY_MODERATION_WORDS or DIARY_MODERATION_WORDS_FILE "
            "to use your own list."
        ) % {"count": len(checker.words)}
    count = len(getattr(checker, "words", ()))
    return ngettext(
        "Automatic check: this site's word list (%(count)d word).",
        "Automatic check: this site's word list (%(count)d words).",
        count,
    ) % {"count": count}
