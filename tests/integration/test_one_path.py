"""One detection path: the same archive (examples/) scanned by ``iamwatch scan``, by the backfill
function from S3, and event by event by the detect function (what the deployed rules route)
gives the same findings, the same
suppressions and the same audit records (all but where each record was read from)."""

from __future__ import annotations

import gzip
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from handlers import backfill, events
from iamwatch.audit import AuditRecord, SQLiteAuditLog
from iamwatch.cli import app
from tests.aws import Deployed, LambdaContext, deploy, route_through_eventbridge, s3_notifications
from tests.conftest import EXAMPLES_DIR

BUCKET = "one-path-trail"
EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
FILES = sorted((EXAMPLES_DIR / "AWSLogs").rglob("*.json.gz"))
# One live rule and one expired rule, so suppression is part of what must agree.
SUPPRESSIONS = [
    {"detector": "inline-user-policy", "owner": "iam", "reason": "legacy", "expires": "2999-01-01"},
    {"detector": "root-account-used", "owner": "sre", "reason": "move", "expires": "2000-01-01"},
]
ENV = {
    "IAMWATCH_SUPPRESSIONS": orjson.dumps(SUPPRESSIONS).decode(),
    # Enrichment reads IAM, which differs between a laptop and the deployment: off for all.
    "IAMWATCH_ENRICHMENT": "false",
}


def comparable(records: list[AuditRecord]) -> Counter[bytes]:
    """Each audit record without its id, its time and where it was read from."""
    kept = []
    for record in records:
        data = {key: value for key, value in record.data.items() if key != "location"}
        body = record.model_dump(mode="json", exclude={"record_id", "at"})
        kept.append(orjson.dumps({**body, "data": data}, option=orjson.OPT_SORT_KEYS))
    return Counter(kept)


def dynamodb_audit(deployed: Deployed) -> list[AuditRecord]:
    client = deployed.client("dynamodb")
    items = []
    for page in client.get_paginator("scan").paginate(
        TableName=deployed.env["IAMWATCH_AUDIT_TABLE"]
    ):
        items.extend(page["Items"])
    return [AuditRecord.model_validate(orjson.loads(item["body"]["S"])) for item in items]


def findings_and_suppressions(records: list[AuditRecord]) -> tuple[set[str], set[str]]:
    kinds = Counter((r.kind.value, r.finding_id) for r in records)
    raised = {fid for (kind, fid) in kinds if kind == "finding-raised" and fid}
    muted = {fid for (kind, fid) in kinds if kind == "finding-suppressed" and fid}
    return raised, muted


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)


def cli_scan(tmp_path: Path) -> tuple[list[dict[str, Any]], list[AuditRecord]]:
    audit = tmp_path / "audit.db"
    result = CliRunner().invoke(
        app,
        ["scan", str(EXAMPLES_DIR / "AWSLogs"), "--format", "jsonl", "--audit", str(audit)],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    printed = [orjson.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    log = SQLiteAuditLog(audit)
    try:
        from datetime import UTC, datetime

        return printed, list(
            log.read(datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC).replace(year=2100))
        )
    finally:
        log.close()


def backfill_scan(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> list[AuditRecord]:
    deployed = deploy(moto_endpoint, monkeypatch)
    s3 = deployed.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    keys = []
    for path in FILES:
        keys.append(path.relative_to(EXAMPLES_DIR).as_posix())
        s3.put_object(Bucket=BUCKET, Key=keys[-1], Body=path.read_bytes())
    # One message at a time, in the CLI's file order: stateful detectors see the same order.
    for message in s3_notifications(BUCKET, keys)["Records"]:
        assert backfill.handler({"Records": [message]}, LambdaContext()) == {
            "batchItemFailures": []
        }
    return dynamodb_audit(deployed)


def detect_each_event(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> list[AuditRecord]:
    """What the deployed rules route, as AWS would invoke the detect function: event by event,
    an event two rules match twice, in the archive's order."""
    deployed = deploy(moto_endpoint, monkeypatch)
    records = [
        record
        for path in FILES
        for record in orjson.loads(gzip.decompress(path.read_bytes()))["Records"]
    ]
    order = {record["eventID"]: index for index, record in enumerate(records)}
    routed = route_through_eventbridge(moto_endpoint, records)
    for event in sorted(routed, key=lambda event: order[event["detail"]["eventID"]]):
        events.handler(event, LambdaContext())
    return dynamodb_audit(deployed)


@pytest.mark.usefixtures("no_ambient_settings", "settings_env")
def test_cli_backfill_and_detect_agree_on_examples(
    tmp_path: Path, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    printed, cli_audit = cli_scan(tmp_path)
    backfilled = backfill_scan(moto_endpoint, monkeypatch)
    detected = detect_each_event(moto_endpoint, monkeypatch)

    raised, muted = findings_and_suppressions(cli_audit)
    assert raised and muted, "the rules suppress some findings and not others"
    # What the CLI printed is what it audited: live findings, and suppressed ones marked.
    assert {f["finding_id"] for f in printed if not f.get("suppressed")} == raised
    assert {f["finding_id"] for f in printed if f.get("suppressed")} == muted
    for path_records in (backfilled, detected):
        assert findings_and_suppressions(path_records) == (raised, muted)
    assert comparable(backfilled) == comparable(cli_audit)
    assert comparable(detected) == comparable(cli_audit)
