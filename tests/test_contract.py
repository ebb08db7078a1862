"""Ties the registry, the detector modules, the runbooks and the fixtures together."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import detectors
from detectors import REGISTRY
from iamwatch.runbooks import REMEDIATION_ACTIONS, REQUIRED_SECTIONS, load_runbook
from tests.conftest import EVENTS_DIR, ROOT, load_case

# The public contract from DESIGN.md: alerts, runbooks, exports and tests use these ids.
CATALOGUE = {
    "iam-user-created": "medium",
    "access-key-created": "medium",
    "console-login-without-mfa": "high",
    "root-account-used": "critical",
    "console-password-created": "medium",
    "mfa-device-removed": "high",
    "admin-policy-attached": "high",
    "inline-user-policy": "low",
    "permissions-boundary-removed": "high",
    "access-key-reactivated": "medium",
    "user-added-to-group": "low",
    "console-login-failures": "medium",
    "password-policy-weakened": "medium",
    "cloudtrail-tampering": "critical",
    "identity-center-admin-assignment": "high",
    "iamwatch-tampering": "critical",
}
IDS = sorted(CATALOGUE)


def test_registry_is_exactly_the_catalogue() -> None:
    assert {item.meta.id: item.meta.severity.value for item in REGISTRY} == CATALOGUE


def test_every_detector_module_is_registered() -> None:
    modules = {
        info.name
        for info in pkgutil.iter_modules(detectors.__path__)
        if not info.name.startswith("_")
    }
    assert modules == {item.module.removeprefix("detectors.") for item in REGISTRY}


@pytest.mark.parametrize("detector_id", IDS)
def test_detector_module_is_named_after_its_id(detector_id: str) -> None:
    item = REGISTRY.get(detector_id)
    assert item.module == "detectors." + detector_id.replace("-", "_")
    module = importlib.import_module(item.module)
    assert module.META is item.meta
    assert module.__doc__ and module.__doc__.startswith(f"{detector_id}:")


@pytest.mark.parametrize("detector_id", IDS)
def test_detector_has_a_complete_runbook(detector_id: str) -> None:
    book = load_runbook(detector_id)
    meta = REGISTRY.get(detector_id).meta
    assert book.front_matter["id"] == detector_id
    assert book.front_matter["severity"] == meta.severity.value
    assert book.sections == REQUIRED_SECTIONS
    for section in REQUIRED_SECTIONS:
        assert len(book.section(section)) > 80, f"{section} is too thin"
    triage_steps = re.findall(r"^\d+\. ", book.section("Triage"), re.MULTILINE)
    assert 2 <= len(triage_steps) <= 4
    assert "aws " in book.section("Triage"), "triage names the AWS CLI commands to run"
    assert set(book.actions) <= REMEDIATION_ACTIONS
    named = re.search(r"Automated actions: (.+)", book.section("Remediation"))
    assert named is not None
    assert set(re.findall(r"`([a-z-]+)`", named.group(1))) == set(book.actions)
    assert "https://docs.aws.amazon.com/" in book.section("References")


def test_no_runbook_without_a_detector() -> None:
    books = {path.stem for path in (ROOT / "runbooks").glob("*.md")}
    assert books == set(IDS)


@pytest.mark.parametrize("detector_id", IDS)
def test_detector_has_positive_and_negative_fixtures(detector_id: str) -> None:
    cases = [load_case(p) for p in sorted((EVENTS_DIR / detector_id).glob("*.json"))]
    positives = [c for c in cases if c.path.stem.startswith("positive_")]
    negatives = [c for c in cases if c.path.stem.startswith("negative_")]
    assert len(positives) >= 2 and len(negatives) >= 2
    assert all(c.path.stem.startswith(("positive_", "negative_")) for c in cases)
    for case in positives:
        assert any(e["detector"] == detector_id for e in case.expect), case.id
    for case in negatives:
        assert not any(e["detector"] == detector_id for e in case.expect), case.id


@pytest.mark.parametrize("detector_id", IDS)
def test_detector_declares_what_routing_and_enrichment_need(detector_id: str) -> None:
    meta = REGISTRY.get(detector_id).meta
    assert meta.events or meta.identity_types
    for permission in meta.enrichment_permissions:
        service, action = permission.split(":")
        assert service in {"iam", "cloudtrail", "sso"}
        assert action.startswith(("Get", "List", "Describe")), "enrichment is read-only"


def test_every_fixture_event_id_is_unique() -> None:
    seen: dict[str, str] = {}
    for path in sorted(EVENTS_DIR.glob("*/*.json")):
        for record in load_case(path).records:
            event_id = record["eventID"]
            assert event_id not in seen, f"{event_id} in {path} and {seen[event_id]}"
            seen[event_id] = str(path)
