"""The doctor's Slack checks: the token is valid (``auth.test``) and the bot is a member of each
routed channel (``conversations.info`` for an id, ``conversations.list`` for a name; both need
the ``channels:read`` scope, and ``groups:read`` for private channels)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from iamwatch.doctor.model import Check
from iamwatch.slack.secrets import SecretError, SecretSource

# slack-sdk's logger, pinned to CRITICAL by iamwatch.slack.transport.
_sdk_logger = logging.getLogger("iamwatch.slack.sdk")
_CONVERSATION_ID = re.compile(r"^[CGD][A-Z0-9]{6,20}$")


class SlackChecks:
    def __init__(self, token: SecretSource, api_url: str, timeout: int = 10) -> None:
        self._token = token
        self._api_url = api_url
        self._timeout = timeout

    def run(self, channels: Iterable[str]) -> list[Check]:
        try:
            secret = self._token().get_secret_value()
        except SecretError as error:
            return [Check.unreadable("slack token", str(error))]
        client = WebClient(
            token=secret, base_url=self._api_url, timeout=self._timeout, logger=_sdk_logger
        )
        try:
            identity = client.auth_test()
        except SlackApiError as error:
            return [Check.failed("slack token", f"Slack refused it: {_code(error)}")]
        except (SlackClientError, OSError) as error:
            return [Check.unreadable("slack token", f"Slack unreachable: {type(error).__name__}")]
        checks = [Check.passed("slack token", f"valid, bot {identity.get('user_id', '?')}")]
        names: dict[str, dict[str, Any]] | None = None
        for channel in channels:
            name = f"slack channel {channel}"
            try:
                if _CONVERSATION_ID.match(channel):
                    info = client.conversations_info(channel=channel).get("channel") or {}
                else:
                    if names is None:
                        names = _by_name(client)
                    info = names.get(channel.lstrip("#"), {})
            except SlackApiError as error:
                code = _code(error)
                if code == "channel_not_found":
                    checks.append(Check.failed(name, "not found, or the bot cannot see it"))
                else:
                    checks.append(Check.unreadable(name, f"could not read: {code}"))
                continue
            except (SlackClientError, OSError) as error:
                checks.append(Check.unreadable(name, f"Slack unreachable: {type(error).__name__}"))
                continue
            checks.append(_membership(name, info))
        return checks


def _membership(name: str, info: dict[str, Any]) -> Check:
    if not info:
        return Check.failed(name, "not found, or the bot cannot see it")
    if info.get("is_archived"):
        return Check.failed(name, "archived: alerts to it fail")
    if not info.get("is_member"):
        return Check.failed(name, "the bot is not a member: invite it (/invite @iamwatch)")
    return Check.passed(name, "the bot is a member")


def _by_name(client: WebClient) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        page = client.conversations_list(
            types="public_channel,private_channel", limit=200, cursor=cursor
        )
        for channel in page.get("channels") or []:
            found[str(channel.get("name"))] = channel
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            return found


def _code(error: SlackApiError) -> str:
    data = error.response.data if isinstance(error.response.data, dict) else {}
    return str(data.get("error") or f"http {error.response.status_code}")
