"""With no key the automatic check is the word list: it ships a small list per language that a
deployment replaces, and the moderation desk says which check is in force."""

from __future__ import annotations

import html

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from diaries.checkers.base import NullChecker, Verdict
from diaries.checkers.wordlist import WordListChecker, shipped_words
from diaries.services import checks
from tests.support.admin import with_authenticator_app
from tests.support.factories import make_user


def no_key(settings, **overrides) -> None:
    settings.DIARY_MODERATION = "auto"
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    settings.DIARY_MODERATION_WORDS = []
    settings.DIARY_MODERATION_WORDS_FILE = ""
    for name, value in overrides.items():
        setattr(settings, name, value)


@pytest.mark.asyncio
async def test_with_no_key_and_no_list_the_shipped_lists_flag_english_and_japanese(settings):
    no_key(settings)
    checker = checks.checker_from_settings()

    assert isinstance(checker, WordListChecker)
    assert (await checker.check("I will kill you, you motherfucker.")).flagged
    assert (await checker.check("あいつに「死ね」と言われた。")).flagged
    assert not (await checker.check("A quiet walk by the river, then ramen.")).flagged
    assert not (await checker.check("川沿いを散歩して、ラーメンを食べた。")).flagged


@pytest.mark.asyncio
async def test_a_deployments_own_words_replace_the_shipped_lists(settings, tmp_path):
    words_file = tmp_path / "words.txt"
    words_file.write_text("# our list\nplum\n\n梅干し\n", encoding="utf-8")
    no_key(
        settings, DIARY_MODERATION_WORDS=["apricot"], DIARY_MODERATION_WORDS_FILE=str(words_file)
    )
    checker = checks.checker_from_settings()

    assert (await checker.check("An apricot.")).flagged
    assert (await checker.check("A plum.")).flagged
    assert (await checker.check("梅干しを食べた。")).flagged
    assert not (await checker.check("you motherfucker")).flagged


def test_the_shipped_lists_have_words_for_each_language():
    words = shipped_words()
    assert {"en", "ja"} <= set(words)
    assert all(len(words[language]) >= 10 for language in ("en", "ja"))


def moderator_client() -> Client:
    user = make_user()
    user.is_staff = True
    user.save()
    user.groups.add(Group.objects.get(name="Moderators"))
    with_authenticator_app(user)  # staff sign in with two factors
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, "only the small word list shipped with Nikki"),
        ({"DIARY_MODERATION_WORDS": ["plum"]}, "this site's word list (1 word)"),
        ({"DIARY_MODERATION": "off"}, "Nothing is checked automatically"),
        ({"OPENAI_API_KEY": "sk-x"}, "OpenAI's moderation endpoint"),
    ],
)
def test_the_moderation_desk_says_which_check_is_in_force(settings, overrides, expected):
    no_key(settings, **overrides)
    client = moderator_client()

    for url in ("/admin/", "/admin/diaries/diaryentry/"):
        page = client.get(url)
        assert page.status_code == 200
        assert expected in html.unescape(page.text), url


@pytest.mark.asyncio
async def test_word_list_matches_whole_latin_words_ignoring_case():
    checker = WordListChecker(["Stupid", "kill"])

    assert (await checker.check("That was a STUPID idea.")).flagged
    verdict = await checker.check("I will kill the weeds.")
    assert verdict.flagged and verdict.categories == ("kill",) and verdict.checker == "wordlist"
    assert not (await checker.check("My skills improved; stupidity aside.")).flagged


@pytest.mark.asyncio
async def test_word_list_matches_japanese_anywhere():
    checker = WordListChecker(["ばか"])

    assert (await checker.check("今日はばかみたいに暑かった。")).flagged
    assert not (await checker.check("今日は暑かった。")).flagged


@pytest.mark.asyncio
async def test_an_empty_word_list_and_the_null_checker_pass_everything():
    assert not (await WordListChecker(["", "  "]).check("anything at all")).flagged
    assert (await NullChecker().check("anything")) == Verdict(flagged=False, checker="off")
