"""Talking back to Slack from the interactions endpoint: short timeouts, no retries.

Slack shows an error to the person who clicked unless the endpoint answers within 3 seconds, so
every call here gives up after ``timeout`` seconds and is never retried; what was decided is in
the audit trail before any of these calls is made. ``response_url`` posts (ephemeral replies to
the clicker) go only to Slack's own hooks host, or, for tests, to the configured API host when
that is on loopback: a signed payload is trusted, but not with where we send things.
"""

from __future__ import annotations

import http.client
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.error import URLError
from urllib.parse import urlsplit

from slack_sdk.errors import SlackClientError
from slack_sdk.webhook import WebhookClient

from iamwatch.deadline import NO_DEADLINE, Deadline
from iamwatch.slack.links import http_url_problem, is_loopback
from iamwatch.slack.render import SlackMessage
from iamwatch.slack.secrets import SecretSource
from iamwatch.slack.transport import DeliveryError, RetryPolicy, WebApiTransport, scrub

SLACK_HOOKS_HOST = "hooks.slack.com"
# slack-sdk's logger, pinned to CRITICAL by iamwatch.slack.transport (it would log the URL).
_sdk_logger = logging.getLogger("iamwatch.slack.sdk")


class SlackReplies(Protocol):
    def update(self, channel: str, ts: str, message: SlackMessage) -> None: ...

    def reply_in_thread(self, channel: str, ts: str, message: SlackMessage) -> None: ...

    def respond(self, response_url: str, message: SlackMessage) -> None: ...


def response_url_problem(url: str, api_url: str) -> str | None:
    problem = http_url_problem(url, https_only_unless_loopback=True)
    if problem is not None:
        return problem
    parts, api = urlsplit(url), urlsplit(api_url)
    if parts.scheme == "https" and parts.hostname == SLACK_HOOKS_HOST and parts.port is None:
        return None
    if is_loopback(parts.hostname or "") and parts.netloc == api.netloc:
        return None
    return f"is not on {SLACK_HOOKS_HOST}"


class WebApiReplies:
    def __init__(
        self,
        token: SecretSource,
        *,
        api_url: str,
        timeout: int,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        deadline: Deadline = NO_DEADLINE,
    ) -> None:
        self._api_url = api_url
        self._timeout = timeout
        self._transport = WebApiTransport(
            token,
            base_url=api_url,
            policy=policy or RetryPolicy(max_retries=0),
            sleep=sleep,
            timeout=timeout,
            deadline=deadline,
        )

    def update(self, channel: str, ts: str, message: SlackMessage) -> None:
        self._transport.update(channel, ts, message)

    def reply_in_thread(self, channel: str, ts: str, message: SlackMessage) -> None:
        self._transport.post(channel, message, thread_ts=ts)

    def respond(self, response_url: str, message: SlackMessage) -> None:
        """An ephemeral message to the person who clicked (the response URL is a capability:
        it is never logged or stored)."""
        problem = response_url_problem(response_url, self._api_url)
        if problem is not None:
            raise DeliveryError(f"response_url {problem}", retryable=False)
        client = WebhookClient(url=response_url, timeout=self._timeout, logger=_sdk_logger)
        payload: dict[str, Any] = message.payload()
        try:
            response = client.send(
                text=payload["text"],
                blocks=payload["blocks"],
                response_type="ephemeral",
                replace_original=False,
            )
        except (URLError, OSError, http.client.HTTPException, SlackClientError) as error:
            raise DeliveryError(
                scrub(f"response_url: {type(error).__name__}", [response_url]), retryable=True
            ) from None
        if response.status_code != 200:
            raise DeliveryError(f"response_url: http {response.status_code}", retryable=False)
