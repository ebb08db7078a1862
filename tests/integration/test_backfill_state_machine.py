"""The backfill definition in moto's Step Functions interpreter (LocalStack's ASL engine, in
process): it reads the run's plan from S3, starts a child workflow per prefix, lists the prefix
with s3:listObjectsV2, and gets as far as invoking the batch function, which moto cannot run
(it runs no Lambda code without Docker). The batches themselves are driven with the exact
item-batch input in test_handler_backfill_batch.py.

moto's copy of the grammar predates two things the definition uses: ``ItemBatcher`` and Express
child workflows. This test removes the first and runs the batches' children as Standard; both
are checked against the published rules offline (test_backfill_definition.py) and by cfn-lint.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import orjson
import pytest

from iamwatch.backfill_plan import execution_input, plan_items, plan_key, run_parameters
from tests.conftest import ROOT

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:iamwatch-test-backfillBatch"
PREFIXES = [
    "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/02/",
    "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/03/",
]


@pytest.fixture
def interpreter(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from moto import mock_aws

    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield


def moto_definition(results: str) -> str:
    text = (ROOT / "deploy" / "backfill-state-machine.json").read_text()
    definition = orjson.loads(
        text.replace("${BatchFunctionArn}", FUNCTION).replace("${ResultsBucket}", results)
    )
    inner = definition["States"]["Prefixes"]["ItemProcessor"]["States"]["LogFiles"]
    del inner["ItemBatcher"]
    inner["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] = "STANDARD"
    return orjson.dumps(definition).decode()


def test_the_definition_reads_the_plan_lists_each_prefix_and_invokes_the_batch_function(
    interpreter: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import boto3

    s3 = boto3.client("s3")
    for bucket in ("trail-bucket", "results-bucket"):
        s3.create_bucket(Bucket=bucket)
    for prefix in PREFIXES:
        s3.put_object(Bucket="trail-bucket", Key=f"{prefix}a.json.gz", Body=b"{}")
    parameters = run_parameters(
        run_id="bf-20261122T101500Z-abcdef", bucket="trail-bucket", since=date(2026, 11, 2),
        until=date(2026, 11, 4), prefix_count=2, batch_size=50, max_concurrency=4,
        tolerated_failure_percentage=0, results_bucket="results-bucket",
    )  # fmt: skip
    key = plan_key(parameters.run_id)
    s3.put_object(Bucket="results-bucket", Key=key, Body=orjson.dumps(plan_items(PREFIXES)))
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="iamwatch-test-backfill",
        definition=moto_definition("results-bucket"),
        roleArn="arn:aws:iam::123456789012:role/iamwatch-test-backfill",
    )["stateMachineArn"]
    started = sfn.start_execution(
        stateMachineArn=machine,
        name=parameters.run_id,
        input=orjson.dumps(execution_input(parameters)).decode(),
    )
    deadline = time.monotonic() + 30
    while (status := sfn.describe_execution(executionArn=started["executionArn"])["status"]) == (
        "RUNNING"
    ):
        assert time.monotonic() < deadline, "the execution never ended"
        time.sleep(0.2)
    events = sfn.get_execution_history(executionArn=started["executionArn"])["events"]
    kinds = [event["type"] for event in events]
    assert kinds[:4] == ["ExecutionStarted", "MapStateEntered", "MapStateStarted", "MapRunStarted"]
    assert ":mapRun:iamwatch-test-backfill/Prefixes:" in str(events[3])
    assert status in {"SUCCEEDED", "FAILED"}  # moto's engine does not fail on failed children
    # Each prefix's listing ran as an inner map run, which wrote its results where the role may
    # write them: the deployed results bucket, under backfill/results/<map run id>/.
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket="results-bucket")["Contents"]]
    manifests = [
        k for k in listed if k.startswith("backfill/results/") and k.endswith("manifest.json")
    ]
    assert manifests
    manifest = orjson.loads(s3.get_object(Bucket="results-bucket", Key=manifests[0])["Body"].read())
    assert ":mapRun:iamwatch-test-backfill/LogFiles:" in manifest["MapRunArn"]
    # ...and each batch went to the deployed batch function, which moto cannot run.
    assert f"Function not found: {FUNCTION}" in caplog.text
