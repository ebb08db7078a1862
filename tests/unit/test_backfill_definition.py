"""The backfill state machine's definition (deploy/backfill-state-machine.json), checked offline:
its structure, and its data flow replayed with the input the CLI builds, down to the exact
event a Distributed Map item batch hands the batch function, which must accept it."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import orjson
import pytest

from iamwatch.aws.backfill import BatchFailed, ItemBatch
from iamwatch.backfill_plan import RunParameters, execution_input, plan_items, run_parameters
from tests.conftest import ROOT

DEFINITION: dict[str, Any] = orjson.loads(
    (ROOT / "deploy" / "backfill-state-machine.json").read_bytes()
)
OUTER = DEFINITION["States"]["Prefixes"]
INNER = OUTER["ItemProcessor"]["States"]["LogFiles"]
TASK = INNER["ItemProcessor"]["States"]["ScanBatch"]
PARAMETERS = run_parameters(
    run_id="bf-20261122T101500Z-abcdef",
    bucket="org-cloudtrail",
    since=date(2026, 11, 1),
    until=date(2026, 11, 8),
    prefix_count=2,
    batch_size=50,
    max_concurrency=100,
    tolerated_failure_percentage=5,
    results_bucket="iamwatch-results",
)
PREFIX = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/"


def resolve(path: str, data: Any, context: dict[str, Any] | None = None) -> Any:
    """A reference path (``$.a.b``, or ``$$.`` for the context object)."""
    root, rest = (context, path[3:]) if path.startswith("$$.") else (data, path[2:])
    assert path == "$" or path.startswith(("$.", "$$.")), path
    value = root
    for name in filter(None, rest.split(".")) if path != "$" else ():
        assert isinstance(value, dict) and name in value, f"{path}: no {name!r}"
        value = value[name]
    return value


def apply(template: dict[str, Any], data: Any, context: dict[str, Any] | None = None) -> Any:
    """A Parameters/ItemSelector/BatchInput template applied as Step Functions does."""
    out: dict[str, Any] = {}
    for key, value in template.items():
        if key.endswith(".$"):
            out[key[:-2]] = resolve(value, data, context)
        elif isinstance(value, dict):
            out[key] = apply(value, data, context)
        else:
            out[key] = value
    return out


def states(machine: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    found = []
    for name, state in machine["States"].items():
        found.append((name, state, machine))
        if "ItemProcessor" in state:
            found += states(state["ItemProcessor"])
    return found


@pytest.mark.parametrize(
    ("name", "state", "machine"), states(DEFINITION), ids=lambda x: str(x)[:20]
)
def test_every_state_is_reachable_and_ends_or_goes_on(
    name: str, state: dict[str, Any], machine: dict[str, Any]
) -> None:
    assert machine["StartAt"] in machine["States"]
    assert state.get("End") is True or state.get("Next") in machine["States"], name
    assert state["Type"] in {"Map", "Task"}


def test_both_maps_are_distributed_and_the_outer_can_host_the_inner() -> None:
    for state in (OUTER, INNER):
        assert state["Type"] == "Map"
        assert state["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", state["Label"])
        assert "ResultWriter" in state, "results go to S3, not into the state's output"
    # A child workflow that runs a Distributed Map must be Standard; the batches are short.
    assert OUTER["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] == "STANDARD"
    assert INNER["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] == "EXPRESS"
    assert OUTER["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert OUTER["ItemReader"]["ReaderConfig"] == {"InputType": "JSON"}
    assert INNER["ItemReader"]["Resource"] == "arn:aws:states:::s3:listObjectsV2"
    assert INNER["ItemBatcher"]["MaxInputBytesPerBatch"] <= 256 * 1024


def test_every_run_path_names_a_run_parameter() -> None:
    text = orjson.dumps(DEFINITION).decode()
    used = set(re.findall(r'"\$\.run\.(\w+)"', text))
    assert used
    assert used <= set(RunParameters.__dataclass_fields__)


def test_the_cli_input_flows_down_to_an_item_batch_the_function_accepts() -> None:
    given = execution_input(PARAMETERS)
    # Outer map: the plan object, its items, each made the child's input by the ItemSelector.
    reader = apply(OUTER["ItemReader"]["Parameters"], given)
    assert reader == {
        "Bucket": "iamwatch-results",
        "Key": "backfill/bf-20261122T101500Z-abcdef/plan.json",
    }
    (item,) = plan_items([PREFIX])
    child = apply(OUTER["ItemSelector"], given, {"Map": {"Item": {"Value": item, "Index": 0}}})
    assert child == {"prefix": PREFIX, "run": PARAMETERS.as_dict()}
    assert resolve(OUTER["MaxConcurrencyPath"], given) == PARAMETERS.prefix_concurrency
    assert resolve(OUTER["ToleratedFailurePercentagePath"], given) == 5
    # Inner map: lists the prefix, batches the objects with the BatchInput.
    listing = apply(INNER["ItemReader"]["Parameters"], child)
    assert listing == {"Bucket": "org-cloudtrail", "Prefix": PREFIX}
    assert resolve(INNER["ItemBatcher"]["MaxItemsPerBatchPath"], child) == 50
    assert resolve(INNER["MaxConcurrencyPath"], child) == PARAMETERS.concurrency
    objects = [
        {"Etag": '"e1"', "Key": f"{PREFIX}03/a.json.gz", "LastModified": 1762128000, "Size": 9,
         "StorageClass": "STANDARD"},
    ]  # fmt: skip
    batch = {"BatchInput": apply(INNER["ItemBatcher"]["BatchInput"], child), "Items": objects}
    # The Task hands the whole batch to the function, which parses it.
    payload = apply(TASK["Parameters"], batch)["Payload"]
    parsed = ItemBatch.parse(payload)
    key = str(objects[0]["Key"])
    assert parsed == ItemBatch(PARAMETERS.run_id, "org-cloudtrail", PREFIX, (key,))
    # Results go to the deployed results bucket (a fixed place: the role may write nowhere
    # else), under backfill/, each map run in a folder of its own.
    for writer in (OUTER["ResultWriter"], INNER["ResultWriter"]):
        assert writer["Resource"] == "arn:aws:states:::s3:putObject"
        assert writer["Parameters"] == {"Bucket": "${ResultsBucket}", "Prefix": "backfill/results"}


def test_failed_batches_are_retried_by_their_error_name_within_the_express_limit() -> None:
    retried = {error for rule in TASK["Retry"] for error in rule["ErrorEquals"]}
    assert BatchFailed.__name__ in retried
    assert "Lambda.TooManyRequestsException" in retried  # the function's reserved concurrency
    assert TASK["Parameters"]["FunctionName"] == "${BatchFunctionArn}"
    assert TASK["OutputPath"] == "$.Payload"
    serverless = (ROOT / "serverless.yml").read_text()
    match = re.search(
        r"handlers/backfill_batch\.handler\n(?:\s+\w.*\n)*?\s+timeout: (\d+)", serverless
    )
    assert match, "the backfillBatch function's timeout"
    # The function gives up before the task does, and both within an Express child's 5 minutes.
    assert int(match.group(1)) < TASK["TimeoutSeconds"] < 300


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"Items": [], "BatchInput": {"run_id": "x", "bucket": "b", "prefix": "p"}},
        {
            "Items": [{"Size": 1}],
            "BatchInput": {"run_id": PARAMETERS.run_id, "bucket": "b", "prefix": "p"},
        },
        {"Items": [{"Key": "k"}], "BatchInput": {"bucket": "b", "prefix": "p"}},
    ],
    ids=["not_a_batch", "bad_run_id", "item_without_key", "no_run_id"],
)
def test_what_is_not_an_item_batch_of_this_state_machine_is_refused(event: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"batch|BatchInput|Key"):
        ItemBatch.parse(event)
