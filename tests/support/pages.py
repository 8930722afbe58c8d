"""What a person sees on an entry's page, read from its HTML (the tiers that fetch pages)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

_ARTICLE = re.compile(r'<article class="diary entry"[^>]*\bdata-status="([^"]*)"')
_OUTPUT = re.compile(r'<div class="entry-text"[^>]*data-role="output"[^>]*>(.*?)</div>', re.S)
_ERROR_BOX = re.compile(r'<div class="error-box" data-role="error"( hidden)?>')


@dataclass(frozen=True)
class EntryPage:
    status: str  # the state the page starts in (data-status)
    text: str  # the text shown, unescaped
    retry_shown: bool  # the error box with its Retry button is visible


def entry_page(markup: str) -> EntryPage:
    status, text, box = _ARTICLE.search(markup), _OUTPUT.search(markup), _ERROR_BOX.search(markup)
    assert status and text and box, "not an entry page"
    return EntryPage(
        status=status.group(1), text=html.unescape(text.group(1)), retry_shown=not box.group(1)
    )
