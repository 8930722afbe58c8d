"""The interface in English and Japanese: the catalog is complete and compiled, pages and dates
are localized, and the socket script's words and error messages come translated."""

from __future__ import annotations

import ast
import datetime as dt
import gettext
import re
from pathlib import Path

import pytest
from django.template import Context, Template
from django.utils import translation
from django.utils.translation.template import templatize

from diaries.models import EntryStatus, Generation, GenerationStatus
from tests.support.factories import make_entry
from tests.support.paths import ROOT

LOCALE = ROOT / "diaries" / "locale" / "ja" / "LC_MESSAGES"
TEMPLATES = ROOT / "templates"
# Django's own admin templates are translated by Django.
NOT_OURS = ("admin",)
FIX = (
    "Update the catalog: DJANGO_DEBUG=true .venv/bin/python manage.py makemessages -l ja "
    "-i .venv -i staticfiles -i var -i bench -i tests -i docker -i test-artifacts "
    "--add-location file; translate the new entries in diaries/locale/ja/LC_MESSAGES/"
    "django.po; then manage.py compilemessages -l ja -i .venv and commit both files."
)


@pytest.fixture(autouse=True)
def _back_to_the_default_language():
    """The test client runs views in this thread, and LocaleMiddleware never deactivates the
    language it activated: put the default back so later tests' messages are in English."""
    yield
    translation.deactivate()


def po_entries(path: Path) -> dict[str, dict]:
    """msgid (with "context\\x04" in front when it has one) → {"msgstr": [...], "fuzzy": bool}."""
    entries: dict[str, dict] = {}
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        fuzzy = False
        for line in block.splitlines():
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            if line.startswith("#"):
                continue
            match = re.match(r"^(msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?) (\".*\")$", line)
            if match:
                key = match.group(1)
                fields[key] = ast.literal_eval(match.group(2))
            elif line.startswith('"') and key:
                fields[key] += ast.literal_eval(line)
        if "msgid" not in fields or not fields["msgid"]:
            continue
        msgid = fields["msgid"]
        if "msgctxt" in fields:
            msgid = f"{fields['msgctxt']}\x04{msgid}"
        strs = [value for name, value in sorted(fields.items()) if name.startswith("msgstr")]
        entries[msgid] = {"msgstr": strs, "fuzzy": fuzzy, "plural": fields.get("msgid_plural")}
    return entries


@pytest.fixture(scope="module")
def catalog() -> dict[str, dict]:
    return po_entries(LOCALE / "django.po")


def template_msgids() -> set[str]:
    """Every message the templates mark for translation, as makemessages extracts them."""
    found: set[str] = set()
    call = re.compile(r"\b(n?p?gettext)\((u'(?:[^'\\]|\\.)*'(?:, u'(?:[^'\\]|\\.)*')*)")
    for path in TEMPLATES.rglob("*"):
        if not path.is_file() or path.relative_to(TEMPLATES).parts[0] in NOT_OURS:
            continue
        for function, args in call.findall(templatize(path.read_text(encoding="utf-8"))):
            values = ast.literal_eval(f"({args},)")
            msgid = values[1] if function.startswith(("pgettext", "npgettext")) else values[0]
            if function.startswith(("pgettext", "npgettext")):
                msgid = f"{values[0]}\x04{msgid}"
            found.add(msgid)
    return found


# --- the catalog --------------------------------------------------------------------------------


def test_every_message_is_translated_and_none_is_fuzzy(catalog):
    untranslated = [msgid for msgid, e in catalog.items() if not all(e["msgstr"])]
    fuzzy = [msgid for msgid, e in catalog.items() if e["fuzzy"]]

    assert not untranslated, f"untranslated: {untranslated}. {FIX}"
    assert not fuzzy, f"fuzzy (check and clear the flag): {fuzzy}. {FIX}"


def test_every_template_string_is_in_the_catalog(catalog):
    missing = sorted(template_msgids() - set(catalog))

    assert not missing, f"not in django.po: {missing}. {FIX}"


def test_the_compiled_catalog_matches_the_po_file(catalog):
    with open(LOCALE / "django.mo", "rb") as f:
        compiled = gettext.GNUTranslations(f)._catalog  # msgid → msgstr; (msgid, n) for plurals

    singular = {k: v for k, v in compiled.items() if isinstance(k, str) and k}
    plural = {k[0]: v for k, v in compiled.items() if isinstance(k, tuple)}
    for msgid, entry in catalog.items():
        if entry["plural"] is not None:
            assert plural.get(msgid) == entry["msgstr"][0], f"stale .mo for {msgid!r}. {FIX}"
        else:
            assert singular.get(msgid) == entry["msgstr"][0], f"stale .mo for {msgid!r}. {FIX}"
    assert set(singular) | set(plural) == set(catalog), f"stale .mo. {FIX}"


def test_placeholders_survive_translation(catalog):
    placeholder = re.compile(r"%\(\w+\)[sd]|\{\w+\}")
    for msgid, entry in catalog.items():
        expected = sorted(placeholder.findall(msgid.split("\x04")[-1]))
        for msgstr in entry["msgstr"]:
            assert sorted(placeholder.findall(msgstr)) == expected, msgid


# --- pages --------------------------------------------------------------------------------------


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_interface_follows_the_browsers_language(signed_in):
    english = signed_in.get("/", HTTP_ACCEPT_LANGUAGE="en").text
    japanese = signed_in.get("/", HTTP_ACCEPT_LANGUAGE="ja,en;q=0.5").text

    assert '<html lang="en">' in english and "New entry" in english
    assert '<html lang="ja">' in japanese
    for word in ("新しい日記", "カレンダー", "検索", "設定", "最近の日記"):
        assert word in japanese
    assert "New entry" not in japanese


@pytest.mark.django_db
def test_dates_are_localized(signed_in, user):
    entry = make_entry(user, date=dt.date(2026, 11, 25))

    english = signed_in.get(f"/entries/{entry.pk}/", HTTP_ACCEPT_LANGUAGE="en").text
    japanese = signed_in.get(f"/entries/{entry.pk}/", HTTP_ACCEPT_LANGUAGE="ja").text
    calendar = signed_in.get("/calendar/2026/11/", HTTP_ACCEPT_LANGUAGE="ja").text

    assert '<time datetime="2026-11-25">Nov. 25, 2026</time>' in english
    assert '<time datetime="2026-11-25">2026年11月25日</time>' in japanese
    assert "2026年11月" in calendar
    assert '<abbr title="日曜日">日</abbr>' in calendar


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/entries/new/",
        "/calendar/",
        "/search/?q=x",
        "/settings/",
        "/accounts/delete/",
        "/trash/",
    ],
)
def test_signed_in_pages_have_no_english_left_in_japanese(signed_in, url):
    html = signed_in.get(url, HTTP_ACCEPT_LANGUAGE="ja").text

    # Words only our English templates use; a page in Japanese shows none of them.
    text = re.sub(r"<[^>]+>", " ", html)
    leftovers = [
        w
        for w in ("Today", "Calendar", "Settings", "Search", "Write", "Save", "Delete", "entry")
        if re.search(rf"\b{w}\b", text)
    ]
    assert not leftovers, leftovers


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/accounts/login/", "/accounts/signup/"])
def test_visitor_pages_are_in_japanese(client, url):
    html = client.get(url, HTTP_ACCEPT_LANGUAGE="ja").text

    assert '<html lang="ja">' in html
    assert "ログイン" in html
    assert "ユーザー名" in html  # Django's own form labels come translated by Django


@pytest.mark.django_db
def test_form_labels_and_choices_are_translated(signed_in):
    html = signed_in.get("/entries/new/", HTTP_ACCEPT_LANGUAGE="ja").text

    assert '<label for="id_morning">朝：</label>' in html  # noqa: RUF001
    assert '<option value="poetic">詩的</option>' in html
    assert '<option value="ja" selected>日本語</option>' in html  # writes in the UI's language
    assert '<option value="en">英語</option>' in html


@pytest.mark.django_db
def test_messages_after_actions_are_translated(signed_in, user):
    entry = make_entry(user)

    response = signed_in.post(
        f"/entries/{entry.pk}/edit/",
        {"form": "text", "text": "after"},
        HTTP_ACCEPT_LANGUAGE="ja",
        follow=True,
    )

    assert "編集を保存しました。" in response.text


# --- the socket script's words ------------------------------------------------------------------


@pytest.mark.django_db
def test_the_scripts_words_come_translated(signed_in, user):
    entry = make_entry(user)

    english = signed_in.get(f"/entries/{entry.pk}/", HTTP_ACCEPT_LANGUAGE="en").text
    japanese = signed_in.get(f"/entries/{entry.pk}/", HTTP_ACCEPT_LANGUAGE="ja").text

    assert 'data-writing="Writing…"' in english
    assert 'data-writing="執筆中…"' in japanese
    assert 'data-status-cancelled="停止"' in japanese
    assert 'data-progress="執筆中… ここまで {count} 文字"' in japanese
    # English pages show the server's own (English) messages; Japanese pages map error codes.
    assert "data-error-upstream_unavailable" not in english
    assert 'data-error-upstream_unavailable="言語モデルのサービスに今つながりません。' in japanese


@pytest.mark.django_db
def test_a_saved_error_is_shown_in_the_readers_language(signed_in, user):
    entry = make_entry(user)
    entry.status = EntryStatus.FAILED
    entry.save()
    Generation.objects.create(
        entry=entry,
        status=GenerationStatus.FAILED,
        writer="openai",
        tone="plain",
        error_code="upstream_timeout",
        error_message="The language model service took too long to answer.",
    )

    english = signed_in.get(f"/entries/{entry.pk}/", HTTP_ACCEPT_LANGUAGE="en").text
    japanese = signed_in.get(f"/entries/{entry.pk}/", HTTP_ACCEPT_LANGUAGE="ja").text

    assert "took too long to answer" in english
    assert "応答に時間がかかりすぎました" in japanese
    assert "took too long" not in japanese


def test_error_message_tag_keeps_unknown_codes_message():
    template = Template("{% load diary_tags %}{% error_message code message %}")
    with translation.override("ja"):
        text = template.render(Context({"code": "brand_new", "message": "As sent."}))
        generic = template.render(Context({"code": "", "message": ""}))

    assert text == "As sent."
    assert generic.startswith("日記を書けませんでした。")
