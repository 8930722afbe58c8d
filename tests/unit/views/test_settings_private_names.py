"""The settings page's "names kept from the model": the switch, the list, its limits, in English
and Japanese."""

from __future__ import annotations

import json
import re

import pytest

from diaries.models import Profile
from diaries.pseudonyms import MAX_NAME_CHARS, MAX_NAMES
from tests.support.responses import body as streamed

pytestmark = pytest.mark.django_db


def switch(html: str) -> str:
    """The option's checkbox as rendered."""
    return re.search(r'<input type="checkbox" name="keep_names_from_model"[^>]*>', html).group(0)


def settings_post(**overrides) -> dict:
    data = {"ui_language": "", "default_language": "", "default_tone": "plain", "time_zone": ""}
    data.update(overrides)
    return data


def test_the_option_is_off_by_default_and_the_page_offers_it(signed_in, user):
    html = signed_in.get("/settings/").text

    assert 'for="id_keep_names_from_model"' in html and 'for="id_private_names"' in html
    assert "checked" not in switch(html)
    assert "Only the names you list here are hidden" in html
    assert Profile.objects.get(user=user).keep_names_from_model is False


def test_turning_it_on_saves_a_tidy_list_and_shows_it_again(signed_in, user):
    names = "  Alice \r\n\r\nalice\r\nMount   Fuji\r\n田中\r\n"

    response = signed_in.post(
        "/settings/", settings_post(keep_names_from_model="on", private_names=names)
    )

    assert response.status_code == 302
    profile = Profile.objects.get(user=user)
    assert profile.keep_names_from_model is True
    assert profile.private_names == "Alice\nMount Fuji\n田中"
    html = signed_in.get("/settings/").text
    assert "checked" in switch(html) and "Alice\nMount Fuji\n田中</textarea>" in html


def test_the_json_export_includes_the_option_and_the_names(signed_in, user):
    signed_in.post(
        "/settings/", settings_post(keep_names_from_model="on", private_names="Alice\n田中")
    )

    exported = json.loads(streamed(signed_in.get("/export/json/")))["user"]["settings"]

    assert exported["keep_names_from_model"] is True
    assert exported["names_kept_from_model"] == ["Alice", "田中"]


def test_turning_it_off_keeps_the_list_for_later(signed_in, user):
    signed_in.post("/settings/", settings_post(keep_names_from_model="on", private_names="Alice"))

    signed_in.post("/settings/", settings_post(private_names="Alice"))

    profile = Profile.objects.get(user=user)
    assert (profile.keep_names_from_model, profile.private_names) == (False, "Alice")


@pytest.mark.parametrize(
    ("names", "message"),
    [
        ("", "List at least one name to keep from the model, or turn the option off."),
        ("\n".join(f"Name{i}" for i in range(MAX_NAMES + 1)), "List at most 100 names"),
        ("Alice\n" + "x" * (MAX_NAME_CHARS + 1), "is longer than 60 characters"),
        ("Alice\n林", "“林” is too short: a name needs at least 2 characters"),
        ("Alice\n--", "“--” has no letters."),
    ],
)
def test_a_list_beyond_the_limits_is_refused_with_a_clear_message(signed_in, user, names, message):
    response = signed_in.post(
        "/settings/", settings_post(keep_names_from_model="on", private_names=names)
    )

    assert response.status_code == 200
    assert message in response.text
    profile = Profile.objects.get(user=user)
    assert (profile.keep_names_from_model, profile.private_names) == (False, "")


def test_a_huge_paste_is_refused_before_it_is_read(signed_in, user):
    response = signed_in.post(
        "/settings/", settings_post(keep_names_from_model="on", private_names="a" * 100_000)
    )

    assert response.status_code == 200 and "errorlist" in response.text
    assert Profile.objects.get(user=user).private_names == ""


def test_the_option_and_its_errors_read_in_japanese(signed_in, user):
    signed_in.post("/settings/", settings_post(ui_language="ja"))

    page = signed_in.get("/settings/").text
    on = {"ui_language": "ja", "keep_names_from_model": "on"}
    refused = signed_in.post("/settings/", settings_post(**on, private_names="")).text
    too_short = signed_in.post("/settings/", settings_post(**on, private_names="林")).text

    assert "モデルに伏せる名前" in page
    assert "名前を1つ以上書くか、この設定をオフにしてください。" in refused
    assert "「林」は短すぎます" in too_short
