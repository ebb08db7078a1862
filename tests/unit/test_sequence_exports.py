"""A sequence finding in every export: OCSF names the events it links as related events (each
iamwatch finding by its id), ASFF as related findings; both validate, CSV carries them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import orjson
import pytest

from iamwatch.export import ExportedFinding, ExportFormat, render
from iamwatch.export.asff import checked
from iamwatch.export.ocsf import to_ocsf, validate
from iamwatch.finding import Finding
from tests.conftest import detector_cases, run_records

SEQUENCES = ("iam-user-backdoor-sequence", "console-takeover-sequence", "mfa-removed-then-sign-in")
RAISED = datetime(2026, 11, 6, 12, 0, tzinfo=UTC)
FINDINGS = [
    finding
    for case in detector_cases()
    if case.path.parent.name in SEQUENCES and case.path.stem.startswith("positive_")
    for finding in run_records(case.records)
    if finding.detector in SEQUENCES
]


@pytest.mark.parametrize("finding", FINDINGS, ids=lambda f: f"{f.detector}:{f.event_id[:8]}")
def test_ocsf_related_events_and_span(finding: Finding) -> None:
    event = to_ocsf(ExportedFinding(finding, RAISED))
    validate(event)
    info = event["finding_info"]
    related = info["related_events"]
    assert len(related) == len(finding.links)
    for item, link in zip(related, finding.links, strict=True):
        assert item["uid"] == (link.finding_id or link.event_id)
        assert item["type"] == ("iamwatch finding" if link.finding_id else "CloudTrail event")
        if link.finding_id:
            assert item["product_uid"] == link.event_id
    times = [int(link.event_time.timestamp() * 1000) for link in finding.links]
    assert (info["first_seen_time"], info["last_seen_time"]) == (min(times), max(times))


@pytest.mark.parametrize("finding", FINDINGS, ids=lambda f: f"{f.detector}:{f.event_id[:8]}")
def test_asff_related_findings(finding: Finding) -> None:
    asff = checked(ExportedFinding(finding, RAISED))
    linked = [link.finding_id for link in finding.links if link.finding_id]
    assert [r["Id"] for r in asff["RelatedFindings"]] == linked
    assert {r["ProductArn"] for r in asff["RelatedFindings"]} == {asff["ProductArn"]}
    assert asff["FirstObservedAt"] <= asff["LastObservedAt"]


def test_csv_and_jsonl_carry_the_links() -> None:
    rows = [ExportedFinding(finding, RAISED) for finding in FINDINGS]
    table = list(csv.DictReader(io.StringIO(render(rows, ExportFormat.CSV).decode("utf-8-sig"))))
    for row, finding in zip(table, FINDINGS, strict=True):
        links = orjson.loads(row["links"])
        assert [link["event_id"] for link in links] == [link.event_id for link in finding.links]
    lines = [orjson.loads(line) for line in render(rows, ExportFormat.JSONL).splitlines()]
    assert all(line["links"] for line in lines)


def test_single_event_findings_have_none() -> None:
    case = next(c for c in detector_cases() if c.id.startswith("iam-user-created/positive"))
    (finding,) = run_records(case.records)
    event = to_ocsf(ExportedFinding(finding, RAISED))
    assert "related_events" not in event["finding_info"]
    assert "RelatedFindings" not in checked(ExportedFinding(finding, RAISED))
