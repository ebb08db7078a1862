"""The detection service isolates detectors: one raising never hides the others' findings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import orjson

from detectors import REGISTRY
from detectors.iam_user_created import META
from iamwatch.engine import Engine
from iamwatch.events import CloudTrailRecord
from iamwatch.finding import Finding
from iamwatch.registry import DetectionContext, Hit, Registry, detector
from iamwatch.sources import Problem, expand
from iamwatch.state import SQLiteStateStore
from tests.conftest import FailedDetection, base_record, new_detection, scan_items

BROKEN_META = replace(META, id="broken-detector")


@detector(BROKEN_META)
def _broken(record: CloudTrailRecord, context: DetectionContext) -> Iterator[Hit]:
    raise RuntimeError("bug in a detector")


def test_a_raising_detector_is_reported_and_the_others_still_run(tmp_path: Path) -> None:
    registry = Registry([_broken, *REGISTRY])
    engine = Engine(registry, DetectionContext(state=SQLiteStateStore()))
    path = tmp_path / "records.jsonl"
    path.write_bytes(orjson.dumps(base_record("iam-user-created")) + b"\n")
    detection = new_detection(engine)
    items = scan_items(detection, expand([str(path)]))
    failures = [i for i in items if isinstance(i, FailedDetection)]
    findings = [i for i in items if isinstance(i, Finding)]
    assert [f.failure.detector for f in failures] == ["broken-detector"]
    assert "RuntimeError: bug in a detector" in failures[0].failure.error
    assert str(failures[0].location) == f"{path}: line 1"
    assert [f.detector for f in findings] == ["iam-user-created"]
    assert detection.stats.detector_failures == 1


def test_records_no_detector_wants_are_counted_but_not_modelled(tmp_path: Path) -> None:
    noise = {
        **base_record(),
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "eventTime": "garbage that would fail parsing",
    }
    path = tmp_path / "noise.jsonl"
    path.write_bytes(orjson.dumps(noise) + b"\n")
    detection = new_detection(Engine(REGISTRY, DetectionContext(state=SQLiteStateStore())))
    items = scan_items(detection, expand([str(path)]))
    assert items == []
    assert detection.stats.records == 1 and detection.stats.examined == 0


def test_unreadable_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "locked.json"
    path.write_bytes(b"{}")
    path.chmod(0)
    detection = new_detection(Engine(REGISTRY, DetectionContext(state=SQLiteStateStore())))
    items = scan_items(detection, expand([str(path)]))
    path.chmod(0o600)
    # root can read anything; either way nothing raises and nothing is silently lost.
    assert all(isinstance(i, Problem) for i in items)
