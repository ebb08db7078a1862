"""Detection test cases: CloudTrail records and what a detector must (or must not) raise on them.

The layout is iamwatch's own fixtures' (tests/events/): one folder per detector id, holding
``positive_*.json`` cases (the detector raises a finding) and ``negative_*.json`` ones (it
raises none). A case file is any of

- iamwatch's fixture format: ``{"description": ..., "records": [...], "expect": [...]}``,
  where ``expect`` lists every finding the records raise (detector, severity, event_id);
- ``{"records": [...], "severity": "high"}``: the records, and optionally the severity the
  folder's detector must raise at;
- a CloudTrail log file (``{"Records": [...]}``) or a single record.

Records of a case run in order through a fresh engine (stateful detectors see them all).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from typing import Any

import orjson

from iamwatch.engine import Engine, MalformedRecordError
from iamwatch.finding import Finding
from iamwatch.registry import DetectionContext, Registry
from iamwatch.severity import Severity
from iamwatch.state import SQLiteStateStore

CASE_KINDS = ("positive", "negative")


class CaseError(ValueError):
    """A case that cannot be run: the message says why, naming the file."""


@dataclass(frozen=True, slots=True)
class CaseResult:
    name: str  # "<detector id>/<file name without .json>"
    passed: bool
    reason: str


def builtin_cases() -> Traversable:
    """iamwatch's own fixtures, shipped with the detectors package."""
    from importlib.resources import files

    return files("detectors") / "cases"


def discover(root: Traversable) -> Iterator[tuple[str, Traversable]]:
    """(detector id, case file) for every positive_*.json and negative_*.json one folder down
    from ``root``, in sorted order; folders that do not look like detector ids are skipped
    (iamwatch's own "messy" parser cases among them)."""
    for folder in sorted(root.iterdir(), key=lambda item: item.name):
        if not folder.is_dir() or folder.name.startswith((".", "_")) or folder.name == "messy":
            continue
        for case in sorted(folder.iterdir(), key=lambda item: item.name):
            if case.name.endswith(".json") and case.name.startswith(CASE_KINDS):
                yield folder.name, case


def run_case(detector_id: str, case: Traversable, registry: Registry) -> CaseResult:
    name = f"{detector_id}/{case.name.removesuffix('.json')}"
    if detector_id not in registry:
        return CaseResult(name, False, f"no detector {detector_id!r} is installed")
    try:
        document = orjson.loads(case.read_bytes())
        records, expect, severity = _parts(document)
        findings = _findings(records, registry)
    except (orjson.JSONDecodeError, CaseError, MalformedRecordError) as error:
        return CaseResult(name, False, f"cannot run the case: {error}")
    raised = [f for f in findings if f.detector == detector_id]
    if expect is not None:
        wanted = {(e["detector"], e["severity"], e["event_id"]) for e in expect}
        got = {(f.detector, f.severity.value, f.event_id) for f in findings}
        if wanted != got:
            return CaseResult(name, False, _difference(wanted, got))
    if case.name.startswith("negative"):
        if raised:
            return CaseResult(name, False, f"raised {_listed(raised)}, expected none")
        return CaseResult(name, True, "raised nothing")
    if not raised:
        return CaseResult(name, False, "raised nothing, expected a finding")
    if severity is not None and all(f.severity is not severity for f in raised):
        return CaseResult(
            name, False, f"raised {_listed(raised)}, expected severity {severity.value}"
        )
    return CaseResult(name, True, f"raised {_listed(raised)}")


def _parts(document: Any) -> tuple[list[Any], list[Mapping[str, str]] | None, Severity | None]:
    if isinstance(document, list):
        return document, None, None
    if not isinstance(document, dict):
        raise CaseError("expected a JSON object or array")
    if "records" in document or "Records" in document:
        records = document.get("records", document.get("Records"))
        if not isinstance(records, list):
            raise CaseError("records is not a list")
        expect = document.get("expect")
        if expect is not None and (
            not isinstance(expect, list)
            or not all(isinstance(e, dict) and {"detector", "severity", "event_id"} <= e.keys()
                       for e in expect)
        ):  # fmt: skip
            raise CaseError("expect must list objects with detector, severity and event_id")
        severity = document.get("severity")
        try:
            wanted = Severity(str(severity).lower()) if severity is not None else None
        except ValueError:
            raise CaseError(f"severity {severity!r} is not a severity") from None
        return records, expect, wanted
    return [document], None, None


def _findings(records: list[Any], registry: Registry) -> list[Finding]:
    engine = Engine(registry, DetectionContext(state=SQLiteStateStore()))
    findings: list[Finding] = []
    for number, raw in enumerate(records, start=1):
        try:
            evaluation = engine.evaluate_raw(raw)
        except MalformedRecordError as error:
            raise CaseError(f"record {number}: {error}") from None
        if evaluation is None:
            continue
        if evaluation.failures:
            failure = evaluation.failures[0]
            raise CaseError(f"record {number}: detector {failure.detector} failed: {failure.error}")
        findings.extend(evaluation.findings)
    return findings


def _listed(findings: list[Finding]) -> str:
    return ", ".join(f"{f.detector} {f.severity.value} on {f.event_id}" for f in findings)


def _difference(wanted: set[tuple[str, str, str]], got: set[tuple[str, str, str]]) -> str:
    missing = ", ".join(" ".join(item) for item in sorted(wanted - got)) or "none"
    extra = ", ".join(" ".join(item) for item in sorted(got - wanted)) or "none"
    return f"expected findings missing: {missing}; unexpected findings: {extra}"
