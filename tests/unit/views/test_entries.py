"""Pages: what each address shows, to whom, and what it saves."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.utils import timezone

from diaries.models import (
    DiaryEntry,
    EntryEdit,
    EntryStatus,
    Generation,
    GenerationStatus,
    text_digest,
)
from diaries.services.accounts import profile_get
from diaries.services.entries import entry_create, entry_update_text

pytestmark = pytest.mark.django_db

_names = itertools.count(1)


def new_user(username: str | None = None):
    return get_user_model().objects.create_user(
        username=username or f"viewer{next(_names)}", password="a-long-diary-passphrase-42"
    )


# The fields entry_create takes; anything else is set on the saved entry directly.
INPUT_KEYS = ("date", "morning", "afternoon", "evening", "notes", "tone", "language")


def new_entry(owner, **fields: Any) -> DiaryEntry:
    inputs = {"morning": "ran by the river", "afternoon": "lunch with Aiko"}
    extra = {k: fields.pop(k) for k in list(fields) if k not in INPUT_KEYS}
    entry = entry_create(user=owner, **{**inputs, **fields})
    if extra:
        for name, value in extra.items():
            setattr(entry, name, value)
        entry.save()
    return entry


@pytest.fixture
def owner():
    return new_user("aiko")


@pytest.fixture
def stranger():
    return new_user("mallory")


@pytest.fixture
def signed_in(client, owner):
    client.force_login(owner)
    return client


def inputs_post(**overrides: str) -> dict[str, str]:
    data = {
        "date": timezone.localdate().isoformat(),
        "morning": "Walked to the station in the rain.",
        "afternoon": "Finished the report.",
        "evening": "",
        "notes": "",
        "tone": "warm",
        "language": "en",
    }
    data.update(overrides)
    return data


def inline_scripts(html: str) -> list[str]:
    """<script> elements without a src attribute (a CSP will forbid them)."""
    return [tag for tag in re.findall(r"<script\b[^>]*>", html) if "src=" not in tag]


# --- who may see what ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/entries/new/", "/entries/1/", "/entries/1/edit/", "/entries/1/delete/"]
)
def test_anonymous_visitors_are_sent_to_login(client, url):  # "/" is the landing page
    response = client.get(url)

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/?next=")


@pytest.mark.parametrize("suffix", ["", "edit/", "delete/"])
def test_another_users_entry_is_not_found(client, owner, stranger, suffix):
    entry = new_entry(owner, text="private thoughts")
    client.force_login(stranger)

    assert client.get(f"/entries/{entry.pk}/{suffix}").status_code == 404


def test_another_users_entry_cannot_be_edited_or_deleted_by_post(client, owner, stranger):
    entry = new_entry(owner, text="private thoughts")
    client.force_login(stranger)

    edit = client.post(f"/entries/{entry.pk}/edit/", {"form": "text", "text": "pwned"})
    delete = client.post(f"/entries/{entry.pk}/delete/")

    assert edit.status_code == 404
    assert delete.status_code == 404
    entry.refresh_from_db()
    assert entry.text == "private thoughts"


# --- home ---------------------------------------------------------------------------------------


def test_home_lists_only_own_entries_newest_first(signed_in, owner, stranger):
    today = timezone.localdate()
    new_entry(owner, date=today - dt.timedelta(days=3), text="Three days ago entry")
    new_entry(owner, date=today, text="Today entry")
    new_entry(owner, date=today - dt.timedelta(days=1), text="Yesterday entry")
    new_entry(stranger, date=today, text="Somebody else entry")

    response = signed_in.get("/")

    assert response.status_code == 200
    html = response.text
    today_part, recent = html.split("Recent entries")
    assert "Today entry" in today_part and "Today entry" not in recent  # listed once
    positions = [recent.index(t) for t in ("Yesterday entry", "Three days ago")]
    assert positions == sorted(positions)
    assert "Somebody else entry" not in html


def test_home_shows_todays_entries_status_and_links(signed_in, owner):
    entry = new_entry(owner, text="A quiet day.", status=EntryStatus.DONE)

    html = signed_in.get("/").text

    today_section = html[: html.index("Recent entries")]
    assert f'href="/entries/{entry.pk}/"' in today_section
    assert "A quiet day." in today_section
    assert "Done" in html
    assert 'href="/entries/new/"' in html
    assert "Write today's entry" in html


def test_home_names_the_offline_writer(signed_in, settings):
    settings.DIARY_WRITER = "offline"

    html = signed_in.get("/").text

    assert "Offline writer (no AI service configured)" in html


def test_home_names_the_openai_model(signed_in, settings):
    settings.DIARY_WRITER = "openai"
    settings.OPENAI_API_KEY = "sk-test-not-a-real-key"
    settings.OPENAI_MODEL = "gpt-test-mini"

    html = signed_in.get("/").text

    assert "OpenAI-compatible model gpt-test-mini" in html
    assert "sk-test-not-a-real-key" not in html


def test_home_escapes_entry_text(signed_in, owner):
    new_entry(owner, text="<script>alert('x')</script> & more")

    html = signed_in.get("/").text

    assert "<script>alert" not in html
    assert "&lt;script&gt;alert" in html


# --- a new entry --------------------------------------------------------------------------------


def test_new_entry_page_has_the_form_and_the_socket_hooks(signed_in):
    response = signed_in.get("/entries/new/")

    assert response.status_code == 200
    html = response.text
    for name in ("date", "morning", "afternoon", "evening", "notes", "tone", "language"):
        assert f'name="{name}"' in html
        assert f'for="id_{name}"' in html  # every field has a label
    assert 'data-ws-path="/ws/diary/"' in html
    assert 'data-mode="new"' in html
    assert 'data-role="output"' in html
    assert 'data-role="stop"' in html
    assert 'data-role="retry"' in html
    assert 'aria-live="polite"' in html
    assert re.search(r'<script type="module" src="[^"]*diaries/diary\.js"', html)
    assert inline_scripts(html) == []


def test_new_entry_post_saves_the_inputs_and_redirects_to_write(signed_in, owner):
    response = signed_in.post("/entries/new/", inputs_post(evening="Read a book."))

    entry = DiaryEntry.objects.get(owner=owner)
    assert response.status_code == 302
    assert response.url == f"/entries/{entry.pk}/?write=1"
    assert entry.morning == "Walked to the station in the rain."
    assert entry.afternoon == "Finished the report."
    assert entry.evening == "Read a book."
    assert entry.tone == "warm"
    assert entry.language == "en"
    assert entry.status == EntryStatus.DRAFT
    assert not entry.generations.exists()  # writing starts from the entry page's socket

    page = signed_in.get(response.url)
    assert 'data-autostart="true"' in page.text


def test_new_entry_with_all_notes_empty_is_refused(signed_in, owner):
    response = signed_in.post(
        "/entries/new/", inputs_post(morning="  ", afternoon="", evening="", notes="")
    )

    assert response.status_code == 200
    assert "Write at least a few words" in response.text
    assert not DiaryEntry.objects.filter(owner=owner).exists()


def test_new_entry_with_too_long_notes_is_refused(signed_in, owner, settings):
    settings.DIARY_MAX_NOTE_CHARS = 50

    response = signed_in.post("/entries/new/", inputs_post(morning="x" * 51))

    assert response.status_code == 200
    assert "errorlist" in response.text
    assert "at most 50 characters" in response.text
    assert 'maxlength="50"' in response.text
    assert not DiaryEntry.objects.filter(owner=owner).exists()


def test_new_entry_with_an_unknown_tone_is_refused(signed_in, owner):
    response = signed_in.post("/entries/new/", inputs_post(tone="angry"))

    assert response.status_code == 200
    assert "errorlist" in response.text
    assert not DiaryEntry.objects.filter(owner=owner).exists()


# --- an entry -----------------------------------------------------------------------------------


def test_detail_shows_notes_text_status_and_the_js_hooks(signed_in, owner):
    entry = new_entry(
        owner,
        evening="Cooked curry.",
        text="Dear diary, a good day.",
        status=EntryStatus.DONE,
        writer="offline",
        model_name="nikki-offline-1",
    )

    response = signed_in.get(f"/entries/{entry.pk}/")

    assert response.status_code == 200
    html = response.text
    assert "Dear diary, a good day." in html
    assert "ran by the river" in html and "Cooked curry." in html
    assert "Offline writer (no AI service configured)" in html
    assert f'data-entry="{entry.pk}"' in html
    assert 'data-ws-path="/ws/diary/"' in html
    assert 'data-is-generating="false"' in html
    assert 'data-autostart="false"' in html
    for role in ("output", "status", "write", "stop", "retry", "error"):
        assert f'data-role="{role}"' in html
    assert f'href="/entries/{entry.pk}/edit/"' in html
    assert f'href="/entries/{entry.pk}/delete/"' in html
    assert re.search(r'<script type="module" src="[^"]*diaries/diary\.js"', html)
    assert inline_scripts(html) == []


def test_detail_names_an_openai_compatible_model(signed_in, owner):
    entry = new_entry(owner, text="…", writer="openai", model_name="llama3.2:3b")

    html = signed_in.get(f"/entries/{entry.pk}/").text

    assert "OpenAI-compatible model llama3.2:3b" in html


def test_detail_says_when_the_owner_edited_the_text(signed_in, owner):
    entry = new_entry(owner, text="first")
    entry_update_text(entry=entry, text="mine now")

    html = signed_in.get(f"/entries/{entry.pk}/").text

    assert "mine now" in html
    assert "Edited by you" in html


def test_detail_escapes_entry_text_and_notes(signed_in, owner):
    entry = new_entry(
        owner, morning="<b>bold</b> morning", text="<script>alert(1)</script><img src=x>"
    )

    html = signed_in.get(f"/entries/{entry.pk}/").text

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x&gt;" in html
    assert "<b>bold</b>" not in html
    assert inline_scripts(html) == []


def test_detail_autostarts_only_a_draft_asked_to_write(signed_in, owner):
    draft = new_entry(owner)
    done = new_entry(owner, text="done", status=EntryStatus.DONE)

    assert 'data-autostart="true"' in signed_in.get(f"/entries/{draft.pk}/?write=1").text
    assert 'data-autostart="false"' in signed_in.get(f"/entries/{draft.pk}/").text
    assert 'data-autostart="false"' in signed_in.get(f"/entries/{done.pk}/?write=1").text


def test_detail_of_a_running_generation_asks_the_js_to_watch(signed_in, owner):
    entry = new_entry(owner, status=EntryStatus.GENERATING)
    Generation.objects.create(
        entry=entry, text="Half a sen", seq=3, writer="offline", tone="plain", language="en"
    )

    html = signed_in.get(f"/entries/{entry.pk}/").text

    assert 'data-is-generating="true"' in html
    assert 'data-seq="3"' in html
    assert "Half a sen" in html


def test_detail_shows_the_error_of_a_failed_generation_with_retry(signed_in, owner):
    entry = new_entry(owner, status=EntryStatus.FAILED)
    Generation.objects.create(
        entry=entry,
        status=GenerationStatus.FAILED,
        text="Partial <text>",
        writer="openai",
        model_name="gpt-x",
        tone="plain",
        language="en",
        error_code="upstream_timeout",
        error_message="The language model service took too long to answer.",
        finished_at=timezone.now(),
    )

    html = signed_in.get(f"/entries/{entry.pk}/").text

    error_box = re.search(
        r'<div class="error-box" data-role="error"([^>]*)>(.*?)</div>', html, re.S
    )
    assert error_box
    assert "hidden" not in error_box.group(1)
    assert "took too long to answer" in error_box.group(2)
    assert 'data-role="retry"' in error_box.group(2)
    assert "Partial &lt;text&gt;" in html


def test_detail_hides_the_error_box_when_all_is_well(signed_in, owner):
    entry = new_entry(owner, text="fine", status=EntryStatus.DONE)

    html = signed_in.get(f"/entries/{entry.pk}/").text

    assert re.search(r'<div class="error-box" data-role="error" hidden>', html)


def test_detail_lists_the_version_history(signed_in, owner):
    entry = new_entry(owner)
    Generation.objects.create(
        entry=entry,
        status=GenerationStatus.DONE,
        text="The first version.",
        writer="offline",
        model_name="nikki-offline-1",
        tone="plain",
        language="en",
        finished_at=timezone.now(),
    )
    entry.text = "The first version."
    entry.status = EntryStatus.DONE
    entry.save()
    entry_update_text(entry=entry, text="My own version.")

    html = signed_in.get(f"/entries/{entry.pk}/").text

    history = html[html.index('class="history"') :]
    assert "Version history (2 versions)" in history
    assert "The first version." in history
    assert "My own version." in history
    assert history.index("My own version.") < history.index("The first version.")


# --- editing and deleting -----------------------------------------------------------------------


def test_edit_page_has_both_forms(signed_in, owner):
    entry = new_entry(owner, text="Some text")

    html = signed_in.get(f"/entries/{entry.pk}/edit/").text

    assert 'name="form" value="text"' in html
    assert 'name="form" value="inputs"' in html
    assert 'name="text"' in html
    assert 'name="inputs-morning"' in html
    assert "Some text" in html


def test_edit_text_keeps_the_previous_text(signed_in, owner):
    entry = new_entry(owner, text="What the model wrote.")

    response = signed_in.post(
        f"/entries/{entry.pk}/edit/", {"form": "text", "text": "What I wrote."}
    )

    assert response.status_code == 302
    assert response.url == f"/entries/{entry.pk}/"
    entry.refresh_from_db()
    assert entry.text == "What I wrote."
    assert entry.writer == "owner"
    edit = EntryEdit.objects.get(entry=entry)
    assert edit.previous_text == "What the model wrote."
    assert edit.text == "What I wrote."


def test_edit_notes_saves_the_inputs(signed_in, owner):
    entry = new_entry(owner, text="Kept text")
    data = {f"inputs-{k}": v for k, v in inputs_post(evening="Saw fireworks.").items()}

    response = signed_in.post(f"/entries/{entry.pk}/edit/", {"form": "inputs", **data})

    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.evening == "Saw fireworks."
    assert entry.text == "Kept text"


def test_edit_notes_with_errors_rerenders(signed_in, owner):
    entry = new_entry(owner)
    data = {
        f"inputs-{k}": v
        for k, v in inputs_post(morning="", afternoon="", evening="", notes="").items()
    }

    response = signed_in.post(f"/entries/{entry.pk}/edit/", {"form": "inputs", **data})

    assert response.status_code == 200
    assert "Write at least a few words" in response.text
    entry.refresh_from_db()
    assert entry.morning == "ran by the river"


def test_delete_asks_for_confirmation_on_get(signed_in, owner):
    entry = new_entry(owner)

    response = signed_in.get(f"/entries/{entry.pk}/delete/")

    assert response.status_code == 200
    assert re.search(rf'<form method="post" action="/entries/{entry.pk}/delete/"', response.text)
    assert DiaryEntry.objects.filter(pk=entry.pk).exists()


def test_delete_by_post_moves_the_entry_to_the_trash(signed_in, owner):
    entry = new_entry(owner)

    response = signed_in.post(f"/entries/{entry.pk}/delete/")

    assert response.status_code == 302
    assert response.url == "/"
    assert DiaryEntry.objects.get(pk=entry.pk).trashed_at is not None
    assert signed_in.get(entry.get_absolute_url()).status_code == 404


# --- a shared entry -----------------------------------------------------------------------------


def test_shared_entry_shows_only_date_text_and_name(client, owner):
    entry = new_entry(
        owner,
        morning="SECRET NOTE",
        text="Shared <em>text</em>",
        writer="openai",
        model_name="gpt-secret",
        sharing="link",
        share_token="tok-123",
        # Model-written text is published only once that exact text passed the check.
        moderation_checked_digest=text_digest("Shared <em>text</em>"),
    )

    response = client.get("/s/tok-123/")

    assert response.status_code == 200
    html = response.text
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert "Shared &lt;em&gt;text&lt;/em&gt;" in html
    assert "A Nikki user" in html and "aiko" not in html  # no display name set
    assert "SECRET NOTE" not in html
    assert "gpt-secret" not in html
    assert f"/entries/{entry.pk}/" not in html


def test_shared_entry_uses_the_display_name(client, owner):
    profile = profile_get(user=owner)
    profile.display_name = "Aiko S."
    profile.save()
    new_entry(owner, text="Hello", sharing="link", share_token="tok-456")

    assert "Aiko S." in client.get("/s/tok-456/").text


def test_private_entry_is_not_shared(client, owner):
    new_entry(owner, text="Hello", sharing="private", share_token="tok-789")

    assert client.get("/s/tok-789/").status_code == 404


# --- plumbing -----------------------------------------------------------------------------------


def test_healthz_reports_database_and_channel_layer(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["database"] == "ok"
    assert body["channel_layer"] == "ok"


def test_the_script_and_stylesheet_are_found_by_staticfiles():
    script = finders.find("diaries/diary.js")
    stylesheet = finders.find("diaries/app.css")

    assert script and stylesheet
    with open(script, encoding="utf-8") as f:
        source = f.read()
    assert "innerHTML" not in source  # streamed text goes in as text, never as HTML
    assert "/ws/diary/" in source


def test_pages_load_no_external_hosts(signed_in, owner):
    entry = new_entry(owner, text="x")
    for url in ("/", "/entries/new/", f"/entries/{entry.pk}/", f"/entries/{entry.pk}/edit/"):
        html = signed_in.get(url).text
        assert not re.search(r'(?:src|href)="(?:https?:)?//', html), url
