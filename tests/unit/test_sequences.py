"""Sequence detectors: whatever order their events arrive in, and however often, each sequence
is one finding with one id, reported the same way."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta
from typing import Any, cast

import orjson
import pytest

from detectors import REGISTRY
from detectors._sequence import OPENINGS_LOOKED_AT
from iamwatch.engine import Engine
from iamwatch.events import parse_timestamp
from iamwatch.finding import Finding, finding_id_for
from iamwatch.registry import DetectionContext
from iamwatch.state import SQLiteStateStore, StateStore
from tests.conftest import Case, detector_cases, new_engine, run_records

SEQUENCES = ("iam-user-backdoor-sequence", "console-takeover-sequence", "mfa-removed-then-sign-in")
CASES = [case for case in detector_cases() if case.path.parent.name in SEQUENCES]
POSITIVES = [case for case in CASES if case.path.stem.startswith("positive_")]


def sequence_findings(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.detector in SEQUENCES]


def shape(finding: Finding) -> tuple[Any, ...]:
    """Everything a reader sees of a finding (the raise order aside)."""
    return (
        finding.finding_id,
        finding.severity,
        finding.event_id,
        finding.event_time,
        finding.actor,
        finding.summary,
        finding.target,
        tuple(finding.details.items()),
        finding.links,
    )


@pytest.mark.parametrize("case", POSITIVES, ids=[case.id for case in POSITIVES])
def test_every_arrival_order_raises_the_same_single_finding(case: Case) -> None:
    shapes = set()
    for order in itertools.permutations(case.records):
        (finding,) = sequence_findings(run_records(list(order)))
        shapes.add(shape(finding))
    assert len(shapes) == 1, case.description
    (seen,) = shapes
    (expected,) = [e for e in case.expect if e["detector"] == case.path.parent.name]
    assert seen[2] == expected["event_id"]


@pytest.mark.parametrize("case", POSITIVES, ids=[case.id for case in POSITIVES])
def test_sequence_links_its_events_and_their_findings(case: Case) -> None:
    (finding,) = sequence_findings(run_records(case.records))
    single = {f.finding_id for f in run_records(case.records) if f.detector not in SEQUENCES}
    times = [link.event_time for link in finding.links]
    assert times[1:] == sorted(times[1:]) and times[0] == min(times)
    assert finding.finding_id == finding_id_for(finding.detector, finding.links[0].event_id)
    assert finding.event_id == finding.links[-1].event_id, "reported on its last event"
    assert {link.event_id for link in finding.links} <= {r["eventID"] for r in case.records}
    for link in finding.links:
        if link.finding_id is not None:
            assert link.finding_id in single, "a link points to a finding that was raised"
            assert link.finding_id == finding_id_for(link.detector or "", link.event_id)
    assert finding.target and finding.target in finding.summary
    assert finding.dedup_key.startswith(f"{finding.detector}:")


@pytest.mark.parametrize("case", POSITIVES, ids=[case.id for case in POSITIVES])
def test_replays_on_the_same_state_raise_the_same_finding_once_per_pass(case: Case) -> None:
    engine = new_engine()
    first = sequence_findings(run_records(case.records, engine))
    again = sequence_findings(run_records(case.records, engine))
    backwards = sequence_findings(run_records(list(reversed(case.records)), engine))
    assert len(first) == 1 and len(again) == 1
    assert shape(again[0]) == shape(first[0])
    # The event that completed it first holds it; the others never raise it again.
    assert [shape(f) for f in backwards] == [shape(first[0])]


def test_interleaved_sequences_of_many_users_in_any_order() -> None:
    records = [record for case in CASES for record in case.records]
    expected = {
        finding.finding_id
        for case in CASES
        for finding in sequence_findings(run_records(case.records))
    }
    assert len(expected) == len(POSITIVES)
    rng = random.Random(13)
    for _ in range(5):
        shuffled = records[:]
        rng.shuffle(shuffled)
        found = sequence_findings(run_records(shuffled))
        assert sorted(f.finding_id for f in found) == sorted(expected)


def test_the_backdoor_window_is_a_setting() -> None:
    (case,) = [c for c in POSITIVES if "hours_later" in c.id]
    assert sequence_findings(run_records(case.records, new_engine()))
    narrow = new_engine(backdoor_window=timedelta(hours=2))
    assert sequence_findings(run_records(case.records, narrow)) == []


def test_a_note_this_version_cannot_read_is_skipped() -> None:
    (case,) = [c for c in POSITIVES if "in_order" in c.id and "backdoor" in c.id]
    engine = new_engine()
    user = case.records[0]["requestParameters"]["userName"]
    subject = f"iam-user-backdoor-sequence:{case.records[0]['recipientAccountId']}:{user}"
    at = parse_timestamp(case.records[0]["eventTime"])
    for role in ("created", "credential", "admin"):
        key = f"{subject}:{role}"  # where each role's steps are noted
        engine.context.state.note(key, f"{role}-1", at, "not json", timedelta(hours=30))
        engine.context.state.note(key, f"{role}-2", at, '{"role": 3}', timedelta(hours=30))
        engine.context.state.note(
            key,
            f"{role}-3",
            at,
            orjson.dumps({"role": role, "event": {}}).decode(),
            timedelta(hours=1),
        )
        other = "admin" if role == "created" else "created"
        engine.context.state.note(
            key, f"{role}-4", at, orjson.dumps({"role": other}).decode(), timedelta(1)
        )
    assert len(sequence_findings(run_records(case.records, engine))) == 1


class CountingStore:
    """The state store, counting the notes each look-up returns."""

    def __init__(self) -> None:
        self.store = SQLiteStateStore()
        self.notes_read = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def notes(self, key: str, start: datetime, end: datetime, *args: Any) -> Any:
        found = self.store.notes(key, start, end, *args)
        self.notes_read += len(found)
        return found


@pytest.mark.parametrize("case", POSITIVES, ids=[case.id for case in POSITIVES])
def test_a_busy_subject_costs_a_few_reads_per_event(case: Case) -> None:
    """Each of a sequence's events repeated hundreds of times on the same user within the
    window (someone signing in all day, an attacker replaying a call to slow the monitor):
    each event reads a few notes, not everything noted about the user so far."""
    start = min(parse_timestamp(record["eventTime"]) for record in case.records)
    busy = [
        {**record, "eventID": f"{record['eventID']}-{n}", "eventTime": _iso(start, n)}
        for n in range(300)
        for record in case.records
    ]
    store = CountingStore()
    engine = Engine(REGISTRY, DetectionContext(state=cast(StateStore, store)))
    found = sequence_findings(run_records(busy, engine))
    assert found, "the sequence is still found"
    # At most the latest openings and one note per role for each, where reading everything
    # noted about the user would be hundreds per event.
    per_event = OPENINGS_LOOKED_AT * (1 + len(case.records))
    assert store.notes_read <= per_event * len(busy)


def _iso(start: datetime, seconds: int) -> str:
    return (start + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
