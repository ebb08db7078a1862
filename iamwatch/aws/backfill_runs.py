"""Starting and following backfill runs in AWS, for ``iamwatch backfill``: where the deployed
state machine is (the stack's outputs), which accounts and regions the trail bucket holds, the
run's plan and execution, and its progress (the execution, its map runs, the batches'
counters). Every call is made with the caller's credentials; errors are ``RunError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from iamwatch.backfill_plan import (
    ACCOUNT,
    ORGANIZATION,
    REGION,
    RunParameters,
    execution_input,
    normalized_base,
    plan_items,
    plan_key,
)

# The execution states in which a run is still going or went well.
GOOD_STATES = frozenset({"RUNNING", "SUCCEEDED", "PENDING_REDRIVE"})


class RunError(Exception):
    """AWS refused or failed a call, or the deployment or run cannot be found."""


@dataclass(frozen=True, slots=True)
class BackfillDeployment:
    """What ``iamwatch backfill`` needs of the deployed stack (its outputs)."""

    state_machine_arn: str
    results_bucket: str
    state_table: str

    @classmethod
    def from_stack(cls, cloudformation: Any, stack: str) -> BackfillDeployment:
        stacks = _call(cloudformation.describe_stacks, StackName=stack)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
        wanted = ("BackfillStateMachineArn", "BackfillResultsBucketName", "StateTableName")
        missing = [name for name in wanted if name not in outputs]
        if missing:
            raise RunError(
                f"stack {stack} has no output {', '.join(missing)}: deploy this version of "
                "iamwatch first (make deploy), or pass --stack"
            )
        return cls(outputs[wanted[0]], outputs[wanted[1]], outputs[wanted[2]])

    def execution_arn(self, run_id: str) -> str:
        # arn:aws:states:<region>:<account>:stateMachine:<name> -> ...:execution:<name>:<run>
        head, _, name = self.state_machine_arn.rpartition(":stateMachine:")
        return f"{head}:execution:{name}:{run_id}"


def _call(method: Any, **arguments: Any) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return method(**arguments)
    except (BotoCoreError, ClientError) as error:
        raise RunError(str(error)) from None


def children(s3: Any, bucket: str, prefix: str) -> list[str]:
    """The next path element under ``prefix`` (``ListObjectsV2`` with a ``/`` delimiter)."""
    names: list[str] = []
    token: str | None = None
    while True:
        arguments: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/"}
        if token:
            arguments["ContinuationToken"] = token
        page = _call(s3.list_objects_v2, **arguments)
        names += [p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
        token = page.get("NextContinuationToken")
        if not token:
            return names


def discover(
    s3: Any, bucket: str, base: str, accounts: list[str], regions: list[str]
) -> dict[str, list[str]]:
    """Each account's regions under ``base``: the given ones, or those the bucket holds."""
    base = normalized_base(base)
    if not accounts:
        found = children(s3, bucket, base)
        organizations = [name for name in found if ORGANIZATION.match(name)]
        accounts = [name for name in found if ACCOUNT.match(name)]
        if not accounts and organizations:
            raise RunError(
                f"s3://{bucket}/{base} holds an organization trail: pass "
                f"--prefix {base}{organizations[0]}/"
            )
        if not accounts:
            raise RunError(f"no account folders under s3://{bucket}/{base}")
    layout: dict[str, list[str]] = {}
    for account in sorted(set(accounts)):
        chosen = regions or [
            name
            for name in children(s3, bucket, f"{base}{account}/CloudTrail/")
            if REGION.match(name)
        ]
        if chosen:
            layout[account] = sorted(set(chosen))
    if not layout:
        raise RunError(f"no CloudTrail region folders under s3://{bucket}/{base}")
    return layout


def list_items(s3: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    """Every object under ``prefix`` as the state machine's ``s3:listObjectsV2`` ItemReader
    hands it to the map (``Key``, ``Size``, ``Etag``, ``LastModified`` in epoch seconds,
    ``StorageClass``), in key order."""
    token: str | None = None
    while True:
        arguments: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if token:
            arguments["ContinuationToken"] = token
        page = _call(s3.list_objects_v2, **arguments)
        for entry in page.get("Contents", []):
            yield {
                "Etag": entry.get("ETag", ""),
                "Key": entry["Key"],
                "LastModified": int(entry["LastModified"].timestamp()),
                "Size": entry.get("Size", 0),
                "StorageClass": entry.get("StorageClass", "STANDARD"),
            }
        token = page.get("NextContinuationToken")
        if not token:
            return


def start_run(
    s3: Any,
    stepfunctions: Any,
    deployment: BackfillDeployment,
    parameters: RunParameters,
    prefixes: list[str],
) -> str:
    """Write the run's plan, start its execution (named by the run id); its ARN."""
    _call(
        s3.put_object,
        Bucket=deployment.results_bucket,
        Key=plan_key(parameters.run_id),
        Body=orjson.dumps(plan_items(prefixes)),
        ContentType="application/json",
    )
    started = _call(
        stepfunctions.start_execution,
        stateMachineArn=deployment.state_machine_arn,
        name=parameters.run_id,
        input=orjson.dumps(execution_input(parameters)).decode(),
    )
    return str(started["executionArn"])


@dataclass(slots=True)
class RunStatus:
    run_id: str
    status: str
    started: str | None
    stopped: str | None
    parameters: Mapping[str, Any]
    # The outer map's item counts (prefixes), from DescribeMapRun; empty before it started.
    prefixes: dict[str, int] = field(default_factory=dict)
    # The batches' counters (iamwatch.aws.runs); None before the first batch finished.
    progress: dict[str, Any] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        failed = self.prefixes.get("failed", 0) + self.prefixes.get("timedOut", 0)
        return self.status in GOOD_STATES and not failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "started": self.started,
            "stopped": self.stopped,
            "run": dict(self.parameters),
            "prefixes": self.prefixes,
            "progress": self.progress,
            "error": self.error,
        }


def run_status(
    stepfunctions: Any, progress: Any, deployment: BackfillDeployment, run_id: str
) -> RunStatus:
    """Where a run is: its execution, the outer map run's prefix counts and the counters."""
    execution = _call(
        stepfunctions.describe_execution, executionArn=deployment.execution_arn(run_id)
    )
    given = orjson.loads(execution.get("input") or "{}")
    status = RunStatus(
        run_id=run_id,
        status=str(execution["status"]),
        started=_moment(execution.get("startDate")),
        stopped=_moment(execution.get("stopDate")),
        parameters=given.get("run", {}),
        error=execution.get("error") or execution.get("cause"),
    )
    runs = _call(stepfunctions.list_map_runs, executionArn=execution["executionArn"])
    for map_run in runs.get("mapRuns", [])[:1]:
        described = _call(stepfunctions.describe_map_run, mapRunArn=map_run["mapRunArn"])
        status.prefixes = {k: int(v) for k, v in described.get("itemCounts", {}).items()}
    status.progress = progress.get(run_id)
    return status


def _moment(value: Any) -> str | None:
    return None if value is None else value.isoformat()
