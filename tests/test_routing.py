"""EventBridge routing: the committed pattern matches the registry, and the packaged template's
rule, deployed into moto's EventBridge with an SQS target, routes every event a detector
needs, and nothing else."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from detectors import REGISTRY
from iamwatch.aws.routing import PATTERN_FILE, render
from tests.aws import route_through_eventbridge
from tests.conftest import EXAMPLES_DIR, ROOT, new_engine


def test_committed_deploy_files_are_generated_from_the_code() -> None:
    for relative, content in render(REGISTRY).items():
        assert (ROOT / relative).read_bytes() == content, "run: python -m iamwatch.aws.routing"


def example_records() -> list[dict[str, Any]]:
    records = []
    for path in sorted((EXAMPLES_DIR / "AWSLogs").rglob("*.json.gz")):
        records.extend(orjson.loads(gzip.decompress(path.read_bytes()))["Records"])
    return records


@pytest.fixture(scope="module")
def routing(moto_endpoint: str) -> tuple[list[dict[str, Any]], set[str]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        records = example_records()
        return records, {
            e["detail"]["eventID"] for e in route_through_eventbridge(moto_endpoint, records)
        }


def test_every_event_that_raises_a_finding_is_routed(
    routing: tuple[list[dict[str, Any]], set[str]],
) -> None:
    records, received = routing
    engine = new_engine()
    needed = set()
    for record in records:
        evaluation = engine.evaluate_raw(record)
        if evaluation is not None and evaluation.findings:
            needed.add(record["eventID"])
    assert len(needed) > 40
    assert needed - received == set()


def test_nothing_no_detector_wants_is_routed(
    routing: tuple[list[dict[str, Any]], set[str]],
) -> None:
    records, received = routing
    engine = new_engine()
    wanted = {r["eventID"] for r in records if engine.wants(r)}
    assert received - wanted == set()
    noise = [r for r in records if not engine.wants(r)]
    assert len(noise) > 400, "the examples hold plenty of noise to be filtered out"


def test_failed_calls_are_filtered_in_aws(
    routing: tuple[list[dict[str, Any]], set[str]],
) -> None:
    records, received = routing
    failed = {r["eventID"] for r in records if r.get("errorCode")}
    assert failed and not failed & received


def test_pattern_file_is_valid_json_within_eventbridge_limits() -> None:
    text = (ROOT / PATTERN_FILE).read_text()
    assert len(text.encode()) < 4096
    assert Path(ROOT / PATTERN_FILE).is_file()
