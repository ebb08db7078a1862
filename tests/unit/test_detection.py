"""The detection service, the one path every entry point runs records through: what is raised,
suppressed, enriched, published and audited, through its ports (fakes here; the real sinks
and stores are tested against loopback servers elsewhere)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from detectors import REGISTRY
from iamwatch.audit import AuditKind, SQLiteAuditLog
from iamwatch.composition import build_detection
from iamwatch.detection import DetectionService, LocatedRecord, UnreadableSource
from iamwatch.engine import parse_record
from iamwatch.finding import Finding
from iamwatch.settings import SettingsError, load_settings
from iamwatch.severity import Severity
from iamwatch.slack.suppress import SuppressionRule
from iamwatch.sources import Problem, Source, expand
from tests.conftest import Case, detector_cases, new_engine, run_records

pytestmark = pytest.mark.usefixtures("no_ambient_settings")

SINGLE = [
    c
    for c in detector_cases()
    if c.path.stem.startswith("positive_") and c.expect and len(c.records) == 1
]
NOW = datetime(2024, 5, 14, 12, tzinfo=UTC)


class FakeSink:
    def __init__(self) -> None:
        self.batches: list[list[Finding]] = []

    def publish(self, findings: Sequence[Finding]) -> None:
        self.batches.append(list(findings))

    @property
    def published(self) -> list[Finding]:
        return [finding for batch in self.batches for finding in batch]


class FakeEnricher:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def enrich(self, finding: Finding) -> Finding:
        self.asked.append(finding.finding_id)
        return finding.model_copy(update={"enrichment": {"owner": "platform-team"}})


def case_of(detector_id: str) -> Case:
    return next(c for c in SINGLE if c.path.parent.name == detector_id)


def record_of(detector_id: str) -> Any:
    return parse_record(case_of(detector_id).records[0])


def finding_of(detector_id: str) -> Finding:
    (finding,) = [f for f in run_records(case_of(detector_id).records) if f.detector == detector_id]
    return finding


def rule(**fields: Any) -> SuppressionRule:
    return SuppressionRule.model_validate(
        {"owner": "secops", "reason": "terraform CI user", "expires": "2024-06-30", **fields}
    )


def service(**options: Any) -> tuple[DetectionService, FakeSink, SQLiteAuditLog]:
    sink, audit = FakeSink(), SQLiteAuditLog()
    options.setdefault("clock", lambda: NOW)
    return DetectionService(new_engine(), audit, sink=sink, **options), sink, audit


def audited(audit: SQLiteAuditLog) -> list[Any]:
    return list(audit.read(datetime.min.replace(tzinfo=UTC), datetime.now(UTC) + timedelta(1)))


@pytest.mark.parametrize("case", SINGLE[::3], ids=[c.id for c in SINGLE[::3]])
def test_a_finding_is_published_once_and_audited_whole(case: Case) -> None:
    detection, sink, audit = service()
    outcome = detection.process(parse_record(case.records[0]), "file: record 1")
    assert {(f.detector, f.severity.value, f.event_id) for f in outcome.raised} == (
        case.expected_set()
    )
    assert sink.published == outcome.raised
    raised = [r for r in audited(audit) if r.kind is AuditKind.FINDING_RAISED]
    assert sorted(r.finding_id for r in raised) == sorted(f.finding_id for f in outcome.raised)
    assert all(Finding.model_validate(r.data["finding"]) in outcome.raised for r in raised)
    assert detection.stats.total_findings == len(outcome.raised)


# Suppression: the same everywhere --------------------------------------------------------


def matchers() -> list[dict[str, str]]:
    finding = finding_of("access-key-created")
    assert finding.account and finding.target
    return [
        {"actor": finding.actor.rsplit("/", 1)[0] + "/*"},
        {"actor": finding.actor_name},
        {"account": finding.account, "detector": "access-key-*"},
        {"target": finding.target},
    ]


@pytest.mark.parametrize(
    "fields", matchers(), ids=["actor-glob", "actor-name", "account", "target"]
)
def test_a_live_rule_suppresses_and_the_finding_is_audited_as_suppressed(
    fields: dict[str, str],
) -> None:
    detection, sink, audit = service(suppressions=[rule(**fields)])
    outcome = detection.process(record_of("access-key-created"))
    assert outcome.raised == [] and sink.published == []
    (suppressed,) = outcome.suppressed
    assert suppressed.rule.owner == "secops"
    (record,) = audited(audit)
    assert record.kind is AuditKind.FINDING_SUPPRESSED
    assert record.data["outcome"] == "suppressed"
    assert record.data["reason"] == suppressed.rule.describe()
    assert record.data["rule"]["owner"] == "secops"
    assert Finding.model_validate(record.data["finding"]) == suppressed.finding
    assert detection.stats.total_suppressed == 1 and detection.stats.total_findings == 0
    # Other activity still alerts.
    other = detection.process(record_of("root-account-used"))
    assert other.raised and sink.published == other.raised


def test_a_rule_suppresses_through_its_expiry_day() -> None:
    today = rule(detector="*", expires="2024-05-14")
    assert not today.expired(date(2024, 5, 14)) and today.expired(date(2024, 5, 15))
    for moment, muted in ((NOW, True), (NOW + timedelta(days=1), False)):
        detection, _, _ = service(suppressions=[today], clock=lambda at=moment: at)
        outcome = detection.process(record_of("iam-user-created"))
        assert bool(outcome.suppressed) is muted


def test_rules_must_match_something_and_name_a_real_detector() -> None:
    with pytest.raises(SettingsError, match=r"IAMWATCH_SUPPRESSIONS: rule 1: a rule must set"):
        load_settings(suppressions=[{"owner": "o", "reason": "r", "expires": "2024-01-01"}])
    with pytest.raises(SettingsError, match=r"IAMWATCH_SUPPRESSIONS: rule 1, owner: "):
        load_settings(suppressions=[{"actor": "x", "reason": "r", "expires": "2024-01-01"}])
    typo = {"detector": "iam-user-creatd", "owner": "o", "reason": "r", "expires": "2024-06-30"}
    settings = load_settings(suppressions=[typo])
    with pytest.raises(SettingsError, match=r"rule 1, detector: 'iam-user-creatd' matches no"):
        build_detection(settings, SQLiteAuditLog())


# Enrichment, thresholds, failures ----------------------------------------------------------


def test_only_live_findings_are_enriched() -> None:
    enricher = FakeEnricher()
    muted = finding_of("access-key-created")
    detection, sink, audit = service(enricher=enricher, suppressions=[rule(target=muted.target)])
    detection.process(record_of("access-key-created"))
    live = detection.process(record_of("iam-user-created")).raised
    assert enricher.asked == [f.finding_id for f in live]
    assert all(f.enrichment == {"owner": "platform-team"} for f in sink.published)
    raised = [r for r in audited(audit) if r.kind is AuditKind.FINDING_RAISED]
    assert all(r.data["finding"]["enrichment"] == {"owner": "platform-team"} for r in raised)


def test_findings_below_the_minimum_severity_are_counted_not_raised() -> None:
    detection, sink, audit = service(min_severity=Severity.CRITICAL)
    outcome = detection.process(record_of("iam-user-created"))
    assert outcome.raised == [] and sink.published == [] and audited(audit) == []
    assert detection.stats.below_min_severity == 1


def test_a_failing_detector_is_audited_with_its_place_and_the_others_still_publish() -> None:
    from iamwatch.registry import Registry, detector

    def broken(record: Any, context: Any) -> Any:
        raise RuntimeError("bug in a detector")

    meta = replace(REGISTRY.get("iam-user-created").meta, id="broken-detector")
    engine = new_engine()
    engine.registry = Registry([detector(meta)(broken), *REGISTRY])
    sink, audit = FakeSink(), SQLiteAuditLog()
    detection = DetectionService(engine, audit, sink=sink)
    outcome = detection.process(record_of("iam-user-created"), "trail.json: record 4")
    assert [f.detector for f in outcome.failures] == ["broken-detector"]
    assert [f.detector for f in sink.published] == ["iam-user-created"]
    (failed,) = [r for r in audited(audit) if r.kind is AuditKind.DETECTOR_FAILED]
    assert failed.detector == "broken-detector"
    assert failed.data == {
        "location": "trail.json: record 4",
        "error": "RuntimeError: bug in a detector",
    }


def test_the_reader_audits_malformed_records_with_their_place(tmp_path: Path) -> None:
    good = case_of("iam-user-created").records[0]
    path = tmp_path / "records.jsonl"
    path.write_bytes(
        orjson.dumps(good) + b"\n{not json\n" + orjson.dumps({**good, "eventTime": "not a time"})
    )
    detection, _, audit = service()
    items = list(detection.records(expand([str(path)])))
    assert [type(item) for item in items] == [LocatedRecord, Problem, Problem]
    malformed = [r for r in audited(audit) if r.kind is AuditKind.MALFORMED_EVENT]
    assert sorted(r.data["location"] for r in malformed) == [f"{path}: line 2", f"{path}: line 3"]
    assert all(r.data["reason"] for r in malformed)
    assert (detection.stats.records, detection.stats.malformed) == (2, 2)


def test_an_unreadable_source_is_retried_or_reported(tmp_path: Path) -> None:
    missing = Source(name=str(tmp_path / "gone.json"), size=None, kind="file")
    detection, _, audit = service()
    with pytest.raises(UnreadableSource, match=r"gone\.json"):
        list(detection.records([missing], retry_unreadable=True))
    assert audited(audit) == []
    (problem,) = detection.records([missing])
    assert isinstance(problem, Problem) and problem.transient
    assert [r.kind for r in audited(audit)] == [AuditKind.MALFORMED_EVENT]
