"""The loopback Slack server itself: form and JSON bodies, auth, validation and scripting."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.slack_server import SlackServer, live_tokens


def post(url: str, data: bytes, content_type: str, token: str | None) -> tuple[int, Any]:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            body = response.read().decode()
            status = response.status
    except urllib.error.HTTPError as error:
        body, status = error.read().decode(), error.code
    return status, json.loads(body) if body.startswith("{") else body


def test_form_bodies_with_json_blocks_are_accepted(slack: SlackServer) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}]
    form = urlencode({"channel": "#a", "text": "hi", "blocks": json.dumps(blocks)}).encode()
    status, answer = post(
        slack.api_url + "chat.postMessage", form, "application/x-www-form-urlencoded", slack.token
    )
    assert status == 200 and answer["ok"] is True
    (message,) = slack.top_level("#a")
    assert (message.ts, message.blocks) == (answer["ts"], blocks)


@pytest.mark.parametrize(("token", "error"), [(None, "not_authed"), ("xoxb-other", "invalid_auth")])
def test_the_bot_token_is_checked(slack: SlackServer, token: str | None, error: str) -> None:
    body = json.dumps({"channel": "#a", "text": "hi"}).encode()
    status, answer = post(slack.api_url + "chat.postMessage", body, "application/json", token)
    assert (status, answer) == (200, {"ok": False, "error": error})
    assert slack.messages == []


def test_oversized_blocks_are_invalid_blocks(slack: SlackServer) -> None:
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}] + [
        {"type": "divider"}
    ] * 50
    body = json.dumps({"channel": "#a", "text": "x", "blocks": blocks}).encode()
    _, answer = post(slack.api_url + "chat.postMessage", body, "application/json", slack.token)
    assert answer["error"] == "invalid_blocks"
    assert any("at most 50 blocks" in e for e in answer["errors"])
    assert any("1 to 150 characters" in e for e in answer["errors"])
    status, text = post(slack.webhook_url, body, "application/json", None)
    assert (status, text) == (400, "invalid_blocks")


def test_scripted_faults_apply_in_order_then_clear(slack: SlackServer) -> None:
    slack.rate_limit_next(1, retry_after=4)
    slack.server_error_next(1, status=502)
    slack.error_next(1, "not_in_channel")
    body = json.dumps({"channel": "#a", "text": "x"}).encode()
    url = slack.api_url + "chat.postMessage"
    answers = [post(url, body, "application/json", slack.token) for _ in range(4)]
    assert [status for status, _ in answers] == [429, 502, 200, 200]
    assert answers[2][1] == {"ok": False, "error": "not_in_channel"}
    assert answers[3][1]["ok"] is True
    assert [r.status for r in slack.requests] == [429, 502, 200, 200]


def test_live_tokens_finds_what_slack_would_link() -> None:
    assert live_tokens("<!here> go to https://x.example or www.y.example @channel") == [
        "<!here>",
        "https://",
        "www.y",
        "x.e",
        "w.y",
        "@channel",
    ]
    assert live_tokens("plain text, 203.0.113.7, aws-cli/2.15.40") == []
