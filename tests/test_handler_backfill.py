"""handlers/backfill.py: CloudTrail log files announced by S3 notifications are scanned with
the same detectors, and an event seen both ways (EventBridge and S3) alerts once."""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import orjson
import pytest

from handlers import backfill, events
from tests.aws import Deployed, LambdaContext, deploy, eventbridge_event
from tests.conftest import EXAMPLES_DIR, new_engine

BUCKET = "org-cloudtrail"


@pytest.fixture
def deployed(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Deployed:
    deployed = deploy(moto_endpoint, monkeypatch)
    s3 = deployed.client("s3")
    if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET)
    return deployed


def expected_for(paths: list[Path]) -> set[tuple[str, str]]:
    engine = new_engine()
    expected = set()
    for path in paths:
        for record in orjson.loads(gzip.decompress(path.read_bytes()))["Records"]:
            evaluation = engine.evaluate_raw(record)
            for finding in evaluation.findings if evaluation else []:
                expected.add((finding.detector, finding.event_id))
    return expected


def files_with_findings(count: int) -> list[Path]:
    """A few example files that raise findings, plus one of pure noise; enough to prove the
    path without replaying the whole archive through moto."""
    chosen: list[Path] = []
    noise: list[Path] = []
    for path in sorted((EXAMPLES_DIR / "AWSLogs").rglob("*.json.gz")):
        (chosen if expected_for([path]) else noise).append(path)
    return chosen[:count] + noise[:1]


FILES = files_with_findings(12)


def upload_examples(deployed: Deployed, limit: int) -> list[str]:
    s3 = deployed.client("s3")
    keys = []
    for path in FILES[:limit]:
        key = f"run-{uuid.uuid4().hex[:6]}/" + path.relative_to(EXAMPLES_DIR).as_posix()
        s3.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())
        keys.append(key)
    return keys


def sqs_event(keys: list[str]) -> dict[str, Any]:
    """S3 event notifications delivered through SQS, one message per object."""
    records = []
    for key in keys:
        notification = {"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": BUCKET, "arn": f"arn:aws:s3:::{BUCKET}"},
                   "object": {"key": quote_plus(key), "size": 1234}},
        }]}  # fmt: skip
        records.append({
            "messageId": str(uuid.uuid4()), "receiptHandle": "handle", "body":
            orjson.dumps(notification).decode(), "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:iamwatch-backfill",
            "awsRegion": "us-east-1",
        })  # fmt: skip
    return {"Records": records}


def test_backfill_scans_announced_files(deployed: Deployed) -> None:
    keys = upload_examples(deployed, limit=len(FILES))
    result = backfill.handler(sqs_event(keys), LambdaContext())
    assert result == {"batchItemFailures": []}
    queued = {(f["detector"], f["event_id"]) for f in deployed.alerts(max_messages=500)}
    assert queued == expected_for(FILES)
    assert len(queued) >= 12


def test_an_event_seen_by_eventbridge_first_is_not_alerted_again(deployed: Deployed) -> None:
    keys = upload_examples(deployed, limit=len(FILES))
    for path in FILES:
        for record in orjson.loads(gzip.decompress(path.read_bytes()))["Records"]:
            events.handler(eventbridge_event(record), LambdaContext())
    first = deployed.alerts(max_messages=500)
    backfill.handler(sqs_event(keys), LambdaContext())
    assert deployed.alerts(max_messages=500) == []
    assert len(first) == len(expected_for(FILES))


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
