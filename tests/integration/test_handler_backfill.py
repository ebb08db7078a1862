"""handlers/backfill.py: CloudTrail log files announced by S3 notifications are scanned with
the same detectors, and an event seen both ways (EventBridge and S3) alerts once."""

from __future__ import annotations

import copy
import gzip
import uuid
from typing import Any

import orjson
import pytest

from handlers import backfill, events
from tests.aws import (
    Deployed,
    LambdaContext,
    deploy_with_bucket,
    eventbridge_event,
    s3_notifications,
)
from tests.conftest import (
    EVENTS_DIR,
    EXAMPLES_DIR,
    detector_cases,
    example_files_with_findings,
    findings_in,
)

BUCKET = "org-cloudtrail"


@pytest.fixture
def deployed(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Deployed:
    return deploy_with_bucket(moto_endpoint, monkeypatch, BUCKET)


FILES = example_files_with_findings(12)


def upload_examples(deployed: Deployed, limit: int) -> list[str]:
    s3 = deployed.client("s3")
    keys = []
    for path in FILES[:limit]:
        key = f"run-{uuid.uuid4().hex[:6]}/" + path.relative_to(EXAMPLES_DIR).as_posix()
        s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
        keys.append(key)
    return keys


def sqs_event(keys: list[str]) -> dict[str, Any]:
    return s3_notifications(BUCKET, keys)


def test_backfill_scans_announced_files(deployed: Deployed) -> None:
    keys = upload_examples(deployed, limit=len(FILES))
    result = backfill.handler(sqs_event(keys), LambdaContext())
    assert result == {"batchItemFailures": []}
    queued = {(f["detector"], f["event_id"]) for f in deployed.alerts(max_messages=500)}
    assert queued == findings_in(FILES)
    assert len(queued) >= 12


def test_an_event_seen_by_eventbridge_first_is_not_alerted_again(deployed: Deployed) -> None:
    keys = upload_examples(deployed, limit=len(FILES))
    for path in FILES:
        for record in orjson.loads(gzip.decompress(path.read_bytes()))["Records"]:
            events.handler(eventbridge_event(record), LambdaContext())
    first = deployed.alerts(max_messages=500)
    backfill.handler(sqs_event(keys), LambdaContext())
    assert deployed.alerts(max_messages=500) == []
    assert len(first) == len(findings_in(FILES))


def test_a_missing_object_fails_only_its_message(deployed: Deployed) -> None:
    keys = upload_examples(deployed, limit=2)
    missing = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/03/gone.json.gz"
    event = sqs_event([keys[0], missing, keys[1]])
    result = backfill.handler(event, LambdaContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}


def test_digests_and_test_events_are_ignored(deployed: Deployed) -> None:
    event = sqs_event(["AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2026/11/03/d.json.gz"])
    event["Records"].append(
        {
            **event["Records"][0],
            "messageId": "test",
            "body": '{"Service":"Amazon S3","Event":"s3:TestEvent"}',
        }
    )
    assert backfill.handler(event, LambdaContext()) == {"batchItemFailures": []}


# Hostile log files: the good records alert, each bad one is audited with its place ----------


def positive(detector_id: str, index: int = 0) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A single-record positive case: the record and the findings it raises."""
    cases = [
        c
        for c in detector_cases()
        if c.path.parent.name == detector_id and c.path.stem.startswith("positive_")
        and len(c.records) == 1
    ]  # fmt: skip
    case = cases[index]
    return copy.deepcopy(case.records[0]), [(e["detector"], e["event_id"]) for e in case.expect]


def log_file(records: list[Any]) -> bytes:
    return gzip.compress(orjson.dumps({"Records": records}))


def put(deployed: Deployed, name: str, body: bytes) -> str:
    key = f"AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/03/{uuid.uuid4().hex[:6]}-{name}"
    deployed.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)
    return key


def malformed_audit(deployed: Deployed) -> list[dict[str, Any]]:
    items = deployed.client("dynamodb").scan(TableName=deployed.env["IAMWATCH_AUDIT_TABLE"])
    bodies = [orjson.loads(item["body"]["S"]) for item in items["Items"]]
    return [body["data"] for body in bodies if body["kind"] == "malformed-event"]


def test_a_hostile_log_file_reports_each_bad_record_and_alerts_on_the_rest(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    """One SQS batch announcing six files: good records among wrong types, a non-object and a
    256 KB record; invalid UTF-8 inside a record; a truncated gzip; non-JSON lines; a file that
    is not JSON and one cut short."""
    user, key, mfa, trail, root, inline, password = (
        positive(detector_id)
        for detector_id in (
            "iam-user-created", "access-key-created", "mfa-device-removed",
            "cloudtrail-tampering", "root-account-used", "inline-user-policy",
            "console-password-created",
        )
    )  # fmt: skip
    big = positive("iam-user-created", 1)
    big[0]["userAgent"] = "<!channel> =cmd\n" + "x" * 262_144
    big[0]["requestParameters"]["userName"] = "=HYPERLINK(1)" + "\u00e9" * 100_000
    mixed = [
        user[0],
        {**key[0], "eventTime": ["2026-11-03"]},  # record 2: wrong type
        big[0],  # record 3: 256 KB
        42,  # record 4: not an object
        {**mfa[0], "eventName": {"name": "CreateUser"}},  # record 5: wrong type
        key[0],
        {**trail[0], "userIdentity": "root"},  # record 7: wrong type
    ]
    # Invalid UTF-8 inside the second record's user agent.
    text = orjson.dumps({"Records": [mfa[0], trail[0]]})
    at = text.rindex(b'"userAgent":"') + len(b'"userAgent":"')
    truncated = log_file([root[0]])
    lines = [orjson.dumps(inline[0]), b"{not json", b"\xff\xfe\xfd", orjson.dumps(password[0])]
    keys = [
        put(deployed, "mixed.json.gz", log_file(mixed)),
        put(deployed, "invalid-utf8.json.gz", gzip.compress(text[:at] + b"\xff\xfe" + text[at:])),
        put(deployed, "truncated.json.gz", truncated[: len(truncated) * 3 // 5]),
        put(deployed, "lines.json", b"\n".join(lines)),
        put(deployed, "not-json.json.gz", gzip.compress(b"this is not JSON")),
        put(deployed, "cut-short.json", orjson.dumps({"Records": [user[0]]})[:-40]),
    ]
    event = sqs_event(keys)

    result = backfill.handler(event, LambdaContext())

    # Reading a file again would not change what it holds: nothing is retried.
    assert result == {"batchItemFailures": []}
    # Everything readable alerts; nothing of the truncated file (root) is.
    expected = [f for _, found in (user, key, mfa, trail, inline, password, big) for f in found]
    alerts = deployed.alerts(max_messages=100)
    assert sorted((a["detector"], a["event_id"]) for a in alerts) == sorted(expected)
    (large,) = [a for a in alerts if a["event_id"] == big[0]["eventID"]]
    assert len(orjson.dumps(large)) < 64_000, "bounded: fits SQS and DynamoDB"
    audited = malformed_audit(deployed)
    places = sorted(item["location"].removeprefix(f"s3://{BUCKET}/") for item in audited)
    assert places == sorted(
        [
            *(f"{keys[0]}: record {n}" for n in (2, 4, 5, 7)),
            f"{keys[1]}: byte {at}",
            f"{keys[2]}: after line 0",
            *(f"{keys[3]}: line {n}" for n in (2, 3)),
            keys[4],  # not JSON at all: the whole file, once
            keys[5],  # the whole file
        ]
    )
    assert all(item["reason"] for item in audited)
    blobs = [orjson.loads(out) for out in capsys.readouterr().out.splitlines() if '"_aws"' in out]
    assert sum(sum(blob.get("MalformedEvents", [])) for blob in blobs) == len(places)
    print(
        f"\nBACKFILL files={len(keys)} alerts={len(alerts)} of {len(expected)} "
        f"malformed={len(places)} retried=0"
    )


def test_silenced_rules_are_seen_by_the_backfill_path(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither rule can report its own disabling; the trail's log file still holds it."""
    monkeypatch.setenv("IAMWATCH_SELF_PREFIX", "iamwatch-prod-")
    path = EVENTS_DIR / "iamwatch-tampering" / "positive_disable_main_rule.json"
    disable = orjson.loads(path.read_bytes())["records"][0]
    records = [
        {**disable, "eventID": str(uuid.uuid4()), "requestParameters": {"name": rule}}
        for rule in ("iamwatch-prod-detect-rule-1", "iamwatch-prod-detect-rule-2")
    ]
    key = put(deployed, "rules.json.gz", log_file(records))
    assert backfill.handler(sqs_event([key]), LambdaContext()) == {"batchItemFailures": []}
    alerts = deployed.alerts()
    assert sorted((a["detector"], a["severity"], a["target"]) for a in alerts) == [
        ("iamwatch-tampering", "critical", "iamwatch-prod-detect-rule-1"),
        ("iamwatch-tampering", "critical", "iamwatch-prod-detect-rule-2"),
    ]
