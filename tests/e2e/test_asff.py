"""ASFF export and the Security Hub import: every finding is a valid AwsSecurityFinding (the
botocore model, plus enums and Security Hub's length limits), and `--to-securityhub` imports
them into Security Hub on the moto server, 100 per call, once per finding id."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest

from detectors import REGISTRY
from iamwatch.audit import SQLiteAuditLog, finding_raised
from iamwatch.aws.securityhub import import_findings
from iamwatch.export import ExportedFinding
from iamwatch.export.asff import (
    LABELS,
    MAX_DESCRIPTION,
    MAX_TITLE,
    AsffError,
    finding_type,
    problems,
    product_arn,
    to_asff,
)
from iamwatch.finding import Finding
from iamwatch.inventory.checks import POSTURE
from iamwatch.severity import Severity
from tests.conftest import EXAMPLES_DIR, base_record, detector_cases, run_iamwatch, run_records

WIDE = ("--since", "2000-01-01", "--until", "2100-01-01")
MOTO_ACCOUNT = "123456789012"  # the account moto answers for
NAMESPACES = {
    "Software and Configuration Checks",
    "TTPs",
    "Effects",
    "Unusual Behaviors",
    "Sensitive Data Identifications",
}
POSITIVE = [
    finding
    for case in detector_cases()
    if case.path.stem.startswith("positive_")
    for finding in run_records(case.records)
]


def row(finding: Finding, **delivery: Any) -> ExportedFinding:
    return ExportedFinding(finding, datetime(2026, 11, 20, 12, tzinfo=UTC), **delivery)


def test_every_detector_has_a_finding_type() -> None:
    for item in REGISTRY:
        namespace, category = item.meta.asff_type.split("/")
        assert namespace in NAMESPACES and category
    for finding in POSITIVE:
        meta = REGISTRY.get(finding.detector).meta
        assert finding_type(finding) == f"{meta.asff_type}/{meta.id}"
    assert {finding.detector for finding in POSITIVE} == set(REGISTRY.ids)


def test_a_posture_finding_is_a_configuration_check_classified_by_its_check() -> None:
    """The weekly inventory's findings (a check an identity newly fails) export too: an
    export of a day with an inventory run must not fail on them."""
    finding = POSITIVE[0].model_copy(
        update={"detector": POSTURE, "event_name": "console-without-mfa"}
    )
    asff = to_asff(row(finding))
    assert problems(asff) == []
    assert asff["Types"] == [
        "Software and Configuration Checks/AWS Security Best Practices/console-without-mfa"
    ]


def test_a_detector_that_is_not_registered_has_no_finding_type() -> None:
    """No fallback type: an unregistered detector's finding is refused, not mislabelled."""
    finding = POSITIVE[0].model_copy(update={"detector": "no-such-detector"})
    with pytest.raises(AsffError, match="no detector 'no-such-detector'"):
        to_asff(row(finding))


@pytest.mark.parametrize("finding", POSITIVE, ids=[f"{f.detector}-{f.event_id}" for f in POSITIVE])
def test_every_detector_finding_is_a_valid_asff_finding(finding: Finding) -> None:
    asff = to_asff(row(finding))
    assert problems(asff) == []
    assert asff["Id"] == finding.finding_id
    assert asff["AwsAccountId"] == finding.account
    assert asff["ProductArn"] == product_arn(finding.region or "us-east-1", finding.account or "")
    assert asff["Severity"]["Label"] == LABELS[finding.severity]
    (exported_type,) = asff["Types"]
    assert exported_type == f"{REGISTRY.get(finding.detector).meta.asff_type}/{finding.detector}"
    assert asff["SourceUrl"] == asff["Remediation"]["Recommendation"]["Url"]
    assert asff["SourceUrl"] == finding.runbook_url
    assert asff["FirstObservedAt"].endswith("Z")
    (resource,) = asff["Resources"]
    if finding.target_type == "iam-user" and finding.target:
        assert resource["Type"] == "AwsIamUser"
        assert resource["Details"]["AwsIamUser"]["UserName"] == finding.target
    if finding.target_type in {"root", "account", None}:
        assert resource == {
            "Type": "AwsAccount",
            "Id": f"AWS::::Account:{finding.account}",
            "Partition": "aws",
            "Region": finding.region,
        }
    assert asff["ProductFields"]["iamwatch/event_id"] == finding.event_id
    techniques = REGISTRY.get(finding.detector).meta.attack_techniques
    assert asff["ProductFields"]["iamwatch/attack_techniques"] == ",".join(techniques)


def test_severity_labels_cover_every_severity() -> None:
    assert set(LABELS) == set(Severity)
    assert set(LABELS.values()) == {"INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"}


def test_a_suppressed_finding_is_imported_as_suppressed() -> None:
    asff = to_asff(row(POSITIVE[0], delivery_status="suppressed"))
    assert asff["Workflow"] == {"Status": "SUPPRESSED"}
    assert to_asff(row(POSITIVE[0]))["Workflow"] == {"Status": "NEW"}


def test_updated_at_follows_the_latest_delivery() -> None:
    delivered = datetime(2026, 11, 20, 13, tzinfo=UTC)
    asff = to_asff(row(POSITIVE[0], delivery_status="posted", delivery_at=delivered))
    assert (asff["CreatedAt"], asff["UpdatedAt"]) == (
        "2026-11-20T12:00:00Z",
        "2026-11-20T13:00:00Z",
    )


def test_attacker_sized_strings_are_clipped_to_security_hub_limits() -> None:
    long_name = "u" * 3000
    finding = POSITIVE[0].model_copy(
        update={"title": "T" * 5000, "summary": "S" * 5000, "actor": "a" * 5000}
    )
    asff = to_asff(row(finding))
    assert problems(asff) == []
    assert len(asff["Title"]) == MAX_TITLE
    assert len(asff["Description"]) == MAX_DESCRIPTION
    assert len(asff["ProductFields"]["iamwatch/actor"]) == 2048
    other = finding.model_copy(update={"target": long_name, "target_type": "permission-set"})
    (resource,) = to_asff(row(other))["Resources"]
    assert resource["Type"] == "Other" and len(resource["Id"]) == 512


def test_a_finding_without_an_account_cannot_be_asff() -> None:
    with pytest.raises(AsffError):
        to_asff(row(POSITIVE[0].model_copy(update={"account": None})))


def test_the_asff_check_rejects_a_wrong_finding() -> None:
    asff = to_asff(row(POSITIVE[0]))
    broken = copy.deepcopy(asff)
    broken["Severity"]["Label"] = "SEVERE"
    broken["Surprise"] = "x"
    del broken["Title"]
    found = " ".join(problems(broken))
    assert "SEVERE" in found
    assert "Surprise" in found
    assert "Title" in found


# --- the CLI ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    home = tmp_path_factory.mktemp("asff")
    audit = home / "audit.db"
    result = run_iamwatch(
        "scan", str(EXAMPLES_DIR), "--format", "jsonl", "--audit", str(audit), home=home
    )
    assert result.returncode == 0, result.stderr.decode()
    findings = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert {f["account"] for f in findings} > {MOTO_ACCOUNT}  # several accounts
    return audit, findings


def test_export_format_asff_writes_valid_stable_findings(
    scanned: tuple[Path, list[dict[str, Any]]],
) -> None:
    audit, findings = scanned
    runs = [
        run_iamwatch("export", "--audit", str(audit), *WIDE, "--format", "asff") for _ in range(2)
    ]
    assert all(run.returncode == 0 for run in runs), runs[0].stderr.decode()
    assert runs[0].stdout == runs[1].stdout
    exported = [orjson.loads(line) for line in runs[0].stdout.splitlines()]
    assert {f["Id"] for f in exported} == {f["finding_id"] for f in findings}
    for asff in exported:
        assert problems(asff) == []
        account = asff["AwsAccountId"]
        assert asff["ProductArn"].endswith(f":{account}:product/{account}/default")


def securityhub_ids(ids: set[str]) -> list[str]:
    """The ids of stored Security Hub findings among ``ids`` (moto's hub is shared by tests)."""
    client = boto3.client("securityhub")
    found = []
    for page in client.get_paginator("get_findings").paginate():
        found += [f["Id"] for f in page["Findings"] if f["Id"] in ids]
    return found


def test_to_securityhub_imports_the_callers_findings_once_and_reports_the_rest(
    scanned: tuple[Path, list[dict[str, Any]]], aws_env: dict[str, str]
) -> None:
    audit, findings = scanned
    boto3.client("securityhub").enable_security_hub()
    ours = {f["finding_id"] for f in findings if f["account"] == MOTO_ACCOUNT}
    others = [f for f in findings if f["account"] != MOTO_ACCOUNT]
    for _ in range(2):  # a second import updates the same findings
        result = run_iamwatch("export", "--audit", str(audit), *WIDE, "--to-securityhub")
        stderr = result.stderr.decode()
        assert result.returncode == 5, stderr  # findings about other accounts were not sent
        assert f"Imported {len(ours):,} finding(s) into Security Hub" in stderr
        assert f"{len(others):,} failed" in stderr
        assert f"{others[0]['finding_id']}: about account {others[0]['account']}" in stderr
        assert result.stdout == b""
        assert sorted(securityhub_ids(ours | {f["finding_id"] for f in others})) == sorted(ours)
    stored = boto3.client("securityhub").get_findings(MaxResults=100)["Findings"]
    mine = [f for f in stored if f["Id"] in ours]
    assert mine
    for finding in mine:
        assert finding["ProductArn"] == product_arn("us-east-1", MOTO_ACCOUNT)


def test_to_securityhub_and_output_are_exclusive(
    scanned: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    audit, _ = scanned
    result = run_iamwatch(
        "export", "--audit", str(audit), "--to-securityhub", "--output", str(tmp_path / "x")
    )
    assert result.returncode == 2


def test_findings_go_to_security_hub_one_hundred_per_call(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    findings = []
    for _ in range(250):
        record = base_record()
        record["eventID"] = str(uuid.uuid4())
        record["recipientAccountId"] = MOTO_ACCOUNT
        findings += run_records([record])
    # Through the audit trail, as the CLI reads them.
    log = SQLiteAuditLog(tmp_path / "audit.db")
    raised = datetime.now(UTC) - timedelta(minutes=1)
    for finding in findings:
        log.append(finding_raised(finding).model_copy(update={"at": raised}))
    from iamwatch.export import collect

    rows = collect(log, raised - timedelta(seconds=1), datetime.now(UTC))
    log.close()
    client = boto3.client("securityhub")
    sizes: list[int] = []
    client.meta.events.register(
        "before-parameter-build.securityhub.BatchImportFindings",
        lambda params, **_: sizes.append(len(params["Findings"])),
    )
    report = import_findings(client, rows, MOTO_ACCOUNT, "us-east-1")
    assert report.ok and report.imported == len(findings)
    assert sizes == [100, 100, 50]  # BatchImportFindings takes at most 100
    ids = {f.finding_id for f in findings}
    assert sorted(securityhub_ids(ids)) == sorted(ids)
