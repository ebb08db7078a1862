"""Every detector against its positive and near-miss fixtures in tests/events/<detector-id>/.

Each fixture lists every finding all detectors must raise over its records, so a case also
fails when an unrelated detector fires on it.
"""

from __future__ import annotations

import pytest

from iamwatch.finding import Finding, finding_id_for
from iamwatch.principal import PrincipalKind
from tests.conftest import Case, detector_cases, new_engine, run_records

CASES = detector_cases()


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case_raises_exactly_the_expected_findings(case: Case) -> None:
    findings = run_records(case.records)
    raised = {(f.detector, f.severity.value, f.event_id) for f in findings}
    assert raised == case.expected_set(), case.description
    assert len(findings) == len(raised), "a detector raised the same finding twice"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_findings_are_complete_and_stable(case: Case) -> None:
    first = run_records(case.records)
    again = run_records(case.records)
    assert [f.finding_id for f in first] == [f.finding_id for f in again]
    for finding in first:
        # A sequence's id comes from its first event, whichever event completed it.
        identity = finding.links[0].event_id if finding.links else finding.event_id
        assert finding.finding_id == finding_id_for(finding.detector, identity)
        assert finding.summary.endswith(".") and len(finding.summary) > 30
        assert finding.actor and finding.actor_name
        assert finding.actor_kind is not PrincipalKind.UNKNOWN
        assert finding.account and finding.region
        assert finding.runbook_url.endswith(f"/{finding.detector}.md")
        assert finding.dedup_key.startswith(finding.detector)
        assert finding.next_step


def _only(findings: list[Finding], detector: str) -> Finding:
    matching = [f for f in findings if f.detector == detector]
    assert len(matching) == 1, matching
    return matching[0]


@pytest.mark.parametrize(
    ("mfa_used", "fires"),
    [("No", True), ("NO", True), ("no", True), (" no ", True), ("Yes", False), ("YES", False)],
)
def test_mfa_used_is_compared_case_insensitively(mfa_used: str, fires: bool) -> None:
    case = next(c for c in CASES if c.id.startswith("console-login-without-mfa/positive"))
    record = {**case.records[0], "additionalEventData": {"MFAUsed": mfa_used}}
    findings = [f for f in run_records([record]) if f.detector == "console-login-without-mfa"]
    assert bool(findings) is fires


def test_replaying_failed_logins_does_not_double_count() -> None:
    case = next(c for c in CASES if c.id.startswith("console-login-failures/positive") and c.expect)
    engine = new_engine()
    first = run_records(case.records, engine)
    replayed = run_records(case.records, engine)
    assert {f.finding_id for f in first} == {f.finding_id for f in replayed}


def test_login_failure_threshold_is_a_setting() -> None:
    case = next(c for c in CASES if c.id.startswith("console-login-failures/positive") and c.expect)
    failures = [r for r in case.records if r.get("responseElements", {}).get("ConsoleLogin")]
    lower = run_records(failures[:2], new_engine(login_failure_threshold=2))
    assert [f.event_id for f in lower] == [failures[1]["eventID"]]
    higher = run_records(failures, new_engine(login_failure_threshold=len(failures) + 1))
    assert higher == []


def test_finding_summary_names_principal_kind_and_recommendation() -> None:
    case = next(c for c in CASES if c.id.startswith("iam-user-created/positive"))
    finding = _only(run_records(case.records), "iam-user-created")
    assert finding.actor_kind.label in finding.summary
    assert finding.recommendation is not None and "Identity Center" in finding.recommendation
