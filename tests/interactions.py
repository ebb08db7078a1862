"""Slack interaction requests as Slack sends them: a ``payload=`` form body signed with HMAC-SHA256
over ``v0:{timestamp}:{body}``, wrapped in an API Gateway HTTP API (payload 2.0) event."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from typing import Any
from urllib.parse import quote_plus

import orjson

from tests.slack_server import Message

SIGNING_SECRET = "3f1c9e0b5d7a4e2f8c6b1a9d0e7f5c3b"
TEAM = "T0TESTTEAM"


def click(
    action_id: str,
    value: str | None,
    *,
    user: str = "U0ALICE001",
    user_name: str = "alice",
    alert: Message | None = None,
    channel: str | None = None,
    response_url: str | None = None,
    ephemeral_ts: str | None = None,
) -> dict[str, Any]:
    """A block_actions payload for one button click on ``alert`` (or on an ephemeral message
    when ``ephemeral_ts`` is given), with the fields Slack really sends."""
    channel_id = alert.channel if alert is not None else channel or "C0ALERTS01"
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": ephemeral_ts or (alert.ts if alert is not None else "1715000001.000001"),
        "channel_id": channel_id,
        "is_ephemeral": ephemeral_ts is not None,
    }
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": user_name, "name": user_name, "team_id": TEAM},
        "api_app_id": "A0IAMWATCH",
        "token": "deprecatedverificationtoken",
        "container": container,
        "trigger_id": f"{uuid.uuid4().int % 10**12}.{uuid.uuid4().int % 10**12}.abcdef",
        "team": {"id": TEAM, "domain": "example"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": "security-alerts"},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": "blk",
                "text": {"type": "plain_text", "text": "Button", "emoji": False},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    if alert is not None and ephemeral_ts is None:
        payload["message"] = {
            "type": "message",
            "subtype": "bot_message",
            "text": alert.text,
            "ts": alert.ts,
            "bot_id": "B0IAMWATCH",
            "blocks": alert.blocks,
        }
    return payload


def form(payload: dict[str, Any]) -> bytes:
    return b"payload=" + quote_plus(orjson.dumps(payload).decode()).encode()


def signature(body: bytes, timestamp: int | str, secret: str = SIGNING_SECRET) -> str:
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    body: bytes, *, age: float = 0, secret: str = SIGNING_SECRET, now: float | None = None
) -> dict[str, str]:
    """Headers of a request Slack signed ``age`` seconds ago (negative: in the future)."""
    timestamp = int((time.time() if now is None else now) - age)
    return {
        "x-slack-request-timestamp": str(timestamp),
        "x-slack-signature": signature(body, timestamp, secret),
    }


def http_event(
    body: bytes,
    headers: dict[str, str],
    *,
    base64_body: bool = False,
    source_ip: str = "198.51.100.7",
) -> dict[str, Any]:
    """The event API Gateway's HTTP API hands the function (payload format 2.0)."""
    return {
        "version": "2.0",
        "routeKey": "POST /slack/interactions",
        "rawPath": "/slack/interactions",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/x-www-form-urlencoded",
            "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
            **{key.lower(): value for key, value in headers.items()},
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "http": {
                "method": "POST",
                "path": "/slack/interactions",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": "Slackbot 1.0 (+https://api.slack.com/robots)",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "POST /slack/interactions",
            "stage": "$default",
            "time": "03/Nov/2026:21:30:00 +0000",
            "timeEpoch": int(time.time() * 1000),
        },
        "body": base64.b64encode(body).decode() if base64_body else body.decode(),
        "isBase64Encoded": base64_body,
    }
