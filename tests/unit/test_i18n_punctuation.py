"""Japanese pages use Japanese punctuation and say which month they show."""

# ruff: noqa: RUF001 — Japanese punctuation here is intended.

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.shortcuts import resolve_url
from django.utils import translation

from tests.support.factories import make_entry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _back_to_the_default_language():
    yield
    translation.deactivate()


def test_tone_and_language_are_joined_with_a_japanese_comma(signed_in, user):
    entry = make_entry(user, tone="poetic", language="ja", morning="川沿いを走った")

    page = signed_in.get(f"/entries/{entry.pk}/", HTTP_ACCEPT_LANGUAGE="ja").text
    english = signed_in.get(f"/entries/{entry.pk}/", HTTP_ACCEPT_LANGUAGE="en").text

    assert "詩的、日本語" in page and "詩的, 日本語" not in page
    assert "Poetic, Japanese" in english


@pytest.mark.parametrize("url", ["/entries/new/", "/settings/", "account_change_password"])
def test_form_labels_end_with_a_japanese_colon(signed_in, url):
    html = signed_in.get(resolve_url(url), HTTP_ACCEPT_LANGUAGE="ja").text

    labels = re.findall(r"<label[^>]*>([^<]+)</label>", html)
    assert any(label.endswith("：") for label in labels), labels
    assert not [label for label in labels if label.rstrip().endswith(":")], labels


def test_a_month_in_the_calendar_is_called_by_its_name(signed_in, user):
    make_entry(user, date=dt.date(2025, 11, 3))

    japanese = signed_in.get("/calendar/2025/11/", HTTP_ACCEPT_LANGUAGE="ja").text
    empty = signed_in.get("/calendar/2025/10/", HTTP_ACCEPT_LANGUAGE="ja").text
    english = signed_in.get("/calendar/2025/11/", HTTP_ACCEPT_LANGUAGE="en").text

    assert "11月の日記 1 件" in japanese and "今月の日記" not in japanese
    assert "10月はまだ何も書いていません。" in empty
    assert "1 entry in November" in english


def test_the_moderation_desks_japanese_has_no_ascii_punctuation():
    from diaries.templatetags import moderation_desk  # noqa: F401 — its strings are in use

    with translation.override("ja"):
        text = translation.gettext("Automatic check: OpenAI's moderation endpoint (%(model)s).")
    assert text == "自動チェック：OpenAI のモデレーション API（%(model)s）。"
