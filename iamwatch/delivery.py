"""Delivering live findings to Slack, auditing every outcome, and parking what cannot be sent.

The notifier Lambda hands ``DeliveryService.deliver_queued`` a batch of queued alerts; the CLI
hands ``deliver`` the findings of a scan (through ``BufferedDelivery``, its alert sink). Both
go through the notifier's one batch path, and every result is audited with the same
constructor, so an export reports the same status for a finding whichever way it went.

A failure that a retry could fix is returned for the queue to redeliver; so are the first
receives of one that people fix in minutes (the bot removed from the channel, the channel
archived, the token rotated); a permanent one, or the last allowed attempt, goes to the
dead-letter queue with its reason and is audited as dead-lettered: nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import ValidationError

from iamwatch import audit
from iamwatch.audit import AuditLog
from iamwatch.finding import Finding
from iamwatch.slack.notifier import (
    DeliveryResult,
    DeliverySummary,
    Outcome,
    SlackNotifier,
    needs_people,
)
from iamwatch.telemetry import NULL_TELEMETRY, Telemetry

# Receives of an alert that failed with a channel or token error before it is dead-lettered:
# with the alert queue's visibility timeout (180 s), a few minutes for someone to fix it.
FIXABLE_ATTEMPTS = 3


class DeadLetters(Protocol):
    """Where undeliverable alerts are parked, with their reason, for people to redrive."""

    def park(self, body: str, reason: str, finding_id: str | None) -> None: ...


@dataclass(frozen=True, slots=True)
class QueuedAlert:
    """One alert message as the queue hands it over: the finding as JSON, and how many times
    it has been received (the first delivery is attempt 1)."""

    message_id: str
    body: str
    attempt: int = 1


class DeliveryService:
    def __init__(
        self,
        notifier: SlackNotifier,
        audit_log: AuditLog,
        *,
        dead_letters: DeadLetters | None = None,
        max_attempts: int = 1,
        telemetry: Telemetry = NULL_TELEMETRY,
    ) -> None:
        self.notifier = notifier
        self.audit = audit_log
        self.dead_letters = dead_letters
        self.max_attempts = max_attempts
        self.telemetry = telemetry

    def deliver(self, findings: Sequence[Finding], attempt: int = 1) -> DeliverySummary:
        """Deliver findings once (the CLI's path: nothing is retried later), auditing each."""
        with self.telemetry.span("deliver", findings=len(findings)):
            summary = self.notifier.deliver_all(findings)
        for finding, result in zip(findings, summary.results, strict=True):
            if result.outcome is Outcome.FAILED:
                self.telemetry.delivery_failed(finding, result)
            self.audit.append(audit.delivery_outcome(finding, result, attempt=attempt))
        return summary

    def deliver_queued(self, messages: Sequence[QueuedAlert]) -> list[str]:
        """Deliver a batch of queued alerts, oldest event first (a backlog after an outage
        reads in order); returns the ids of the messages to receive again."""
        readable: list[tuple[QueuedAlert, Finding]] = []
        for message in messages:
            try:
                readable.append((message, Finding.model_validate_json(message.body)))
            except ValidationError as error:
                reason = f"unreadable alert message: {error.error_count()} errors"
                if self._park(message.body, reason, None):
                    self.audit.append(audit.unreadable_alert(reason, message.message_id))
        readable.sort(key=lambda item: item[1].event_time)
        findings = [finding for _, finding in readable]
        self.notifier.begin_batch()
        with self.telemetry.span("deliver", findings=len(findings)):
            summary = self.notifier.deliver_all(findings)
        retry: list[str] = []
        for (message, finding), result in zip(readable, summary.results, strict=True):
            if result.outcome is not Outcome.FAILED:
                self.audit.append(audit.delivery_outcome(finding, result, attempt=message.attempt))
                continue
            self.telemetry.delivery_failed(finding, result)
            parked = False
            retryable = result.retryable or (
                needs_people(result.reason) and message.attempt < FIXABLE_ATTEMPTS
            )
            if not (retryable and message.attempt < self.max_attempts):
                parked = self._park(message.body, _reason(result), finding.finding_id)
            if not parked:
                retry.append(message.message_id)
            self.audit.append(
                audit.delivery_outcome(
                    finding,
                    result,
                    attempt=message.attempt,
                    will_retry=not parked,
                    dead_lettered=parked,
                )
            )
        return retry

    def _park(self, body: str, reason: str, finding_id: str | None) -> bool:
        """Dead-letter a message; False when there is no dead-letter queue to park it in (it
        is then received again, and the queue's own redrive policy parks it in the end)."""
        if self.dead_letters is None:
            return False
        self.dead_letters.park(body, reason, finding_id)
        self.telemetry.dead_lettered(finding_id, reason)
        return True


def _reason(result: DeliveryResult) -> str:
    return result.reason or "unknown"


class BufferedDelivery:
    """The CLI's alert sink: findings are delivered in batches (so repeats of one alert fold
    into one Slack write), and what is left on ``flush``."""

    def __init__(self, delivery: DeliveryService, batch_size: int = 1000) -> None:
        self.delivery = delivery
        self.batch_size = batch_size
        self.summary = DeliverySummary()
        self._pending: list[Finding] = []

    def publish(self, findings: Sequence[Finding]) -> None:
        self._pending.extend(findings)
        if len(self._pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            self.summary.results.extend(self.delivery.deliver(pending).results)
