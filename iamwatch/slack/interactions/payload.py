"""Slack's ``block_actions`` payload, parsed into the few typed fields iamwatch acts on.

Slack posts ``payload=<JSON>`` as a form body. Only button clicks (``block_actions``) with exactly
one action are accepted; every id that is later rendered, stored or sent back to Slack is checked
against Slack's formats here, so a value that does not fit is refused before anything uses it.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal
from urllib.parse import parse_qs

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from iamwatch.settings import SLACK_USER_ID

CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,30}$")
MESSAGE_TS = re.compile(r"^\d{9,12}\.\d{1,9}$")
DIGEST = re.compile(r"^[0-9a-f]{64}$")
# Slack's payloads are a few kilobytes, tens with a long alert in ``message``.
MAX_BODY = 512 * 1024


class PayloadError(ValueError):
    """The body is not a button click iamwatch understands; the message never echoes it."""


def _matches(pattern: re.Pattern[str], what: str) -> Any:
    def check(value: str | None) -> str | None:
        if value is not None and not pattern.match(value):
            raise ValueError(f"is not a Slack {what}")
        return value

    return check


class _Model(BaseModel):
    # Slack adds fields over time; the ones not declared here are ignored, never used.
    model_config = ConfigDict(extra="ignore", frozen=True)


class SlackUser(_Model):
    id: str
    username: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=200)

    _id = field_validator("id")(_matches(SLACK_USER_ID, "user id"))

    @property
    def display(self) -> str | None:
        return self.username or self.name


class Action(_Model):
    action_id: str = Field(max_length=255)
    value: str | None = Field(default=None, max_length=2000)


class Channel(_Model):
    id: str

    _id = field_validator("id")(_matches(CHANNEL_ID, "channel id"))


class Container(_Model):
    type: str = Field(max_length=50)
    message_ts: str | None = None
    channel_id: str | None = None
    is_ephemeral: bool = False

    _ts = field_validator("message_ts")(_matches(MESSAGE_TS, "message ts"))
    _channel = field_validator("channel_id")(_matches(CHANNEL_ID, "channel id"))


class Message(_Model):
    """The alert that was clicked, as Slack holds it: blocks are sent back with a status line."""

    ts: str
    # Set when the clicked message is a reply in an alert's thread (an outcome's Undo button).
    thread_ts: str | None = None
    text: str = Field(default="", max_length=40_000)
    blocks: tuple[dict[str, Any], ...] = Field(default=(), max_length=50)

    _ts = field_validator("ts", "thread_ts")(_matches(MESSAGE_TS, "message ts"))

    @field_validator("blocks")
    @classmethod
    def _typed_blocks(cls, blocks: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
        if any(not isinstance(block.get("type"), str) for block in blocks):
            raise ValueError("every block needs a type")
        return blocks


class BlockActions(_Model):
    type: Literal["block_actions"]
    user: SlackUser
    actions: tuple[Action, ...] = Field(min_length=1, max_length=1)
    container: Container
    channel: Channel | None = None
    message: Message | None = None
    response_url: str | None = Field(default=None, max_length=2000)

    @property
    def action(self) -> Action:
        return self.actions[0]

    @property
    def channel_id(self) -> str | None:
        return self.channel.id if self.channel is not None else self.container.channel_id


def parse_payload(body: bytes) -> BlockActions:
    """The click in a signed request body; ``PayloadError`` says what does not fit."""
    data = _payload_json(body)
    try:
        return BlockActions.model_validate(data)
    except ValidationError as error:
        where = sorted(
            {".".join(str(part) for part in item["loc"]) or "payload" for item in error.errors()}
        )
        raise PayloadError(f"not a block_actions button click ({', '.join(where)[:200]})") from None


def claimed_user(body: bytes) -> str | None:
    """Who an unverified request says clicked, if it names a well-formed user id; for the audit
    record of a refused request, whose other contents are the attacker's to choose."""
    try:
        data = _payload_json(body)
    except PayloadError:
        return None
    user = data.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    return user_id if isinstance(user_id, str) and SLACK_USER_ID.match(user_id) else None


def finding_id(value: str | None) -> str:
    """A finding id from a button value: a canonical UUID, or ``PayloadError``."""
    if value is None:
        raise PayloadError("the button carries no finding id")
    try:
        canonical = str(uuid.UUID(value))
    except ValueError:
        raise PayloadError("the button value is not a finding id") from None
    if canonical != value:
        raise PayloadError("the button value is not a finding id")
    return canonical


def confirm_value(finding: str, digest: str, alert_ts: str | None) -> str:
    return f"{finding}|{digest}|{alert_ts or '-'}"


def parse_confirm_value(value: str | None) -> tuple[str, str, str | None]:
    """(finding id, plan digest, alert ts) from a Confirm button's value."""
    parts = (value or "").split("|")
    if len(parts) != 3 or not DIGEST.match(parts[1]):
        raise PayloadError("the confirm button value is not finding|digest|ts")
    alert_ts = None if parts[2] == "-" else parts[2]
    if alert_ts is not None and not MESSAGE_TS.match(alert_ts):
        raise PayloadError("the confirm button value carries no valid message ts")
    return finding_id(parts[0]), parts[1], alert_ts


def _payload_json(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_BODY:
        raise PayloadError("the body is too large")
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=4)
    except (UnicodeDecodeError, ValueError):
        raise PayloadError("the body is not a form") from None
    values = form.get("payload")
    if values is None or len(values) != 1:
        raise PayloadError("the body has no single payload field")
    try:
        data = orjson.loads(values[0])
    except orjson.JSONDecodeError:
        raise PayloadError("the payload is not JSON") from None
    if not isinstance(data, dict):
        raise PayloadError("the payload is not a JSON object")
    return data
