"""handlers/export.py invoked as Lambda would, against DynamoDB, KMS and S3 on a moto server:
a UTC day's findings from the audit table to date-partitioned SSE-KMS objects, idempotently."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from handlers import export
from iamwatch.audit import AuditKind, AuditRecord, finding_raised
from iamwatch.aws import container as aws_container
from iamwatch.aws.audit import DynamoDBAuditLog
from iamwatch.aws.export import ExportWriteError
from iamwatch.export.csv import COLUMNS
from iamwatch.export.daily import DayNotOver
from iamwatch.export.ocsf import problems
from iamwatch.finding import Finding
from iamwatch.observability import logger
from tests.aws import Deployed, LambdaContext, deploy
from tests.conftest import detector_cases, run_records

TODAY = datetime.now(UTC).date()
DAY = TODAY - timedelta(days=2)
PREVIOUS = DAY - timedelta(days=1)
QUIET = DAY - timedelta(days=10)
FORMATS = {"jsonl": "jsonl", "ocsf": "ocsf.jsonl", "csv": "csv"}


def at(day: date, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=UTC)


def findings() -> list[Finding]:
    """Real findings from the detectors' positive fixtures, one per detector."""
    found: dict[str, Finding] = {}
    for case in detector_cases():
        if case.path.stem.startswith("positive_") and len(case.records) == 1:
            for finding in run_records(case.records):
                found.setdefault(finding.detector, finding)
    return sorted(found.values(), key=lambda f: f.detector)


FINDINGS = findings()


@dataclass
class Exporting:
    deployed: Deployed
    bucket: str
    key_arn: str
    audit: DynamoDBAuditLog

    def s3(self) -> Any:
        return self.deployed.client("s3")

    def object_keys(self) -> list[str]:
        listed = self.s3().list_objects_v2(Bucket=self.bucket).get("Contents", [])
        return sorted(item["Key"] for item in listed)

    def body(self, key: str) -> bytes:
        data: bytes = self.s3().get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return data

    def audit_records(self, kind: AuditKind) -> list[AuditRecord]:
        items = self.deployed.client("dynamodb").scan(
            TableName=self.deployed.env["IAMWATCH_AUDIT_TABLE"]
        )["Items"]
        records = [AuditRecord.model_validate_json(item["body"]["S"]) for item in items]
        return [record for record in records if record.kind is kind]


@pytest.fixture
def exporting(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Exporting:
    """The deployment's tables, plus a KMS key and a versioned bucket as serverless.yml makes
    them, and an audit trail holding findings raised over three days."""
    deployed = deploy(moto_endpoint, monkeypatch)
    key_arn = deployed.client("kms").create_key(Description="iamwatch exports")["KeyMetadata"][
        "Arn"
    ]
    bucket = f"iamwatch-exports-{uuid.uuid4().hex[:8]}"
    s3 = deployed.client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    monkeypatch.setenv("IAMWATCH_EXPORT_BUCKET", bucket)
    monkeypatch.setenv("IAMWATCH_EXPORT_KMS_KEY_ARN", key_arn)
    aws_container.reset()
    audit = DynamoDBAuditLog(deployed.client("dynamodb"), deployed.env["IAMWATCH_AUDIT_TABLE"])
    first, second, third, fourth, fifth, later = FINDINGS[:6]
    raised = [
        (first, at(PREVIOUS, 10)),
        (second, at(PREVIOUS, 23, 59, 59)),
        (third, at(DAY)),  # midnight belongs to the day it starts
        (fourth, at(DAY, 12)),
        (fifth, at(DAY, 23, 59, 59)),
        (third, at(DAY, 18)),  # raised again by a re-scan: exported once
        (later, at(DAY + timedelta(days=1))),  # the next day's
    ]
    for finding, moment in raised:
        audit.append(finding_raised(finding).model_copy(update={"at": moment}))

    def delivery(finding: Finding, kind: AuditKind, moment: datetime, **data: Any) -> None:
        record = AuditRecord.about(kind, finding, channel="#security-alerts", **data)
        audit.append(record.model_copy(update={"at": moment}))

    delivery(third, AuditKind.DELIVERY_ATTEMPTED, at(DAY, 0, 0, 2), outcome="posted")
    # Failed within the delivery horizon, posted after it: the day's export says failed.
    next_day = DAY + timedelta(days=1)
    delivery(fourth, AuditKind.DELIVERY_FAILED, at(next_day, 0, 10), outcome="failed")
    delivery(fourth, AuditKind.DELIVERY_ATTEMPTED, at(next_day, 0, 30), outcome="posted")
    return Exporting(deployed, bucket, key_arn, audit)


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the powertools logger writes, as Lambda would ship it to CloudWatch."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def scheduled_event(fired: datetime) -> dict[str, Any]:
    """What the EventBridge schedule invokes the function with."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": fired.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/iamwatch-prod-export"],
        "detail": {},
    }


def key_for(export_format: str, day: date) -> str:
    return (
        f"iamwatch/{export_format}/year={day:%Y}/month={day:%m}/day={day:%d}/"
        f"findings-{day.isoformat()}.{FORMATS[export_format]}"
    )


def lines(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in data.splitlines()]


def ids_of(*chosen: Finding) -> set[str]:
    return {finding.finding_id for finding in chosen}


def test_the_schedule_exports_the_previous_utc_day_in_every_format(
    exporting: Exporting,
) -> None:
    fired = at(DAY + timedelta(days=1), 0, 20)
    result = export.handler(scheduled_event(fired), LambdaContext())

    expected_keys = sorted(key_for(name, DAY) for name in FORMATS)
    assert exporting.object_keys() == expected_keys
    assert result["day"] == DAY.isoformat()
    assert result["findings"] == 3
    day_ids = ids_of(*FINDINGS[2:5])
    s3 = exporting.s3()
    for key in expected_keys:
        head = s3.head_object(Bucket=exporting.bucket, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert head["SSEKMSKeyId"] == exporting.key_arn
        assert head["BucketKeyEnabled"] is True

    rows = lines(exporting.body(key_for("jsonl", DAY)))
    assert [row["finding_id"] for row in rows].count(FINDINGS[2].finding_id) == 1
    assert {row["finding_id"] for row in rows} == day_ids
    # Each line rebuilds the finding as raised.
    for row in rows:
        finding = Finding.model_validate(
            {k: v for k, v in row.items() if k in Finding.model_fields}
        )
        assert finding in FINDINGS
    status = {row["finding_id"]: row["delivery_status"] for row in rows}
    assert status == {
        FINDINGS[2].finding_id: "posted",
        FINDINGS[3].finding_id: "failed",  # the later success is after the horizon
        FINDINGS[4].finding_id: "not-sent",
    }

    events = lines(exporting.body(key_for("ocsf", DAY)))
    assert {event["finding_info"]["uid"] for event in events} == day_ids
    for event in events:
        assert problems(event) == []
        assert event["class_uid"] == 2004

    table = exporting.body(key_for("csv", DAY))
    assert table.startswith(b"finding_id,")  # no byte order mark: these are for machines
    reader = csv.DictReader(io.StringIO(table.decode("utf-8"), newline=""))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    assert {row["finding_id"] for row in reader} == day_ids


def test_the_export_is_audited_and_logged_with_what_was_written(
    exporting: Exporting, log_output: io.StringIO
) -> None:
    result = export.handler({"day": DAY.isoformat()}, LambdaContext())
    logged = [orjson.loads(line) for line in log_output.getvalue().splitlines()]
    (done,) = [line for line in logged if line["message"] == "daily export written"]
    assert (done["day"], done["findings"], done["objects"]) == (DAY.isoformat(), 3, 3)
    (record,) = exporting.audit_records(AuditKind.EXPORT_WRITTEN)
    assert record.data == result
    assert record.data["bucket"] == exporting.bucket
    for written in record.data["objects"]:
        body = exporting.body(written["key"])
        assert written["sha256"] == hashlib.sha256(body).hexdigest()
        assert written["bytes"] == len(body)
        assert written["findings"] == 3


def test_a_rerun_of_the_day_overwrites_the_same_keys_with_the_same_bytes(
    exporting: Exporting,
) -> None:
    export.handler(scheduled_event(at(DAY + timedelta(days=1), 0, 20)), LambdaContext())
    first = {key: exporting.body(key) for key in exporting.object_keys()}
    # A retry hours later still means the same day: the event's time counts, not the clock.
    export.handler(scheduled_event(at(DAY + timedelta(days=1), 0, 20)), LambdaContext())
    export.handler({"day": DAY.isoformat()}, LambdaContext())
    assert {key: exporting.body(key) for key in exporting.object_keys()} == first
    versions = exporting.s3().list_object_versions(Bucket=exporting.bucket)["Versions"]
    assert {v["Key"] for v in versions} == set(first)
    assert len(versions) == 3 * len(first)


def test_an_explicit_day_exports_only_that_day(exporting: Exporting) -> None:
    result = export.handler({"day": PREVIOUS.isoformat()}, LambdaContext())
    assert result["findings"] == 2
    assert exporting.object_keys() == sorted(key_for(name, PREVIOUS) for name in FORMATS)
    rows = lines(exporting.body(key_for("jsonl", PREVIOUS)))
    assert {row["finding_id"] for row in rows} == ids_of(*FINDINGS[:2])


def test_a_quiet_day_writes_empty_objects_so_a_missing_one_means_a_missed_run(
    exporting: Exporting,
) -> None:
    result = export.handler({"day": QUIET.isoformat()}, LambdaContext())
    assert result["findings"] == 0
    assert exporting.object_keys() == sorted(key_for(name, QUIET) for name in FORMATS)
    assert exporting.body(key_for("jsonl", QUIET)) == b""
    assert exporting.body(key_for("ocsf", QUIET)) == b""
    assert exporting.body(key_for("csv", QUIET)) == (",".join(COLUMNS) + "\r\n").encode()


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({"day": TODAY.isoformat()}, id="today_by_hand"),
        pytest.param(scheduled_event(at(TODAY + timedelta(days=1), 0, 20)), id="early_schedule"),
    ],
)
def test_a_day_that_is_not_over_is_refused_and_nothing_is_written(
    exporting: Exporting, event: dict[str, Any]
) -> None:
    with pytest.raises(DayNotOver):
        export.handler(event, LambdaContext())
    assert exporting.object_keys() == []
    assert exporting.audit_records(AuditKind.EXPORT_WRITTEN) == []


@pytest.mark.parametrize("day", ["yesterday", "2026-13-01", "2026-11-20T25:00"])
def test_a_malformed_day_is_refused(exporting: Exporting, day: object) -> None:
    with pytest.raises(ValidationError):
        export.handler({"day": day}, LambdaContext())
    assert exporting.object_keys() == []


def test_a_refused_write_fails_the_invocation_and_is_logged_without_secrets(
    exporting: Exporting, monkeypatch: pytest.MonkeyPatch, log_output: io.StringIO
) -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRETzz"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("IAMWATCH_EXPORT_BUCKET", "iamwatch-exports-deleted")
    aws_container.reset()
    with pytest.raises(ExportWriteError) as raised:
        export.handler({"day": DAY.isoformat()}, LambdaContext())
    assert "NoSuchBucket" in str(raised.value)
    logged = [orjson.loads(line) for line in log_output.getvalue().splitlines()]
    (failure,) = [line for line in logged if line["message"] == "daily export write failed"]
    assert failure["bucket"] == "iamwatch-exports-deleted"
    assert failure["key"] == key_for("jsonl", DAY)
    assert failure["reason"].startswith("NoSuchBucket")
    text = log_output.getvalue() + str(raised.value) + repr(raised.value.__cause__)
    assert secret not in text
    assert "Signature" not in text and "Authorization" not in text
    assert exporting.audit_records(AuditKind.EXPORT_WRITTEN) == []


def test_what_the_detect_handler_audits_is_what_the_export_reads(exporting: Exporting) -> None:
    """The daily export rebuilds findings from the audit table alone: the detect function must
    record each finding whole, not just its id (a regression this test pins down)."""
    from handlers import events
    from iamwatch.export import collect
    from tests.aws import eventbridge_event

    case = next(c for c in detector_cases() if c.expect and len(c.records) == 1)
    (expected,) = run_records(case.records)
    before = datetime.now(UTC)
    events.handler(eventbridge_event(case.records[0]), LambdaContext())
    (exported,) = collect(exporting.audit, before, datetime.now(UTC) + timedelta(seconds=1))
    assert exported.finding.finding_id == expected.finding_id
    assert exported.finding.summary == expected.summary
    assert exported.finding.event_time == expected.event_time
