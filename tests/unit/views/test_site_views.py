"""The front page for a visitor, and the privacy page: what it says is true of this site."""

from __future__ import annotations

import pytest
from django.utils import translation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _back_to_the_default_language():
    yield
    translation.deactivate()


def test_a_visitor_sees_what_nikki_is_with_sign_up_and_log_in(client):
    response = client.get("/")

    assert response.status_code == 200
    html = response.text
    assert "Your day, written down for you" in html
    assert 'href="/accounts/signup/"' in html and 'href="/accounts/login/"' in html
    assert 'name="password"' not in html  # a page about Nikki, not a bare login form
    assert "Offline writer" in html  # says who writes the entries here
    assert 'href="/privacy/"' in html


def test_the_landing_page_in_japanese(client):
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="ja").text

    assert "あなたの一日を、日記に" in html and "日記をはじめる" in html


def test_a_signed_in_person_still_gets_their_diary_at_the_front(signed_in):
    html = signed_in.get("/").text

    assert "Your day, written down for you" not in html
    assert 'href="/entries/new/"' in html


def test_pages_that_need_an_account_still_send_visitors_to_log_in(client):
    response = client.get("/entries/new/")

    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


@pytest.mark.parametrize("url", ["/", "/accounts/login/", "/accounts/signup/", "/privacy/"])
def test_the_footer_and_sign_up_link_the_privacy_page(client, url):
    assert 'href="/privacy/"' in client.get(url).text


def test_privacy_says_a_superuser_reads_every_diary_and_what_is_encrypted(client):
    html = client.get("/privacy/").text

    assert "superusers) can read every diary, private entries included" in html
    assert "Moderators see only entries that are shared" in html
    assert "encrypted at rest" in html and "your username, display name and email" in html
    assert "Staff and moderators must sign in with a second factor." in html


def test_privacy_with_the_offline_writer_says_nothing_is_sent(client, settings):
    settings.DIARY_WRITER = "offline"

    html = client.get("/privacy/").text

    assert "your notes are sent nowhere" in html
    assert "When you press Write, it receives" not in html


def test_privacy_with_a_model_server_names_it_and_what_it_receives(client, settings):
    settings.DIARY_WRITER = "openai"
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_BASE_URL = "http://models.example.net:11434/v1"
    settings.OPENAI_MODEL = "llama3.2"
    settings.DIARY_MODERATION = "wordlist"

    html = client.get("/privacy/").text

    assert "written by the model llama3.2 at models.example.net" in html
    assert "your notes for the morning, afternoon and evening" in html
    assert "placeholders such as [P1]" in html
    assert "checked for sharing on this server" in html


def test_privacy_says_when_entries_go_to_openais_moderation(client, settings):
    settings.DIARY_WRITER = "openai"
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_BASE_URL = ""
    settings.DIARY_MODERATION = "auto"

    html = client.get("/privacy/").text

    assert "OpenAI's model" in html
    assert "sent, with the names, to OpenAI" in html
