"""Both audit stores: append-only, idempotent on record id, read back by time window, by record
id and by finding."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from iamwatch.audit import (
    AuditKind,
    AuditLog,
    AuditRecord,
    SQLiteAuditLog,
    finding_raised,
    raised_finding,
)
from iamwatch.aws.audit import DynamoDBAuditLog
from iamwatch.aws.tables import create_table
from tests.conftest import detector_cases, run_records

DAY = datetime(2026, 11, 3, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "dynamodb"])
def audit(request: pytest.FixtureRequest) -> AuditLog:
    if request.param == "sqlite":
        return SQLiteAuditLog()
    env = request.getfixturevalue("aws_env")
    client = boto3.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL"])
    name = f"audit-{uuid.uuid4().hex[:8]}"
    create_table(client, "audit", name)
    return DynamoDBAuditLog(client, name)


def test_records_read_back_in_time_order_within_the_window(audit: AuditLog) -> None:
    case = next(c for c in detector_cases() if c.expect)
    finding = run_records(case.records)[0]
    late = AuditRecord.about(AuditKind.FINDING_RAISED, finding).model_copy(
        update={"at": DAY + timedelta(days=1, hours=2)}
    )
    early = AuditRecord(
        kind=AuditKind.MALFORMED_EVENT,
        at=DAY + timedelta(hours=1),
        data={"where": "file: line 3", "reason": "not valid JSON"},
    )
    outside = AuditRecord(kind=AuditKind.MALFORMED_EVENT, at=DAY + timedelta(days=5))
    for record in (late, early, outside, late):  # the repeated append is a retry
        audit.append(record)
    read = list(audit.read(DAY, DAY + timedelta(days=2)))
    assert [r.record_id for r in read] == [early.record_id, late.record_id]
    assert read[1].finding_id == finding.finding_id
    assert read[1].data["severity"] == finding.severity.value


def test_a_record_is_never_overwritten(audit: AuditLog) -> None:
    first = AuditRecord(kind=AuditKind.DELIVERY_FAILED, at=DAY, data={"reason": "first"})
    audit.append(first)
    audit.append(first.model_copy(update={"data": {"reason": "rewritten"}}))
    (stored,) = audit.read(DAY, DAY + timedelta(seconds=1))
    assert stored.data == {"reason": "first"}


def test_records_are_found_by_id_and_by_finding_across_days(audit: AuditLog) -> None:
    case = next(c for c in detector_cases() if c.expect)
    finding = run_records(case.records)[0]
    raised = finding_raised(finding).model_copy(update={"at": DAY})
    acknowledged = AuditRecord.about(
        AuditKind.FINDING_ACKNOWLEDGED, finding, by="U0SECOPS"
    ).model_copy(update={"at": DAY + timedelta(days=3)})
    unrelated = AuditRecord(kind=AuditKind.MALFORMED_EVENT, at=DAY + timedelta(hours=1))
    for record in (acknowledged, unrelated, raised):
        audit.append(record)

    assert audit.get(acknowledged.record_id) == acknowledged
    assert audit.get(unrelated.record_id) == unrelated
    assert audit.get(str(uuid.uuid4())) is None
    assert [r.record_id for r in audit.for_finding(finding.finding_id)] == [
        raised.record_id,
        acknowledged.record_id,
    ]
    assert list(audit.for_finding(str(uuid.uuid4()))) == []
    assert raised_finding(audit, finding.finding_id) == finding


def test_an_audit_file_from_before_the_finding_index_is_upgraded(tmp_path: Path) -> None:
    case = next(c for c in detector_cases() if c.expect)
    finding = run_records(case.records)[0]
    record = finding_raised(finding)
    path = tmp_path / "audit.db"
    old = sqlite3.connect(path)
    old.executescript(
        "create table audit (record_id text primary key, at text not null, body blob not null);"
    )
    old.execute(
        "insert into audit values (?, ?, ?)",
        (record.record_id, record.at.isoformat(), record.model_dump_json().encode()),
    )
    old.commit()
    old.close()

    upgraded = SQLiteAuditLog(path)
    assert raised_finding(upgraded, finding.finding_id) == finding
    upgraded.close()
    assert raised_finding(SQLiteAuditLog(path), finding.finding_id) == finding


def test_an_open_ended_window_reads_to_the_present(audit: AuditLog) -> None:
    """Exports read "every delivery since": the DynamoDB store, one query per day, must stop at
    the present rather than walk day partitions to the end of time."""
    record = AuditRecord(kind=AuditKind.MALFORMED_EVENT)
    audit.append(record)
    end_of_time = datetime.max.replace(tzinfo=UTC)
    assert [r.record_id for r in audit.read(record.at - timedelta(days=2), end_of_time)] == [
        record.record_id
    ]
