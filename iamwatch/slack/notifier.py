"""The Slack notifier: suppression, routing, dedup and delivery of findings, one result each.

Nothing is dropped silently: every finding handed in comes back as a ``DeliveryResult`` saying
it was posted, deduplicated (a repeat within the window, or a finding already delivered),
suppressed (by which rule) or failed (with Slack's reason and whether a retry could succeed).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Literal

from iamwatch.finding import Finding
from iamwatch.severity import Severity
from iamwatch.slack.dedup import AlertRecord, DedupStore
from iamwatch.slack.render import Repeat, render, render_repeat
from iamwatch.slack.suppress import SuppressionRule, check
from iamwatch.slack.transport import DeliveryError, SlackTransport

logger = logging.getLogger("iamwatch.slack")

RepeatMode = Literal["thread", "update"]

# Errors that will fail the same way for every message to that channel, or to any channel:
# after the first, later findings are failed without another request, with the same reason.
CHANNEL_ERRORS = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "channel_is_archived"}
)
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
# chat.update cannot edit the first message any more: post a fresh alert instead.
UPDATE_GONE_ERRORS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})


class Outcome(StrEnum):
    POSTED = "posted"
    DEDUPLICATED = "deduplicated"
    ALREADY_DELIVERED = "already-delivered"
    SUPPRESSED = "suppressed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    finding_id: str
    detector: str
    severity: Severity
    outcome: Outcome
    channel: str | None = None
    ts: str | None = None
    reason: str | None = None
    retryable: bool = False
    repeat_count: int | None = None
    suppressed_by: SuppressionRule | None = None
    expired_rules: tuple[SuppressionRule, ...] = ()


@dataclass(slots=True)
class DeliverySummary:
    results: list[DeliveryResult] = field(default_factory=list)

    def add(self, result: DeliveryResult) -> None:
        self.results.append(result)

    @property
    def counts(self) -> Counter[Outcome]:
        return Counter(result.outcome for result in self.results)

    @property
    def failures(self) -> list[DeliveryResult]:
        return [r for r in self.results if r.outcome is Outcome.FAILED]

    @property
    def suppressed(self) -> list[DeliveryResult]:
        return [r for r in self.results if r.outcome is Outcome.SUPPRESSED]

    @property
    def expired_rules(self) -> list[SuppressionRule]:
        """Each expired rule that matched a finding, once."""
        seen: dict[SuppressionRule, None] = {}
        for result in self.results:
            for rule in result.expired_rules:
                seen.setdefault(rule, None)
        return list(seen)

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass(frozen=True, slots=True)
class Routing:
    """A channel per severity, falling back to the default channel."""

    default: str | None
    by_severity: Mapping[Severity, str] = field(default_factory=dict)

    def channel_for(self, severity: Severity) -> str | None:
        return self.by_severity.get(severity) or self.default


def _today() -> date:
    return datetime.now(UTC).date()


class SlackNotifier:
    def __init__(
        self,
        transport: SlackTransport,
        store: DedupStore,
        *,
        routing: Routing,
        dedup_window: timedelta = timedelta(hours=1),
        repeats: RepeatMode = "thread",
        suppressions: Iterable[SuppressionRule] = (),
        today: Callable[[], date] | None = None,
        interactive: bool = False,
    ) -> None:
        self.transport = transport
        self.interactive = interactive
        self.store = store
        self.routing = routing
        self.dedup_window = dedup_window
        self.repeats = repeats
        self.suppressions = tuple(suppressions)
        self.today = today or _today
        # Permanent failures remembered for this notifier's lifetime, by channel (None: all).
        self._blocked: dict[str | None, str] = {}

    def deliver_all(self, findings: Iterable[Finding]) -> DeliverySummary:
        summary = DeliverySummary()
        for finding in findings:
            summary.add(self.deliver(finding))
        return summary

    def deliver(self, finding: Finding) -> DeliveryResult:
        """Deliver one finding; never raises for a Slack problem, it is in the result."""
        if self.store.seen(finding.finding_id):
            return self._result(finding, Outcome.ALREADY_DELIVERED)
        decision = check(self.suppressions, finding, self.today())
        for rule in decision.expired:
            logger.warning(
                "suppression rule expired, delivering",
                extra={"finding_id": finding.finding_id, "rule": rule.describe()},
            )
        if decision.rule is not None:
            logger.info(
                "finding suppressed",
                extra={"finding_id": finding.finding_id, "rule": decision.rule.describe()},
            )
            return self._result(
                finding,
                Outcome.SUPPRESSED,
                suppressed_by=decision.rule,
                expired_rules=decision.expired,
            )
        try:
            result = self._send(finding)
        except DeliveryError as error:
            channel = error.channel or self._channel(finding)
            if not error.retryable:
                self._remember(channel, error.reason)
            logger.warning(
                "slack delivery failed",
                extra={
                    "finding_id": finding.finding_id,
                    "channel": channel,
                    "reason": error.reason,
                    "retryable": error.retryable,
                },
            )
            result = self._result(
                finding,
                Outcome.FAILED,
                channel=channel,
                reason=error.reason,
                retryable=error.retryable,
            )
        if decision.expired:
            result = replace(result, expired_rules=decision.expired)
        return result

    def _channel(self, finding: Finding) -> str | None:
        return self.transport.fixed_channel or self.routing.channel_for(finding.severity)

    def _remember(self, channel: str | None, reason: str) -> None:
        code = reason.split(":", 1)[0].split(" ", 1)[0]
        if code in AUTH_ERRORS:
            self._blocked[None] = reason
        elif code in CHANNEL_ERRORS and channel is not None:
            self._blocked[channel] = reason

    def _check_blocked(self, channel: str) -> None:
        reason = self._blocked.get(None) or self._blocked.get(channel)
        if reason is not None:
            raise DeliveryError(
                f"{reason} (an earlier message failed the same way)", retryable=False
            )

    def _send(self, finding: Finding) -> DeliveryResult:
        existing = self.store.get(finding.dedup_key)
        if existing is not None and self._within_window(existing, finding):
            repeated = self._repeat(finding, existing)
            if repeated is not None:
                return repeated
        channel = self._channel(finding)
        if channel is None:
            raise DeliveryError(
                f"no Slack channel for {finding.severity.value} findings", retryable=False
            )
        self._check_blocked(channel)
        posted = self.transport.post(channel, render(finding, interactive=self.interactive))
        self.store.put(
            AlertRecord(
                dedup_key=finding.dedup_key,
                channel=posted.channel,
                ts=posted.ts,
                first_seen=finding.event_time,
                last_seen=finding.event_time,
                count=1,
                finding_json=finding.model_dump_json(),
            )
        )
        self.store.mark_seen(finding.finding_id, finding.dedup_key)
        logger.info(
            "slack alert posted", extra={"finding_id": finding.finding_id, "channel": channel}
        )
        return self._result(finding, Outcome.POSTED, channel=posted.channel, ts=posted.ts)

    def _within_window(self, record: AlertRecord, finding: Finding) -> bool:
        if self.dedup_window <= timedelta(0):
            return False
        return abs(finding.event_time - record.first_seen) < self.dedup_window

    def _repeat(self, finding: Finding, existing: AlertRecord) -> DeliveryResult | None:
        """Count a repeat on the first alert; ``None`` when that alert can no longer be edited."""
        count = existing.count + 1
        first_seen = min(existing.first_seen, finding.event_time)
        last_seen = max(existing.last_seen, finding.event_time)
        reason: str | None = None
        if existing.ts is None or not self.transport.supports_threads:
            # Incoming webhooks can neither thread nor edit: the repeat is counted, not posted.
            reason = "repeat counted; incoming webhooks cannot thread or update messages"
        else:
            try:
                self._check_blocked(existing.channel)
                if self.repeats == "thread":
                    reply = render_repeat(finding, count)
                    self.transport.post(existing.channel, reply, thread_ts=existing.ts)
                else:
                    first = Finding.model_validate_json(existing.finding_json)
                    message = render(
                        first,
                        repeat=Repeat(count, first_seen, last_seen),
                        interactive=self.interactive,
                    )
                    self.transport.update(existing.channel, existing.ts, message)
            except DeliveryError as error:
                if error.reason.split(" ", 1)[0] in UPDATE_GONE_ERRORS:
                    return None
                # Repeats go to the first alert's channel, which routing may no longer pick.
                error.channel = existing.channel
                raise
        self.store.put(
            AlertRecord(
                dedup_key=existing.dedup_key,
                channel=existing.channel,
                ts=existing.ts,
                first_seen=first_seen,
                last_seen=last_seen,
                count=count,
                finding_json=existing.finding_json,
            )
        )
        self.store.mark_seen(finding.finding_id, finding.dedup_key)
        return self._result(
            finding,
            Outcome.DEDUPLICATED,
            channel=existing.channel,
            ts=existing.ts,
            reason=reason,
            repeat_count=count,
        )

    @staticmethod
    def _result(
        finding: Finding,
        outcome: Outcome,
        *,
        channel: str | None = None,
        ts: str | None = None,
        reason: str | None = None,
        retryable: bool = False,
        repeat_count: int | None = None,
        suppressed_by: SuppressionRule | None = None,
        expired_rules: tuple[SuppressionRule, ...] = (),
    ) -> DeliveryResult:
        return DeliveryResult(
            finding_id=finding.finding_id,
            detector=finding.detector,
            severity=finding.severity,
            outcome=outcome,
            channel=channel,
            ts=ts,
            reason=reason,
            retryable=retryable,
            repeat_count=repeat_count,
            suppressed_by=suppressed_by,
            expired_rules=expired_rules,
        )
