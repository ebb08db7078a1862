"""The real-time path end to end: detect handler -> SQS alert queue -> notifier handler ->
a Slack API server on loopback, with the token read from an SSM SecureString on moto.
Duplicates alert once; a Slack outage loses nothing; permanent failures are dead-lettered
with their reason."""

from __future__ import annotations

import gzip
from typing import Any

import orjson
import pytest

from handlers import events, notifier
from iamwatch.composition import build_engine
from iamwatch.delivery import FIXABLE_ATTEMPTS
from iamwatch.settings import load_settings
from tests.aws import (
    Deployed,
    LambdaContext,
    dead_letters,
    deploy,
    eventbridge_event,
    route_through_eventbridge,
    sqs_batches,
    use_slack,
)
from tests.conftest import EXAMPLES_DIR, detector_cases, new_engine, run_records
from tests.slack_server import (
    SlackServer,
    button_urls,
    live_tokens,
    message_texts,
    payload_problems,
)

POSITIVE = [c for c in detector_cases() if c.path.stem.startswith("positive_") and c.expect]
SINGLE = [c for c in POSITIVE if len(c.records) == 1]
RUNBOOKS = "https://runbooks.example.com/iamwatch"


@pytest.fixture
def deployed(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, slack: SlackServer) -> Deployed:
    deployed = deploy(moto_endpoint, monkeypatch)
    use_slack(deployed, monkeypatch, slack.api_url, SlackServer.TOKEN)
    monkeypatch.setenv("IAMWATCH_RUNBOOK_BASE_URL", RUNBOOKS)
    return deployed


def expected_findings(cases: list[Any]) -> set[tuple[str, str]]:
    """What the detectors raise on the cases under the deployed settings. The fixtures expect
    the default Slack token parameter, while each deployment here keeps its token in a
    parameter of its own, which is the one iamwatch-tampering then watches."""
    expected = set()
    for case in cases:
        engine = build_engine(load_settings())
        expected |= {(f.detector, f.event_id) for f in run_records(case.records, engine)}
    return expected


def detect(cases: list[Any]) -> int:
    for case in cases:
        for record in case.records:
            events.handler(eventbridge_event(record), LambdaContext())
    return len(expected_findings(cases))


def notify(deployed: Deployed, max_rounds: int = 20) -> int:
    return sqs_batches(deployed, deployed.alert_queue_url, notifier.handler, max_rounds)


def test_every_finding_becomes_one_valid_slack_message(
    deployed: Deployed, slack: SlackServer
) -> None:
    expected = detect(SINGLE)
    notify(deployed)
    messages = slack.top_level("#security-alerts")
    assert len(messages) == expected
    for message in messages:
        assert payload_problems(message.body) == []
        urls = button_urls(message.body)
        assert any(url.startswith(f"{RUNBOOKS}/") and url.endswith(".md") for url in urls)
        assert all(live_tokens(text) == [] for text, _ in message_texts(message.body))
    assert "delivery-attempted" in deployed.audit_kinds()


def test_the_same_event_three_times_posts_one_alert(deployed: Deployed, slack: SlackServer) -> None:
    record = SINGLE[0].records[0]
    for _ in range(3):
        events.handler(eventbridge_event(record), LambdaContext())
    notify(deployed)
    assert len(slack.top_level()) == len(SINGLE[0].expect)


def test_a_redelivered_alert_message_posts_once(deployed: Deployed, slack: SlackServer) -> None:
    detect(SINGLE[:1])
    sqs = deployed.client("sqs")
    body = sqs.receive_message(QueueUrl=deployed.alert_queue_url)["Messages"][0]["Body"]
    for _ in range(2):  # SQS is at-least-once: the same message twice
        sqs.send_message(QueueUrl=deployed.alert_queue_url, MessageBody=body)
    notify(deployed)
    assert len(slack.top_level()) == 1


def test_a_slack_outage_loses_nothing(
    deployed: Deployed, slack: SlackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Leave every retry to SQS, so the outage spans several deliveries of each message.
    monkeypatch.setenv("IAMWATCH_SLACK_MAX_RETRIES", "0")
    expected = detect(SINGLE[:6])
    slack.server_error_next(40, status=503)
    rounds_during_outage = notify(deployed, max_rounds=3)
    assert rounds_during_outage == 3, "the outage kept messages in the queue"
    delivered_during_outage = len(slack.top_level())
    assert delivered_during_outage < expected
    while slack.pending_faults:  # the outage ends
        slack._take_fault()
    notify(deployed)
    assert len(slack.top_level()) == expected
    assert dead_letters(deployed) == []


def test_permanent_failures_are_dead_lettered_with_their_reason(
    deployed: Deployed, slack: SlackServer
) -> None:
    expected = detect(SINGLE[:2])
    slack.fail_channel("#security-alerts", "channel_not_found")
    notify(deployed)
    parked = dead_letters(deployed)
    assert len(parked) == expected
    for message in parked:
        assert message["MessageAttributes"]["reason"]["StringValue"].startswith("channel_not_found")
        assert orjson.loads(message["Body"])["finding_id"]
    assert slack.top_level() == []
    # A channel error is retried on the first receives (someone may fix it), then parked.
    assert deployed.audit_kinds().count("delivery-failed") == expected * FIXABLE_ATTEMPTS


@pytest.mark.packaged
def test_eventbridge_rule_to_slack_end_to_end(
    deployed: Deployed, slack: SlackServer, moto_endpoint: str
) -> None:
    """CloudTrail events (findings and noise) through the packaged rule, the detect handler,
    the alert queue and the notifier: one Slack alert per finding, nothing for the noise."""
    records = [r for case in detector_cases() for r in case.records]
    noise = example_noise()
    delivered = route_through_eventbridge(moto_endpoint, records + noise)
    routed = {event["detail"]["eventID"] for event in delivered}
    assert not routed & {r["eventID"] for r in noise if not new_engine().wants(r)}
    for event in sorted(delivered, key=lambda e: e["detail"]["eventTime"]):
        events.handler(event, LambdaContext())
    notify(deployed, max_rounds=40)
    expected = expected_findings(detector_cases())
    # Repeats of an alert within the dedup window arrive as thread replies, not new alerts;
    # a sequence alert's thread also holds one reply naming the alerts it links.
    posted = slack.top_level()
    replies = [m for m in slack.messages if m.thread_ts is not None]
    linked = [m for m in replies if m.text.startswith("Linked alerts:")]
    repeats = [m for m in replies if m not in linked]
    assert len(posted) + len(repeats) == len(expected)
    assert len(repeats) < 5
    sequence_detectors = {"iam-user-backdoor-sequence", "console-takeover-sequence",
                          "mfa-removed-then-sign-in"}  # fmt: skip
    sequences = {finding for finding in expected if finding[0] in sequence_detectors}
    assert len(linked) == len(sequences) == 7
    assert all(payload_problems(m.body) == [] for m in slack.messages)


def example_noise() -> list[dict[str, Any]]:
    fixture_ids = {r["eventID"] for c in detector_cases() for r in c.records}
    noise = []
    for path in sorted((EXAMPLES_DIR / "AWSLogs").rglob("*.json.gz"))[:40]:
        for record in orjson.loads(gzip.decompress(path.read_bytes()))["Records"]:
            if record["eventID"] not in fixture_ids:
                noise.append(record)
    return noise


def test_a_dead_lettered_alert_exports_with_its_failure(
    deployed: Deployed, slack: SlackServer
) -> None:
    """Through the notifier and the export, as an auditor would see it: the finding is
    reported as failed, with Slack's reason, never as not sent."""
    from datetime import UTC, datetime

    from iamwatch.aws.audit import DynamoDBAuditLog
    from iamwatch.export import collect

    detect(SINGLE[:3])
    slack.fail_channel("#security-alerts", "is_archived")
    notify(deployed)
    parked = {orjson.loads(m["Body"])["finding_id"] for m in dead_letters(deployed)}
    assert parked
    audit = DynamoDBAuditLog(deployed.client("dynamodb"), deployed.env["IAMWATCH_AUDIT_TABLE"])
    now = datetime.now(UTC)
    exported = {row.finding.finding_id: row for row in collect(audit, now.replace(hour=0), now)}
    assert parked <= set(exported)
    for finding_id in parked:
        row = exported[finding_id]
        assert row.delivery_status == "failed"
        assert row.delivery_reason and row.delivery_reason.startswith("is_archived")
        assert row.delivery_channel == "#security-alerts" and row.delivery_at is not None
    failed = [r for r in audit.for_finding(next(iter(parked))) if r.kind.value == "delivery-failed"]
    assert [(r.data["dead_lettered"], r.data["will_retry"]) for r in failed] == [
        *[(False, True)] * (FIXABLE_ATTEMPTS - 1),
        (True, False),
    ]
