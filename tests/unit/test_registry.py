"""The registry refuses duplicate ids and incomplete declarations, and dispatches cheaply."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from detectors import REGISTRY
from detectors.iam_user_created import META
from iamwatch.registry import (
    DetectionContext,
    DetectorMeta,
    Hit,
    Registry,
    RegistryError,
    detector,
)
from iamwatch.severity import Severity


def _noop(record: Any, context: DetectionContext) -> Iterator[Hit]:
    yield from ()


def test_duplicate_id_is_refused() -> None:
    with pytest.raises(RegistryError, match="duplicate detector id 'iam-user-created'"):
        Registry([detector(META)(_noop), detector(META)(_noop)])


def test_undecorated_function_is_refused() -> None:
    with pytest.raises(RegistryError, match="not a Detector"):
        Registry([_noop])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": "Bad_Id"}, "lowercase words"),
        ({"title": " "}, "title is empty"),
        ({"next_step": ""}, "next_step is empty"),
        ({"severity_rules": ""}, "severity_rules is empty"),
        ({"events": {}, "identity_types": frozenset()}, "no events"),
        ({"events": {"iam": frozenset({"CreateUser"})}}, "not an AWS service host"),
        ({"events": {"iam.amazonaws.com": frozenset()}}, "lists no event names"),
        ({"events": {"iam.amazonaws.com": frozenset({"Create User"})}}, "not an API action"),
        ({"severity": "medium"}, "must be a Severity"),
        ({"description": ""}, "description is empty"),
        ({"asff_type": ""}, "not an ASFF namespace/category"),
        ({"asff_type": "TTPs"}, "not an ASFF namespace/category"),
        ({"asff_type": "TTPs/Sneakiness"}, "not an ASFF namespace/category"),
        ({"asff_type": "Threats/Persistence"}, "not an ASFF namespace/category"),
        ({"attack_techniques": ()}, "declares no ATT&CK technique"),
        ({"attack_techniques": ("T98",)}, "'T98' is not like T1098"),
        ({"attack_techniques": ("T1098.1",)}, "'T1098.1' is not like T1098"),
        ({"attack_techniques": ("TA0003",)}, "'TA0003' is not like T1098"),
        ({"attack_techniques": ("T1136.003", "T1136.003")}, "repeats a technique"),
        ({"remediation_actions": ("delete-user",)}, "'delete-user' is not one of"),
        ({"remediation_actions": ("quarantine-user",) * 2}, "repeats an action"),
        ({"enrichment_permissions": ("GetUser",)}, "not like iam:GetUser"),
        ({"enrichment_permissions": ("iam:DeleteUser",)}, "'iam:DeleteUser' is not read-only"),
        ({"own_rule": "Own Rule"}, "own_rule must name the rule"),
        ({"main_rule_events": {"iam.amazonaws.com": frozenset({"CreateUser"})}}, "only for"),
    ],
)
def test_incomplete_metadata_fails_at_declaration(change: dict[str, Any], message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        replace(META, **change)


@pytest.mark.parametrize("missing", ["asff_type", "attack_techniques"])
def test_a_declaration_without_a_finding_type_or_technique_is_refused(missing: str) -> None:
    """No fallback: the finding type and the ATT&CK techniques have no default."""
    declared = {name: getattr(META, name) for name in DetectorMeta.__dataclass_fields__}
    del declared[missing]
    with pytest.raises(TypeError, match=missing):
        DetectorMeta(**declared)


def test_a_complete_declaration_is_accepted() -> None:
    declared = replace(
        META,
        remediation_actions=("quarantine-user",),
        enrichment_permissions=("iam:GetUser",),
        own_rule="own-rule",
        main_rule_events={"iam.amazonaws.com": frozenset({"CreateUser"})},
    )
    assert declared.asff_type == "TTPs/Persistence"
    assert declared.attack_techniques == ("T1136.003",)


def test_two_detectors_cannot_share_a_rule_name() -> None:
    first = detector(replace(META, own_rule="shared"))(_noop)
    second = detector(replace(META, id="other-detector", own_rule="shared"))(_noop)
    with pytest.raises(RegistryError, match="duplicate rule name 'shared'"):
        Registry([first, second])


def test_dispatch_selects_by_event_and_by_identity_type() -> None:
    by_event = REGISTRY.dispatch("iam.amazonaws.com", "CreateUser", "IAMUser")
    # The sequence built on the event comes after the single-event detector, as registered.
    assert [d.meta.id for d in by_event] == ["iam-user-created", "iam-user-backdoor-sequence"]
    by_root = REGISTRY.dispatch("iam.amazonaws.com", "CreateUser", "Root")
    assert [d.meta.id for d in by_root] == [
        "iam-user-created",
        "iam-user-backdoor-sequence",
        "root-account-used",
    ]
    assert REGISTRY.dispatch("s3.amazonaws.com", "GetObject", "AssumedRole") == ()


@pytest.mark.parametrize(
    ("source", "name", "identity", "wanted"),
    [
        ("iam.amazonaws.com", "CreateUser", "AssumedRole", True),
        ("iam.amazonaws.com", "ListUsers", "AssumedRole", False),
        ("s3.amazonaws.com", "ListBuckets", "Root", True),
        ("s3.amazonaws.com", "CreateUser", "IAMUser", False),
        ("signin.amazonaws.com", "ConsoleLogin", None, True),
    ],
)
def test_prefilter(source: str, name: str, identity: str | None, wanted: bool) -> None:
    assert REGISTRY.wants(source, name, identity) is wanted


def test_severity_order() -> None:
    assert Severity.LOW < Severity.MEDIUM < Severity.HIGH < Severity.CRITICAL
    assert max([Severity.HIGH, Severity.CRITICAL, Severity.LOW]) is Severity.CRITICAL
