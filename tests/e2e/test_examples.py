"""The examples/ archive: a finding for every detector, none from the noise or near-misses."""

from __future__ import annotations

import pytest

from detectors import REGISTRY
from tests.conftest import EXAMPLES_DIR, detector_cases, findings_of
from tests.conftest import run_iamwatch as iamwatch

CASES = detector_cases()


@pytest.fixture(scope="module")
def scanned() -> list[dict[str, object]]:
    result = iamwatch("scan", str(EXAMPLES_DIR), "--format", "jsonl")
    assert result.returncode == 0, result.stderr.decode()
    assert b"Malformed records or files: 0." in result.stderr
    return findings_of(result)


def test_examples_raise_exactly_the_fixture_expectations(scanned: list[dict[str, object]]) -> None:
    expected = {(e["detector"], e["event_id"]) for case in CASES for e in case.expect}
    assert {(f["detector"], f["event_id"]) for f in scanned} == expected


def test_every_detector_fires_on_the_examples(scanned: list[dict[str, object]]) -> None:
    assert {f["detector"] for f in scanned} == set(REGISTRY.ids)


def test_near_misses_raise_nothing_for_their_detector(scanned: list[dict[str, object]]) -> None:
    raised = {(f["detector"], f["event_id"]) for f in scanned}
    for case in CASES:
        if case.path.stem.startswith("negative_"):
            detector = case.path.parent.name
            for record in case.records:
                assert (detector, record["eventID"]) not in raised, case.id


def test_examples_span_accounts_and_regions(scanned: list[dict[str, object]]) -> None:
    layout = list((EXAMPLES_DIR / "AWSLogs").glob("*/CloudTrail/*/*/*/*/*.json.gz"))
    assert len({p.parts[-7] for p in layout}) >= 3
    assert len({p.parts[-5] for p in layout}) >= 4
