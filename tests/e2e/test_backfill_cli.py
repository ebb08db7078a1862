"""``iamwatch backfill`` end to end against moto: a local run over examples/ uploaded to S3 gives
exactly the findings of ``iamwatch scan examples/``; a run started on the deployed state machine
writes its plan and execution input; ``--status`` shows the execution and the batches' counts."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest

from iamwatch.aws.backfill import BatchResult
from iamwatch.aws.runs import RunProgress
from iamwatch.aws.tables import create_table
from iamwatch.backfill_plan import RUN_ID, plan_key
from tests.conftest import EXAMPLES_DIR, ROOT, findings_of, run_iamwatch

DEFINITION = (ROOT / "deploy" / "backfill-state-machine.json").read_text()


@pytest.fixture
def trail(aws_env: dict[str, str]) -> str:
    """A trail bucket holding examples/AWSLogs as CloudTrail delivered it."""
    bucket = f"trail-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    for path in sorted((EXAMPLES_DIR / "AWSLogs").rglob("*.json.gz")):
        s3.put_object(
            Bucket=bucket, Key=path.relative_to(EXAMPLES_DIR).as_posix(), Body=path.read_bytes()
        )
    return bucket


@pytest.fixture
def stack(aws_env: dict[str, str]) -> dict[str, str]:
    """What `make deploy` leaves for the CLI: the state machine, the results bucket and the
    state table, named in a stack's outputs."""
    suffix = uuid.uuid4().hex[:8]
    results = f"iamwatch-results-{suffix}"
    boto3.client("s3").create_bucket(Bucket=results)
    table = f"iamwatch-state-{suffix}"
    create_table(boto3.client("dynamodb"), "state", table)
    lambda_arn = "arn:aws:lambda:us-east-1:123456789012:function:iamwatch-test-backfillBatch"
    machine = boto3.client("stepfunctions").create_state_machine(
        name=f"iamwatch-test-{suffix}-backfill",
        definition=DEFINITION.replace("${BatchFunctionArn}", lambda_arn).replace(
            "${ResultsBucket}", results
        ),
        roleArn="arn:aws:iam::123456789012:role/iamwatch-test-backfill",
    )["stateMachineArn"]
    name = f"iamwatch-test-{suffix}"
    outputs = {
        "BackfillStateMachineArn": machine,
        "BackfillResultsBucketName": results,
        "StateTableName": table,
    }
    template = {
        "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(
        StackName=name, TemplateBody=orjson.dumps(template).decode()
    )
    return {"name": name, **outputs}


def test_a_local_run_finds_exactly_what_a_scan_of_the_same_files_finds(
    trail: str, tmp_path: Path
) -> None:
    scanned = run_iamwatch("scan", "examples/AWSLogs/", "--format", "jsonl", home=tmp_path / "scan")
    assert scanned.returncode == 0, scanned.stderr.decode()
    backfilled = run_iamwatch(
        "backfill", "--local", "--bucket", trail, "--since", "2026-11-01", "--until", "2026-11-08",
        "--batch-size", "7", home=tmp_path / "backfill",
    )  # fmt: skip
    assert backfilled.returncode == 0, backfilled.stderr.decode()
    expected = findings_of(scanned)
    assert len(expected) > 50
    assert findings_of(backfilled) == expected
    # Same records read and examined, as the summary says.
    summary = backfilled.stderr.decode()
    assert summary.split("Scanned", 1)[1].split(" in ")[0] in scanned.stderr.decode()


def test_a_local_run_of_one_account_and_day_reads_only_that(trail: str, tmp_path: Path) -> None:
    backfilled = run_iamwatch(
        "backfill", "--local", "--bucket", trail, "--since", "2026-11-03", "--until", "2026-11-04",
        "--accounts", "111122223333", "--regions", "us-east-1,eu-north-1", home=tmp_path,
    )  # fmt: skip
    assert backfilled.returncode == 0, backfilled.stderr.decode()
    found = findings_of(backfilled)
    assert found
    assert {(f["account"], f["region"]) for f in found} <= {
        ("111122223333", "us-east-1"), ("111122223333", "eu-north-1"),
    }  # fmt: skip
    assert {f["event_time"][:10] for f in found} <= {"2026-11-03", "2026-11-02"}


def test_a_run_starts_the_state_machine_with_its_plan(trail: str, stack: dict[str, str]) -> None:
    started = run_iamwatch(
        "backfill", "--bucket", trail, "--since", "2026-11-02", "--until", "2026-11-04",
        "--accounts", "111122223333", "--max-concurrency", "30", "--stack", stack["name"],
    )  # fmt: skip
    assert started.returncode == 0, started.stderr.decode()
    run_id = started.stdout.decode().strip()
    assert RUN_ID.match(run_id)
    assert f"iamwatch backfill --status {run_id}" in started.stderr.decode()
    plan = boto3.client("s3").get_object(
        Bucket=stack["BackfillResultsBucketName"], Key=plan_key(run_id)
    )
    prefixes = [item["prefix"] for item in orjson.loads(plan["Body"].read())]
    regions = {p.split("/")[3] for p in prefixes}
    assert regions == {"ap-southeast-2", "eu-north-1", "eu-west-1", "us-east-1", "us-east-2"}
    assert all(p.startswith("AWSLogs/111122223333/CloudTrail/") for p in prefixes)
    assert {p.split("/", 4)[4] for p in prefixes} == {"2026/11/02/", "2026/11/03/"}
    arn = stack["BackfillStateMachineArn"].replace(":stateMachine:", ":execution:") + f":{run_id}"
    execution = boto3.client("stepfunctions").describe_execution(executionArn=arn)
    given = orjson.loads(execution["input"])
    assert given["plan"] == {"bucket": stack["BackfillResultsBucketName"], "key": plan_key(run_id)}
    assert given["run"]["bucket"] == trail and given["run"]["prefixes"] == len(prefixes)
    assert (given["run"]["prefix_concurrency"], given["run"]["concurrency"]) == (10, 3)


def test_status_shows_the_execution_and_what_the_batches_counted(
    trail: str, stack: dict[str, str]
) -> None:
    started = run_iamwatch(
        "backfill", "--bucket", trail, "--since", "2026-11-02", "--until", "2026-11-03",
        "--stack", stack["name"],
    )  # fmt: skip
    run_id = started.stdout.decode().strip()
    shown = run_iamwatch("backfill", "--status", run_id, "--stack", stack["name"])
    assert shown.returncode == 0, shown.stderr.decode()
    assert f"run {run_id}: RUNNING" in shown.stdout.decode()
    assert "no batch finished yet" in shown.stdout.decode()
    progress = RunProgress(boto3.client("dynamodb"), stack["StateTableName"])
    found = Counter({"iam-user-created": 3, "root-account-used": 1})
    done = BatchResult(run_id, "p", objects=40, records=52_000, examined=310, findings=found)
    progress.add(done)
    progress.add(BatchResult(run_id=run_id, prefix="p", unreadable=["k"]))
    text = run_iamwatch("backfill", "--status", run_id, "--stack", stack["name"]).stdout.decode()
    assert "objects: 40 scanned in 1 batch(es); records 52,000, examined 310" in text
    assert "findings: 4 (iam-user-created 3, root-account-used 1)" in text
    assert "failures: 1 failed batch attempt(s), 1 unreadable object(s)" in text
    as_json = run_iamwatch(
        "backfill", "--status", run_id, "--format", "json", "--stack", stack["name"]
    )
    document: dict[str, Any] = orjson.loads(as_json.stdout)
    assert document["progress"]["findings"] == 4 and document["status"] == "RUNNING"
    # A stopped run may have missed findings: exit 3.
    arn = stack["BackfillStateMachineArn"].replace(":stateMachine:", ":execution:") + f":{run_id}"
    boto3.client("stepfunctions").stop_execution(executionArn=arn)
    aborted = run_iamwatch("backfill", "--status", run_id, "--stack", stack["name"])
    assert aborted.returncode == 3
    assert "ABORTED" in aborted.stdout.decode()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--since", "2026-11-02", "--until", "2026-11-03"], "--bucket is required"),
        (["--bucket", "b", "--until", "2026-11-03"], "--since is required"),
        (["--bucket", "b", "--since", "2026-11-04", "--until", "2026-11-03"], "before"),
        (["--bucket", "b", "--since", "2026/11/02", "--until", "2026-11-03"], "not a day"),
        (["--status", "nope"], "not a backfill run id"),
    ],
    ids=["no_bucket", "no_since", "backwards", "bad_day", "bad_run_id"],
)
def test_usage_errors_exit_2(arguments: list[str], message: str, aws_env: dict[str, str]) -> None:
    ran = run_iamwatch("backfill", *arguments)
    assert ran.returncode == 2, ran.stderr.decode()
    assert message in ran.stderr.decode()


def test_aws_errors_exit_5(aws_env: dict[str, str]) -> None:
    ran = run_iamwatch(
        "backfill", "--bucket", "no-such-bucket", "--since", "2026-11-02", "--until", "2026-11-03"
    )
    assert ran.returncode == 5
    assert "NoSuchBucket" in ran.stderr.decode()
    missing = run_iamwatch("backfill", "--status", "bf-20261122T101500Z-abcdef", "--stack", "nope")
    assert missing.returncode == 5


def test_an_organization_trail_is_found_under_its_organization_prefix(
    aws_env: dict[str, str], tmp_path: Path
) -> None:
    bucket = f"org-trail-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    # One account's first day, as an organization trail files it (in key order).
    account = EXAMPLES_DIR / "AWSLogs" / "444455556666"
    paths = sorted(account.rglob("*_20261102T*.json.gz"), key=lambda p: p.as_posix())
    for path in paths:
        key = "AWSLogs/o-abcdefghij/" + path.relative_to(EXAMPLES_DIR / "AWSLogs").as_posix()
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
    window = ("--since", "2026-11-02", "--until", "2026-11-03")
    plain = run_iamwatch("backfill", "--local", "--bucket", bucket, *window, home=tmp_path)
    assert plain.returncode == 5
    assert "--prefix AWSLogs/o-abcdefghij/" in plain.stderr.decode()
    org = run_iamwatch(
        "backfill", "--local", "--bucket", bucket, "--prefix", "AWSLogs/o-abcdefghij/", *window,
        home=tmp_path,
    )  # fmt: skip
    assert org.returncode == 0, org.stderr.decode()
    scanned = run_iamwatch(
        "scan", *map(str, paths), "--format", "jsonl", home=tmp_path / "scan"
    )  # fmt: skip
    assert findings_of(org) == findings_of(scanned) != []
