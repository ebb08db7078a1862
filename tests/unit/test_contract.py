"""Ties the registry, the detector modules, the runbooks, the fixtures and everything derived
from the declarations (README's catalogue, the exports' types, enrichment, samples) together:
a detector is one module, one runbook, one fixture folder and one registry line."""

from __future__ import annotations

import importlib
import pkgutil
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

import detectors
from detectors import REGISTRY
from iamwatch.aws.enrichment import ENRICHMENT_ACTIONS, LOOKUPS, lookups_for
from iamwatch.engine import Engine
from iamwatch.registry import ASFF_TYPES, DetectionContext, Registry
from iamwatch.remediation import ActionName
from iamwatch.runbooks import REMEDIATION_ACTIONS, REQUIRED_SECTIONS, load_runbook, runbook_ids
from iamwatch.slack.samples import sample_case, sample_finding
from iamwatch.state import SQLiteStateStore
from tests.conftest import EVENTS_DIR, ROOT, load_case
from tools import catalogue

IDS = REGISTRY.ids

# The catalogue published so far (DESIGN.md, README): alerts, runbooks, exports and tests use
# these ids, so none may disappear or change severity. New detectors need no line here.
PUBLISHED = {
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
_CELL_BORDER = re.compile(r"(?<!\\)\|")


def readme_catalogue() -> dict[str, str]:
    """The ids and severities of README's catalogue table, the published contract."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index(catalogue.BEGIN) : text.index(catalogue.END)]
    found = {}
    for line in table.splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in _CELL_BORDER.split(line)[1:-1]]
            found[cells[0].strip("`")] = cells[2]
    return found


def test_ids_and_severities_are_a_contract() -> None:
    registered = {item.meta.id: item.meta.severity.value for item in REGISTRY}
    assert readme_catalogue() == registered, "README's catalogue is the registry's"
    assert PUBLISHED.items() <= registered.items(), "a published id was removed or changed"


def test_readme_catalogue_is_generated_from_the_registry() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert catalogue.rewrite(text, REGISTRY) == text, "run: python -m tools.catalogue"


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
    assert book.body.startswith("# "), "a runbook starts with its title (no front matter)"
    assert book.title == meta.title
    assert book.sections == REQUIRED_SECTIONS
    for section in REQUIRED_SECTIONS:
        assert len(book.section(section)) > 80, f"{section} is too thin"
    triage_steps = re.findall(r"^\d+\. ", book.section("Triage"), re.MULTILINE)
    assert 2 <= len(triage_steps) <= 4
    assert "aws " in book.section("Triage"), "triage names the AWS CLI commands to run"
    assert set(book.actions) <= REMEDIATION_ACTIONS
    assert book.actions == meta.remediation_actions
    named = re.search(r"Automated actions: (.+)", book.section("Remediation"))
    assert named is not None
    assert set(re.findall(r"`([a-z-]+)`", named.group(1))) == set(meta.remediation_actions)
    assert "https://docs.aws.amazon.com/" in book.section("References")


def test_no_runbook_without_a_detector() -> None:
    books = {path.stem for path in (ROOT / "runbooks").glob("*.md")}
    assert books == set(IDS)
    # What the CLI's help takes its example id from, without importing the detectors.
    assert runbook_ids() == sorted(IDS)


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
def test_detector_declares_what_routing_exports_and_remediation_need(detector_id: str) -> None:
    meta = REGISTRY.get(detector_id).meta
    assert meta.events or meta.identity_types
    namespace, category = meta.asff_type.split("/")
    assert category in ASFF_TYPES[namespace]
    assert meta.attack_techniques
    assert all(re.fullmatch(r"T\d{4}(\.\d{3})?", t) for t in meta.attack_techniques)
    assert set(meta.remediation_actions) <= {action.value for action in ActionName}
    assert meta.description.strip() and meta.severity_rules.strip()


@pytest.mark.parametrize("detector_id", IDS)
def test_enrichment_permissions_are_read_only_calls_the_enricher_makes(detector_id: str) -> None:
    permissions = REGISTRY.get(detector_id).meta.enrichment_permissions
    for permission in permissions:
        service, action = permission.split(":")
        assert service == "iam"
        assert action.startswith(("Get", "List")), "enrichment is read-only"
    assert set(permissions) <= set(ENRICHMENT_ACTIONS), "the enricher never calls it"
    # Every permission is used: each belongs to a look-up all of whose calls are declared.
    used = {action for lookup in lookups_for(permissions) for action in LOOKUPS[lookup]}
    assert used == set(permissions), "declare every call of a look-up, or none"


@pytest.mark.parametrize("detector_id", IDS)
def test_detector_sample_is_its_first_positive_case_shipped_as_package_data(
    detector_id: str,
) -> None:
    first = sorted((EVENTS_DIR / detector_id).glob("positive_*.json"))[0]
    shipped = sample_case(detector_id)
    assert shipped.name == first.name
    assert shipped.read_bytes() == first.read_bytes()
    finding = sample_finding(detector_id)
    expected = {(e["event_id"], e["severity"]) for e in load_case(first).expect}
    assert finding.detector == detector_id
    assert (finding.event_id, finding.severity.value) in expected


class RecordingStateStore(SQLiteStateStore):
    """The SQLite state store, noting whether a detector used it."""

    def __init__(self) -> None:
        super().__init__()
        self.used = False

    def count_in_window(self, key: str, event_id: str, at: datetime, window: timedelta) -> int:
        self.used = True
        return super().count_in_window(key, event_id, at, window)

    def claim(self, key: str, event_id: str, at: datetime, window: timedelta) -> bool:
        self.used = True
        return super().claim(key, event_id, at, window)

    def remember(self, key: str, value: str) -> None:
        self.used = True
        super().remember(key, value)

    def recall(self, key: str) -> str | None:
        self.used = True
        return super().recall(key)


@pytest.mark.parametrize("detector_id", IDS)
def test_stateful_is_declared_by_exactly_the_detectors_that_keep_state(detector_id: str) -> None:
    item = REGISTRY.get(detector_id)
    state = RecordingStateStore()
    engine = Engine(Registry([item]), DetectionContext(state=state))
    for path in sorted((EVENTS_DIR / detector_id).glob("*.json")):
        for record in load_case(path).records:
            engine.evaluate_raw(record)
    assert state.used is item.meta.stateful


# --- no detector is named in the shared code ----------------------------------------------------

SHARED_CODE = ("iamwatch", "handlers", "deploy", "serverless.yml")
GENERATED = {"__pycache__", ".serverless", "node_modules"}


def shared_files() -> list[Path]:
    found = []
    for name in SHARED_CODE:
        path = ROOT / name
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        for candidate in candidates:
            parts = set(candidate.relative_to(ROOT).parts)
            if candidate.is_file() and not parts & GENERATED:
                found.append(candidate)
    return found


def test_no_detector_id_is_spelled_out_in_the_shared_code() -> None:
    """Shared code derives from the registry: no detector id, with hyphens or underscores,
    in code, comments, help texts or file names of iamwatch/, handlers/, deploy/ and
    serverless.yml."""
    ids = set(IDS) | {path.stem for path in (ROOT / "runbooks").glob("*.md")}
    forms = sorted({form for i in ids for form in (i, i.replace("-", "_"))}, key=len)
    spelled = re.compile("|".join(re.escape(form) for form in reversed(forms)), re.IGNORECASE)
    files = shared_files()
    assert len(files) > 50 and ROOT / "serverless.yml" in files
    hits = []
    for path in files:
        relative = path.relative_to(ROOT).as_posix()
        if match := spelled.search(relative):
            hits.append(f"{relative}: file name has {match.group()}")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if match := spelled.search(line):
                hits.append(f"{relative}:{number}: {match.group()}")
    assert hits == []


def test_every_fixture_event_id_is_unique() -> None:
    seen: dict[str, str] = {}
    for path in sorted(EVENTS_DIR.glob("*/*.json")):
        for record in load_case(path).records:
            event_id = record["eventID"]
            assert event_id not in seen, f"{event_id} in {path} and {seen[event_id]}"
            seen[event_id] = str(path)
