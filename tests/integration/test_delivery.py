"""The delivery service: every outcome audited with one constructor, transient failures handed
back for the queue to retry, permanent ones (and the last attempt) dead-lettered with their
reason; the notifier behind it is the real one, against the loopback Slack server. And what the
detection service suppresses never reaches Slack."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from iamwatch.audit import AuditKind, AuditRecord, SQLiteAuditLog
from iamwatch.delivery import BufferedDelivery, DeliveryService, QueuedAlert
from iamwatch.detection import DetectionService
from iamwatch.finding import Finding
from iamwatch.slack.notifier import Outcome
from tests.conftest import new_engine
from tests.notifiers import SAMPLES, Sleeps, finding_id_in, notifier
from tests.slack_server import SlackServer
from tests.unit.test_detection import NOW, finding_of, record_of, rule

pytestmark = pytest.mark.usefixtures("no_ambient_settings")

EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


class FakeDeadLetters:
    def __init__(self) -> None:
        self.parked: list[tuple[str, str, str | None]] = []

    def park(self, body: str, reason: str, finding_id: str | None) -> None:
        self.parked.append((body, reason, finding_id))


def queued(finding: Finding, attempt: int = 1) -> QueuedAlert:
    return QueuedAlert(f"m-{finding.finding_id}", finding.model_dump_json(), attempt)


def service(
    slack: SlackServer, dead_letters: FakeDeadLetters | None = None
) -> tuple[DeliveryService, SQLiteAuditLog]:
    audit = SQLiteAuditLog()
    alerts = notifier(slack, Sleeps(), slack_max_retries=0)
    return (
        DeliveryService(alerts, audit, dead_letters=dead_letters, max_attempts=3),
        audit,
    )


def records(audit: SQLiteAuditLog) -> list[AuditRecord]:
    return list(audit.read(*EVER))


def test_a_batch_is_delivered_oldest_event_first_and_each_outcome_audited(
    slack: SlackServer,
) -> None:
    delivery, audit = service(slack)
    first = SAMPLES["iam-user-created"]
    later = SAMPLES["root-account-used"].model_copy(
        update={"event_time": first.event_time + timedelta(minutes=5)}
    )
    assert delivery.deliver_queued([queued(later), queued(first)]) == []
    assert [finding_id_in(m) for m in slack.top_level()] == [first.finding_id, later.finding_id]
    attempted = [r for r in records(audit) if r.kind is AuditKind.DELIVERY_ATTEMPTED]
    assert {(r.finding_id, r.data["outcome"], r.data["attempt"]) for r in attempted} == {
        (first.finding_id, "posted", 1),
        (later.finding_id, "posted", 1),
    }


def test_a_transient_failure_is_retried_until_the_last_attempt_then_dead_lettered(
    slack: SlackServer,
) -> None:
    parked = FakeDeadLetters()
    delivery, audit = service(slack, parked)
    finding = SAMPLES["iam-user-created"]
    for attempt in (1, 2):
        slack.server_error_next(1, status=503)
        assert delivery.deliver_queued([queued(finding, attempt)]) == [f"m-{finding.finding_id}"]
        assert parked.parked == []
    slack.server_error_next(1, status=503)
    assert delivery.deliver_queued([queued(finding, 3)]) == []
    ((body, reason, finding_id),) = parked.parked
    assert finding_id == finding.finding_id and "http 503" in reason
    assert Finding.model_validate_json(body) == finding
    failed = [r for r in records(audit) if r.kind is AuditKind.DELIVERY_FAILED]
    assert [(r.data["attempt"], r.data["will_retry"], r.data["dead_lettered"]) for r in failed] == [
        (1, True, False),
        (2, True, False),
        (3, False, True),
    ]
    assert all(r.data["outcome"] == "failed" and r.data["reason"] for r in failed)


def test_a_permanent_failure_is_dead_lettered_at_once_with_slacks_reason(
    slack: SlackServer,
) -> None:
    """A message Slack will never take (a channel or token error, which people fix in
    minutes, is retried first: tests/integration/test_notifier_recovers.py)."""
    parked = FakeDeadLetters()
    delivery, audit = service(slack, parked)
    slack.fail_channel("#alerts", "invalid_arguments")
    finding = SAMPLES["access-key-created"]
    assert delivery.deliver_queued([queued(finding)]) == []
    assert [(reason, fid) for _, reason, fid in parked.parked] == [
        ("invalid_arguments", finding.finding_id)
    ]
    (failed,) = records(audit)
    assert (failed.kind, failed.data["dead_lettered"], failed.data["retryable"]) == (
        AuditKind.DELIVERY_FAILED,
        True,
        False,
    )


def test_without_a_dead_letter_queue_a_failure_returns_to_the_queue(slack: SlackServer) -> None:
    delivery, audit = service(slack)
    slack.fail_channel("#alerts", "channel_not_found")
    finding = SAMPLES["access-key-created"]
    assert delivery.deliver_queued([queued(finding)]) == [f"m-{finding.finding_id}"]
    (failed,) = records(audit)
    assert (failed.data["will_retry"], failed.data["dead_lettered"]) == (True, False)


def test_an_unreadable_message_is_dead_lettered_and_audited(slack: SlackServer) -> None:
    parked = FakeDeadLetters()
    delivery, audit = service(slack, parked)
    good = SAMPLES["iam-user-created"]
    junk = QueuedAlert("m-junk", '{"not": "a finding"}')
    assert delivery.deliver_queued([junk, queued(good)]) == []
    ((body, reason, finding_id),) = parked.parked
    assert (body, finding_id) == ('{"not": "a finding"}', None)
    assert reason.startswith("unreadable alert message")
    kinds = sorted((r.kind.value, r.data.get("message_id")) for r in records(audit))
    assert kinds == [("delivery-attempted", None), ("delivery-failed", "m-junk")]
    assert len(slack.top_level()) == 1


def test_the_cli_sink_delivers_in_batches_and_audits_each(slack: SlackServer) -> None:
    delivery, audit = service(slack)
    sink = BufferedDelivery(delivery, batch_size=2)
    findings = [SAMPLES[name] for name in ("iam-user-created", "root-account-used")]
    sink.publish(findings[:1])
    assert slack.requests == []
    sink.publish(findings[1:])
    assert len(slack.top_level()) == 2
    sink.flush()
    assert [r.outcome.value for r in sink.summary.results] == ["posted", "posted"]
    assert len(records(audit)) == 2


# Suppression decided by the detection service, seen from Slack ----------------------------


def test_a_suppressed_finding_never_reaches_slack(slack: SlackServer) -> None:
    finding = finding_of("access-key-created")
    audit = SQLiteAuditLog()
    sink = BufferedDelivery(DeliveryService(notifier(slack, Sleeps()), audit))
    detection = DetectionService(
        new_engine(),
        audit,
        sink=sink,
        suppressions=[rule(target=finding.target)],
        clock=lambda: NOW,
    )
    detection.process(record_of("access-key-created"))
    assert slack.requests == []
    posted = detection.process(record_of("root-account-used")).raised
    sink.flush()
    assert [r.outcome for r in sink.summary.results] == [Outcome.POSTED] * len(posted)
    assert len(slack.top_level()) == len(posted)


def test_an_expired_rule_stops_suppressing_and_says_so(
    slack: SlackServer, caplog: pytest.LogCaptureFixture
) -> None:
    expired = rule(actor=finding_of("access-key-created").actor_name, expires="2024-05-13")
    audit = SQLiteAuditLog()
    sink = BufferedDelivery(DeliveryService(notifier(slack, Sleeps()), audit))
    detection = DetectionService(
        new_engine(), audit, sink=sink, suppressions=[expired], clock=lambda: NOW
    )
    with caplog.at_level(logging.WARNING, logger="iamwatch.detection"):
        outcome = detection.process(record_of("access-key-created"))
    sink.flush()
    assert outcome.suppressed == [] and len(outcome.raised) == 1
    assert [r.owner for r in outcome.expired_rules] == ["secops"]
    assert "suppression rule expired, delivering" in caplog.text
    (result,) = sink.summary.results
    assert result.outcome is Outcome.POSTED
    assert len(slack.top_level()) == 1
