"""Sending messages: the Web API (bot token) or an incoming webhook, with slack-sdk's retries.

Retries use slack-sdk's retry handlers, subclassed so sleeping is injectable (tests never
really sleep) and capped: 429 waits exactly Retry-After (and gives up when Slack asks for more
than the configured maximum), 5xx and connection errors back off exponentially. What is left
after retries is raised as ``DeliveryError`` with Slack's reason and whether a later retry
could succeed. Secrets (token, webhook URL) never reach a log line or an error message.

In Lambda, time is bounded too (``iamwatch.deadline``): no wait is slept, and no request is
started, unless the invocation still has time for the request (its timeout) and for auditing
the outcome afterwards; otherwise the message fails at once, retryable, saying so.
"""

from __future__ import annotations

import http.client
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.error import URLError

from pydantic import SecretStr
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web import WebClient
from slack_sdk.webhook import WebhookClient

from iamwatch.deadline import NO_DEADLINE, Deadline
from iamwatch.slack.render import SlackMessage

Sleep = Callable[[float], None]
# Seconds kept after the last Slack request of an invocation: audit records, dead letters and
# the partial batch response are written after it.
AFTER_SLACK_SECONDS = 3.0

# slack-sdk logs request details at debug level (the webhook client logs its URL, which is the
# secret) and every failed attempt at error level. Its logger is pinned to CRITICAL: nothing of
# the sort is emitted, and what finally failed is reported once, per finding, by the notifier.
_sdk_logger = logging.getLogger("iamwatch.slack.sdk")
_sdk_logger.setLevel(logging.CRITICAL)

# The token is not (or no longer) good: revoked, rotated, missing a scope.
AUTH_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "invalid_token",
        "no_service",
    }
)
# Slack answers these with HTTP 200 and ok=false; a later retry can succeed.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
SERVER_ERROR_STATUSES = frozenset({500, 502, 503, 504})


class DeliveryError(Exception):
    """Slack did not take the message; ``reason`` is Slack's error code or what went wrong."""

    def __init__(self, reason: str, *, retryable: bool, channel: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.channel = channel


@dataclass(frozen=True, slots=True)
class Posted:
    channel: str
    ts: str | None


@dataclass(slots=True)
class RetryLog:
    """What the retry handlers did: (why, seconds slept) per retry; and, for the request
    under way, whether a retry was given up for lack of time."""

    waits: list[tuple[str, float]] = field(default_factory=list)
    out_of_time: float | None = None


@dataclass(frozen=True, slots=True)
class TimeBudget:
    """The invocation's deadline and the time a request needs: its timeout, then the rest of
    the invocation's work after Slack."""

    deadline: Deadline = NO_DEADLINE
    request_seconds: float = 10.0

    @property
    def reserve(self) -> float:
        return self.request_seconds + AFTER_SLACK_SECONDS

    def allows(self, wait: float = 0.0) -> bool:
        return self.deadline.remaining() - wait >= self.reserve

    def left(self) -> str:
        return f"{self.deadline.remaining():.0f} s left in the invocation"


class Breaker:
    """Trips after ``threshold`` consecutive connection failures (Slack unreachable: refused,
    dropped, DNS, timeout), counting each attempt, so a scan or a batch with Slack down fails
    fast instead of waiting out every alert's retries; any answer from Slack resets it. Once
    ``cooldown`` seconds have passed, one attempt is let through again."""

    def __init__(
        self,
        threshold: int = 3,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self.failures = 0
        self.last_reason = ""
        self._opened_at: float | None = None

    @property
    def open(self) -> bool:
        if self._opened_at is None:
            return False
        if self.clock() - self._opened_at >= self.cooldown:
            # Half open: let the next attempt through; one more failure trips it again.
            self._opened_at = None
            self.failures = self.threshold - 1
            return False
        return True

    def failed(self, reason: str) -> None:
        self.failures += 1
        self.last_reason = reason
        if self.failures >= self.threshold and self._opened_at is None:
            self._opened_at = self.clock()

    def answered(self) -> None:
        self.failures = 0
        self._opened_at = None

    def refusal(self) -> DeliveryError:
        return DeliveryError(
            f"not sent: Slack unreachable ({self.failures} consecutive connection failures; "
            f"last: {self.last_reason})",
            retryable=True,
        )


class SlackTransport(Protocol):
    # Webhooks post to one fixed channel and can neither thread nor update.
    fixed_channel: str | None
    supports_threads: bool
    breaker: Breaker

    def post(self, channel: str, message: SlackMessage, thread_ts: str | None = None) -> Posted: ...

    def update(self, channel: str, ts: str, message: SlackMessage) -> None: ...


def _retry_after(response: HttpResponse) -> float:
    for name, values in response.headers.items():
        if name.lower() == "retry-after":
            value = values[0] if isinstance(values, list) else values
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                break
    return 1.0


def _pause(state: RetryState, log: RetryLog, sleep: Sleep, kind: str, wait: float) -> None:
    """Record the wait, sleep it (injectable, so tests never really sleep) and retry."""
    state.next_attempt_requested = True
    log.waits.append((kind, wait))
    sleep(wait)
    state.increment_current_attempt()


class _TimedRetry(RetryHandler):
    """A retry only when the invocation has time for the wait, then the request and what
    follows it; otherwise the failure stands, marked as stopped for time."""

    sleep: Sleep
    max_wait: float
    log: RetryLog
    kind: str
    budget: TimeBudget
    _wait: float = 0.0

    def _next_wait(self, state: RetryState, response: HttpResponse | None) -> float:
        raise NotImplementedError

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not super().can_retry(state=state, request=request, response=response, error=error):
            return False
        self._wait = self._next_wait(state, response)
        if not self.budget.allows(self._wait):
            self.log.out_of_time = self.budget.deadline.remaining()
            return False
        return True

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        _pause(state, self.log, self.sleep, self.kind, self._wait)


class RateLimitRetry(_TimedRetry, RateLimitErrorRetryHandler):
    """Honours Retry-After exactly, with an injectable sleep and a ceiling on the wait."""

    kind = "rate-limited"

    def __init__(
        self,
        max_retry_count: int,
        sleep: Sleep,
        max_wait: float,
        log: RetryLog,
        budget: TimeBudget = TimeBudget(),
    ) -> None:
        RateLimitErrorRetryHandler.__init__(self, max_retry_count=max_retry_count)
        self.sleep = sleep
        self.max_wait = max_wait
        self.log = log
        self.budget = budget

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return (
            response is not None
            and response.status_code == 429
            and _retry_after(response) <= self.max_wait
        )

    def _next_wait(self, state: RetryState, response: HttpResponse | None) -> float:
        return _retry_after(response) if response is not None else 1.0


class _BackoffMixin(_TimedRetry):
    def _next_wait(self, state: RetryState, response: HttpResponse | None) -> float:
        return min(
            self.interval_calculator.calculate_sleep_duration(state.current_attempt), self.max_wait
        )


class ServerErrorRetry(_BackoffMixin, ServerErrorRetryHandler):
    """500, 502, 503 and 504, with exponential backoff and jitter."""

    kind = "server-error"

    def __init__(
        self,
        max_retry_count: int,
        sleep: Sleep,
        max_wait: float,
        log: RetryLog,
        backoff: BackoffRetryIntervalCalculator,
        budget: TimeBudget = TimeBudget(),
    ) -> None:
        ServerErrorRetryHandler.__init__(self, max_retry_count, backoff)
        self.sleep = sleep
        self.max_wait = max_wait
        self.log = log
        self.budget = budget

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code in SERVER_ERROR_STATUSES


class ConnectionRetry(_BackoffMixin, ConnectionErrorRetryHandler):
    """Refused, reset or dropped connections, with exponential backoff and jitter, until the
    breaker trips."""

    kind = "connection-error"

    def __init__(
        self,
        max_retry_count: int,
        sleep: Sleep,
        max_wait: float,
        log: RetryLog,
        backoff: BackoffRetryIntervalCalculator,
        breaker: Breaker,
        budget: TimeBudget = TimeBudget(),
    ) -> None:
        ConnectionErrorRetryHandler.__init__(
            self,
            max_retry_count,
            backoff,
            [URLError, ConnectionError, http.client.RemoteDisconnected],
        )
        self.sleep = sleep
        self.max_wait = max_wait
        self.log = log
        self.budget = budget
        self.breaker = breaker

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        self.breaker.failed(_connection_reason(error) if error is not None else "no answer")
        return not self.breaker.open


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 5
    max_wait: float = 60.0
    backoff_factor: float = 0.5


def retry_handlers(
    policy: RetryPolicy,
    sleep: Sleep,
    log: RetryLog,
    breaker: Breaker,
    budget: TimeBudget = TimeBudget(),
) -> list[RetryHandler]:
    backoff = BackoffRetryIntervalCalculator(backoff_factor=policy.backoff_factor)
    return [
        ConnectionRetry(policy.max_retries, sleep, policy.max_wait, log, backoff, breaker, budget),
        RateLimitRetry(policy.max_retries, sleep, policy.max_wait, log, budget),
        ServerErrorRetry(policy.max_retries, sleep, policy.max_wait, log, backoff, budget),
    ]


def _out_of_time(budget: TimeBudget) -> DeliveryError | None:
    """Refuses to start a request the invocation may not live to see answered (and audited)."""
    if budget.allows():
        return None
    return DeliveryError(
        f"not sent: {budget.left()}, too little for a Slack request (up to "
        f"{budget.request_seconds:.0f} s) and the audit record; returned to the queue",
        retryable=True,
    )


def _stopped_for_time(error: DeliveryError, log: RetryLog) -> DeliveryError:
    """``error``, saying that retries stopped because the invocation ran short of time."""
    if log.out_of_time is None:
        return error
    return DeliveryError(
        f"{error.reason}; not retried: {log.out_of_time:.0f} s left in the invocation",
        retryable=True,
        channel=error.channel,
    )


def scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _connection_reason(error: BaseException) -> str:
    if isinstance(error, URLError):
        detail = error.reason
        named = type(detail).__name__ if isinstance(detail, BaseException) else str(detail)
        return f"connection failed: {named}"
    return f"connection failed: {type(error).__name__}"


class WebApiTransport:
    """chat.postMessage and chat.update with a bot token."""

    fixed_channel: str | None = None
    supports_threads = True

    def __init__(
        self,
        token: Callable[[], SecretStr],
        *,
        base_url: str,
        policy: RetryPolicy,
        sleep: Sleep,
        timeout: int = 10,
        breaker: Breaker | None = None,
        deadline: Deadline = NO_DEADLINE,
    ) -> None:
        self._token = token
        self.retry_log = RetryLog()
        self.breaker = breaker or Breaker()
        self._budget = TimeBudget(deadline, float(timeout))
        self._client = WebClient(
            base_url=base_url,
            timeout=timeout,
            logger=_sdk_logger,
            retry_handlers=retry_handlers(
                policy, sleep, self.retry_log, self.breaker, self._budget
            ),
        )

    def __repr__(self) -> str:
        return f"WebApiTransport(base_url={self._client.base_url!r})"

    def post(self, channel: str, message: SlackMessage, thread_ts: str | None = None) -> Posted:
        response = self._call(
            "chat.postMessage",
            channel=channel,
            thread_ts=thread_ts,
            unfurl_links=False,
            unfurl_media=False,
            **self._message_args(message),
        )
        ts = response.get("ts")
        return Posted(channel=channel, ts=str(ts) if ts is not None else None)

    def update(self, channel: str, ts: str, message: SlackMessage) -> None:
        self._call("chat.update", channel=channel, ts=ts, **self._message_args(message))

    @staticmethod
    def _message_args(message: SlackMessage) -> dict[str, Any]:
        payload = message.payload()
        # parse=none and no link_names: Slack must not turn text into mentions or channel links.
        return {
            "text": payload["text"],
            "blocks": payload["blocks"],
            "parse": "none",
            "link_names": False,
        }

    def _call(self, method: str, **arguments: Any) -> dict[str, Any]:
        from iamwatch.slack.secrets import TokenError, refreshed

        if self.breaker.open:
            raise self.breaker.refusal()
        try:
            secret = self._token().get_secret_value()
        except TokenError as error:
            # SSM or Secrets Manager is unreachable after start-up: a later retry may succeed.
            raise DeliveryError(str(error), retryable=True) from None
        try:
            return self._send(method, secret, arguments)
        except DeliveryError as error:
            if error.reason.split(":", 1)[0] not in AUTH_ERRORS:
                raise
            # The cached token may have been rotated since: read it again, once.
            try:
                again = refreshed(self._token).get_secret_value()
            except TokenError:
                raise error from None
            if again == secret:
                raise
            return self._send(method, again, arguments)

    def _send(self, method: str, secret: str, arguments: dict[str, Any]) -> dict[str, Any]:
        if (late := _out_of_time(self._budget)) is not None:
            raise late
        self.retry_log.out_of_time = None
        self._client.token = secret
        try:
            if method == "chat.update":
                response = self._client.chat_update(**arguments)
            else:
                response = self._client.chat_postMessage(**arguments)
        except SlackApiError as error:
            self.breaker.answered()
            raise _stopped_for_time(_api_error(error, [secret]), self.retry_log) from None
        except (URLError, OSError, http.client.HTTPException) as error:
            reason = scrub(_connection_reason(error), [secret])
            if not self.breaker.open:  # else the retry handler counted this attempt already
                self.breaker.failed(reason)
            raise _stopped_for_time(DeliveryError(reason, retryable=True), self.retry_log) from None
        except SlackClientError as error:
            raise DeliveryError(
                scrub(f"slack client error: {error}", [secret]), retryable=False
            ) from None
        finally:
            self._client.token = None
        self.breaker.answered()
        data = response.data
        return data if isinstance(data, dict) else {}


def _api_error(error: SlackApiError, secrets: Sequence[str]) -> DeliveryError:
    response = error.response
    status = response.status_code
    data = response.data if isinstance(response.data, dict) else {}
    code = str(data.get("error") or f"http {status}")
    if status == 429:
        return DeliveryError("ratelimited (http 429, retries exhausted)", retryable=True)
    if status in SERVER_ERROR_STATUSES or status >= 500:
        return DeliveryError(
            scrub(f"{code} (http {status}, retries exhausted)", secrets), retryable=True
        )
    detail = data.get("errors") or (data.get("response_metadata") or {}).get("messages")
    reason = code
    if isinstance(detail, list) and detail:
        reason += ": " + "; ".join(str(item) for item in detail[:3])[:300]
    return DeliveryError(scrub(reason, secrets), retryable=code in TRANSIENT_ERRORS)


class WebhookTransport:
    """An incoming webhook: one fixed channel, no threads, no updates, no message ids."""

    fixed_channel: str | None = "incoming-webhook"
    supports_threads = False

    def __init__(
        self,
        url: SecretStr,
        *,
        policy: RetryPolicy,
        sleep: Sleep,
        timeout: int = 10,
        breaker: Breaker | None = None,
        deadline: Deadline = NO_DEADLINE,
    ) -> None:
        self._url = url
        self.retry_log = RetryLog()
        self.breaker = breaker or Breaker()
        self._budget = TimeBudget(deadline, float(timeout))
        self._client = WebhookClient(
            url=url.get_secret_value(),
            timeout=timeout,
            logger=_sdk_logger,
            retry_handlers=retry_handlers(
                policy, sleep, self.retry_log, self.breaker, self._budget
            ),
        )

    def __repr__(self) -> str:
        return "WebhookTransport(url=**********)"

    def post(self, channel: str, message: SlackMessage, thread_ts: str | None = None) -> Posted:
        secret = self._url.get_secret_value()
        payload = message.payload()
        if self.breaker.open:
            raise self.breaker.refusal()
        if (late := _out_of_time(self._budget)) is not None:
            raise late
        self.retry_log.out_of_time = None
        try:
            response = self._client.send(
                text=payload["text"],
                blocks=payload["blocks"],
                unfurl_links=False,
                unfurl_media=False,
            )
        except (URLError, OSError, http.client.HTTPException) as error:
            reason = scrub(_connection_reason(error), [secret])
            if not self.breaker.open:  # else the retry handler counted this attempt already
                self.breaker.failed(reason)
            raise _stopped_for_time(DeliveryError(reason, retryable=True), self.retry_log) from None
        except SlackClientError as error:
            raise DeliveryError(
                scrub(f"slack client error: {error}", [secret]), retryable=False
            ) from None
        self.breaker.answered()
        if response.status_code == 200:
            return Posted(channel=self.fixed_channel or "incoming-webhook", ts=None)
        body = (response.body or "").strip()[:200] or f"http {response.status_code}"
        retryable = response.status_code == 429 or response.status_code >= 500
        suffix = f" (http {response.status_code}, retries exhausted)" if retryable else ""
        raise _stopped_for_time(
            DeliveryError(scrub(body + suffix, [secret]), retryable=retryable), self.retry_log
        )

    def update(self, channel: str, ts: str, message: SlackMessage) -> None:
        raise DeliveryError("incoming webhooks cannot update messages", retryable=False)
