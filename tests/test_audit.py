"""Both audit stores: append-only, idempotent on record id, read back by time window."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from iamwatch.audit import AuditKind, AuditLog, AuditRecord, SQLiteAuditLog
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
