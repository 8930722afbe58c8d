"""The OpenAI moderation checker: the real openai client against a moderation endpoint on
loopback — verdicts, failures as checker errors (never with the key), one client per loop."""

from __future__ import annotations

from typing import Any

import pytest

from diaries.checkers.base import CheckerError, Verdict
from diaries.checkers.openai import OpenAIModerationChecker
from tests.support.moderation_server import ModerationServer, moderation_body


def openai_checker(server: ModerationServer, **kwargs: Any) -> OpenAIModerationChecker:
    return OpenAIModerationChecker(
        api_key="sk-test-moderation-key",
        base_url=server.base_url,
        model="omni-moderation-latest",
        timeout=kwargs.pop("timeout", 2.0),
        max_retries=kwargs.pop("max_retries", 0),
        **kwargs,
    )


@pytest.mark.wire
@pytest.mark.asyncio
async def test_openai_checker_reads_a_flagged_answer(moderation_server):
    moderation_server.answer(
        200, moderation_body(flagged=True, categories={"violence": True, "harassment": True})
    )

    verdict = await openai_checker(moderation_server).check("a text")

    assert verdict.flagged and verdict.checker == "openai"
    assert verdict.categories == ("harassment", "violence")
    assert verdict.model == "omni-moderation-2024-09-26"
    [request] = moderation_server.requests
    assert request["path"] == "/v1/moderations"
    assert request["body"] == {"model": "omni-moderation-latest", "input": "a text"}
    assert request["auth"] == "Bearer sk-test-moderation-key"


@pytest.mark.wire
@pytest.mark.asyncio
async def test_openai_checker_reads_a_clean_answer(moderation_server):
    verdict = await openai_checker(moderation_server).check("a kind text")

    assert verdict == Verdict(flagged=False, checker="openai", model="omni-moderation-2024-09-26")


@pytest.mark.wire
@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (500, {"error": {"message": "boom", "type": "server_error", "code": None}}, "http_500"),
        (401, {"error": {"message": "bad key", "type": "invalid_request_error"}}, "http_401"),
        (200, {"id": "x", "model": "m", "results": []}, "bad_response"),
        (200, b"<html>not json</html>", "bad_response"),
    ],
)
async def test_openai_checker_failures_are_checker_errors(moderation_server, status, body, code):
    moderation_server.answer(status, body)

    with pytest.raises(CheckerError) as caught:
        await openai_checker(moderation_server).check("text")

    assert caught.value.code == code and caught.value.checker == "openai"
    assert "sk-test" not in str(caught.value)


@pytest.mark.wire
@pytest.mark.asyncio
async def test_openai_checker_unreachable_is_unavailable():
    with ModerationServer() as server:
        url = server.base_url
    checker = OpenAIModerationChecker(api_key="sk-x", base_url=url, timeout=1.0, max_retries=0)

    with pytest.raises(CheckerError) as caught:
        await checker.check("text")

    assert caught.value.code == "unavailable"


@pytest.mark.wire
@pytest.mark.asyncio
async def test_openai_checker_reuses_one_client_per_event_loop(moderation_server):
    checker = openai_checker(moderation_server)

    await checker.check("one")
    await checker.check("two")

    other = openai_checker(moderation_server)
    assert checker._client_for_this_loop() is other._client_for_this_loop()
    assert len(moderation_server.requests) == 2
