"""handlers/events.py invoked as Lambda would, against DynamoDB, SQS and IAM on a moto server."""

from __future__ import annotations

import pytest

from handlers import events
from tests.aws import Deployed, LambdaContext, deploy, eventbridge_event
from tests.conftest import Case, detector_cases

POSITIVE = [c for c in detector_cases() if c.path.stem.startswith("positive_") and c.expect]
SINGLE = [c for c in POSITIVE if len(c.records) == 1]


@pytest.fixture
def deployed(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Deployed:
    return deploy(moto_endpoint, monkeypatch)


@pytest.mark.parametrize("case", SINGLE[::4], ids=[c.id for c in SINGLE[::4]])
def test_a_matching_event_queues_its_findings(case: Case, deployed: Deployed) -> None:
    result = events.handler(eventbridge_event(case.records[0]), LambdaContext())
    assert result["status"] == "processed"
    queued = deployed.alerts()
    assert {(f["detector"], f["severity"], f["event_id"]) for f in queued} == case.expected_set()
    assert sorted(result["queued"]) == sorted(f["finding_id"] for f in queued)
    assert deployed.audit_kinds().count("finding-raised") == len(queued)


def test_the_same_event_three_times_is_processed_once(deployed: Deployed) -> None:
    event = eventbridge_event(SINGLE[0].records[0])
    results = [events.handler(event, LambdaContext()) for _ in range(3)]
    assert results[0] == results[1] == results[2]
    assert len(deployed.alerts()) == len(SINGLE[0].expect)


def test_stateful_detection_spans_invocations(deployed: Deployed) -> None:
    case = next(c for c in POSITIVE if c.id.startswith("console-login-failures/"))
    for record in case.records:
        events.handler(eventbridge_event(record), LambdaContext())
    queued = deployed.alerts()
    assert {(f["detector"], f["event_id"]) for f in queued} == {
        (e["detector"], e["event_id"]) for e in case.expect
    }


def test_a_malformed_event_is_audited_not_retried(deployed: Deployed) -> None:
    event = eventbridge_event(SINGLE[0].records[0])
    event["detail"] = {**event["detail"], "eventTime": "not a time"}
    assert events.handler(event, LambdaContext()) == {"status": "malformed"}
    assert deployed.alerts() == []
    assert deployed.audit_kinds() == ["malformed-event"]


SEQUENCES = [c for c in POSITIVE if c.path.parent.name.endswith("-sequence")] + [
    c for c in POSITIVE if c.path.parent.name == "mfa-removed-then-sign-in"
]


@pytest.mark.parametrize("case", SEQUENCES, ids=[c.id for c in SEQUENCES])
def test_a_sequence_arriving_backwards_in_separate_invocations_is_one_finding(
    case: Case, deployed: Deployed
) -> None:
    """Lambda gets events in any order, one invocation each, state in DynamoDB: the sequence
    is raised once, with the same id and the same event as when the events come in order."""
    for record in reversed(case.records):
        events.handler(eventbridge_event(record), LambdaContext())
    # A retry of every event (a backfill of the same log file, say) raises nothing new.
    for record in case.records:
        events.handler(eventbridge_event(record), LambdaContext())
    queued = deployed.alerts()
    detector = case.path.parent.name
    sequences = [f for f in queued if f["detector"] == detector]
    (expected,) = [e for e in case.expect if e["detector"] == detector]
    assert [(f["severity"], f["event_id"]) for f in sequences] == [
        (expected["severity"], expected["event_id"])
    ]
    assert {(f["detector"], f["severity"], f["event_id"]) for f in queued} == case.expected_set()
