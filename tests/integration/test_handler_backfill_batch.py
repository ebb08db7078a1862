"""handlers/backfill_batch.py: driven with exactly what a Distributed Map item batch delivers
(``{"Items": [listObjectsV2 entries], "BatchInput": {...}}``) against moto's S3, DynamoDB and
SQS: the same detection, idempotency and audit as the real-time path, findings marked with the
run, the run's progress counted, failures failing the batch."""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from handlers import backfill_batch, events
from iamwatch.aws.backfill import BatchFailed
from iamwatch.aws.backfill_runs import list_items
from iamwatch.aws.runs import RunProgress
from iamwatch.backfill_plan import new_run_id
from tests.aws import Deployed, LambdaContext, deploy_with_bucket, eventbridge_event
from tests.conftest import example_files_with_findings, findings_in

BUCKET = "org-cloudtrail-batches"


@pytest.fixture
def deployed(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Deployed:
    return deploy_with_bucket(moto_endpoint, monkeypatch, BUCKET)


FILES = example_files_with_findings(8)


def upload(deployed: Deployed, paths: list[Path]) -> str:
    """The files under a fresh date-like prefix of the bucket; the prefix."""
    prefix = f"AWSLogs/111122223333/CloudTrail/us-east-1/2026/{uuid.uuid4().hex[:6]}/"
    s3 = deployed.client("s3")
    for path in paths:
        s3.put_object(Bucket=BUCKET, Key=prefix + path.name, Body=path.read_bytes())
    return prefix


def item_batch(
    deployed: Deployed, run_id: str, prefix: str, extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    """What the inner map hands one child: the ItemReader's entries and the BatchInput."""
    items: list[dict[str, Any]] = list(list_items(deployed.client("s3"), BUCKET, prefix))
    assert items and set(items[0]) == {"Etag", "Key", "LastModified", "Size", "StorageClass"}
    items += [{"Etag": '"0"', "Key": key, "LastModified": 0, "Size": 1, "StorageClass": "STANDARD"}
              for key in extra]  # fmt: skip
    return {"BatchInput": {"run_id": run_id, "bucket": BUCKET, "prefix": prefix}, "Items": items}


def progress(deployed: Deployed, run_id: str) -> dict[str, Any] | None:
    return RunProgress(deployed.client("dynamodb"), deployed.env["IAMWATCH_STATE_TABLE"]).get(
        run_id
    )


def test_a_batch_queues_its_findings_marked_with_the_run_and_counts_them(
    deployed: Deployed,
) -> None:
    run_id = new_run_id()
    prefix = upload(deployed, FILES)
    result = backfill_batch.handler(item_batch(deployed, run_id, prefix), LambdaContext())

    alerts = deployed.alerts(max_messages=500)
    assert {(a["detector"], a["event_id"]) for a in alerts} == findings_in(FILES)
    assert {a["backfill_run"] for a in alerts} == {run_id}
    assert result["objects"] == len(FILES) and result["unreadable"] == []
    assert result["findings"] == len(alerts) >= 8
    counted = progress(deployed, run_id)
    assert counted is not None
    assert (counted["batches"], counted["objects"], counted["findings"]) == (
        1, len(FILES), len(alerts),
    )  # fmt: skip
    assert counted["records"] == result["records"] > counted["examined"] > 0
    assert sum(counted["findings_by_detector"].values()) == len(alerts)
    # The same audit as the real-time path, with the run on each raised finding.
    items = deployed.client("dynamodb").scan(TableName=deployed.env["IAMWATCH_AUDIT_TABLE"])
    raised = [
        orjson.loads(item["body"]["S"])
        for item in items["Items"]
        if item["kind"]["S"] == "finding-raised"
    ]
    assert len(raised) == len(alerts)
    assert all(body["data"]["finding"]["backfill_run"] == run_id for body in raised)


def test_an_event_the_real_time_path_saw_first_is_not_alerted_again(deployed: Deployed) -> None:
    for path in FILES[:3]:
        for record in orjson.loads(gzip.decompress(path.read_bytes()))["Records"]:
            events.handler(eventbridge_event(record), LambdaContext())
    first = deployed.alerts(max_messages=500)
    assert first and all("backfill_run" not in alert for alert in first)
    prefix = upload(deployed, FILES[:3])
    result = backfill_batch.handler(item_batch(deployed, new_run_id(), prefix), LambdaContext())
    assert deployed.alerts(max_messages=500) == []
    assert result["findings"] == 0 and result["objects"] == 3


def test_a_batch_run_again_alerts_nothing_new(deployed: Deployed) -> None:
    run_id = new_run_id()
    prefix = upload(deployed, FILES[:2])
    backfill_batch.handler(item_batch(deployed, run_id, prefix), LambdaContext())
    assert deployed.alerts(max_messages=500)
    backfill_batch.handler(item_batch(deployed, run_id, prefix), LambdaContext())
    assert deployed.alerts(max_messages=500) == []


def test_an_unreadable_object_fails_the_batch_after_the_rest_was_scanned(
    deployed: Deployed,
) -> None:
    run_id = new_run_id()
    prefix = upload(deployed, FILES[:2])
    gone = f"{prefix}111122223333_CloudTrail_us-east-1_20261103T0000Z_gone.json.gz"
    event = item_batch(deployed, run_id, prefix, extra=(gone,))
    with pytest.raises(BatchFailed, match="1 object"):
        backfill_batch.handler(event, LambdaContext())
    # The readable objects' findings went out; the failure is counted, the objects are not
    # (the retry will count them, without alerting twice).
    assert {(a["detector"], a["event_id"]) for a in deployed.alerts(500)} == findings_in(FILES[:2])
    counted = progress(deployed, run_id)
    assert counted is not None
    assert (counted["failed_attempts"], counted["unreadable_objects"], counted["objects"]) == (
        1,
        1,
        0,
    )


def test_digests_and_other_objects_are_skipped(deployed: Deployed) -> None:
    run_id = new_run_id()
    prefix = upload(deployed, FILES[:1])
    digest = prefix.replace("/CloudTrail/", "/CloudTrail-Digest/") + "d.json.gz"
    event = item_batch(deployed, run_id, prefix, extra=(digest, f"{prefix}notes.txt"))
    result = backfill_batch.handler(event, LambdaContext())
    assert (result["objects"], result["skipped_objects"]) == (1, 2)


def test_anything_but_an_item_batch_fails_loudly(deployed: Deployed) -> None:
    with pytest.raises(ValueError, match="Distributed Map item batch"):
        backfill_batch.handler({"Records": []}, LambdaContext())
