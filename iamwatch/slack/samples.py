"""Sample findings for previews and test alerts: each detector's first positive fixture case
(``tests/events/<id>/positive_*.json``, shipped as ``detectors/cases``) run through the real
detectors with a fresh state store."""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import orjson

from iamwatch.finding import DEFAULT_RUNBOOK_BASE_URL, Finding

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

Record = dict[str, Any]
# The fixture cases, as package data of the detectors package.
CASES = "cases"


class UnknownDetectorError(KeyError):
    """No sample exists for this id (it is not a detector)."""


def sample_case(detector_id: str) -> Traversable:
    """The detector's first positive fixture case, by file name."""
    from detectors import REGISTRY

    if detector_id not in REGISTRY:
        raise UnknownDetectorError(detector_id)
    folder = resources.files("detectors").joinpath(CASES, detector_id)
    positives = sorted(
        (entry for entry in folder.iterdir() if entry.name.startswith("positive_")),
        key=lambda entry: entry.name,
    )
    if not positives:
        raise RuntimeError(f"no positive fixture case for {detector_id} in detectors/{CASES}")
    return positives[0]


@cache
def _case_records(detector_id: str) -> tuple[Record, ...]:
    data = orjson.loads(sample_case(detector_id).read_bytes())
    return tuple(data["records"])


def sample_records(detector_id: str) -> list[Record]:
    """The records of the detector's sample case (a copy, free to change)."""
    return copy.deepcopy(list(_case_records(detector_id)))


def sample_finding(detector_id: str, runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL) -> Finding:
    """The detector's first finding on its sample case, with a fresh state store."""
    from detectors import REGISTRY
    from iamwatch.engine import Engine
    from iamwatch.registry import DetectionContext
    from iamwatch.state import SQLiteStateStore

    records = sample_records(detector_id)
    state = SQLiteStateStore()
    try:
        engine = Engine(REGISTRY, DetectionContext(state=state), runbook_base_url=runbook_base_url)
        for record in records:
            evaluation = engine.evaluate_raw(record)
            if evaluation is None:
                continue
            if evaluation.failures:
                failure = evaluation.failures[0]
                raise RuntimeError(
                    f"detector {failure.detector} failed on its sample: {failure.error}"
                )
            for finding in evaluation.findings:
                if finding.detector == detector_id:
                    return finding
    finally:
        state.close()
    raise RuntimeError(f"the sample case for {detector_id} raises no finding")
