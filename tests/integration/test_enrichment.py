"""IAM enrichment against moto's IAM: facts and observations, and failures that never lose
the alert."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import boto3
import pytest

from detectors import REGISTRY
from iamwatch.aws.enrichment import ENRICHMENT_ACTIONS, LOOKUPS, IamEnricher, lookups_for
from iamwatch.finding import Finding
from iamwatch.registry import Registry, detector
from tests.conftest import detector_cases, run_records

# A detector whose findings get every look-up (access-key-created declares them all).
CASE_DETECTOR = "access-key-created"
CASE = next(c for c in detector_cases() if c.id.startswith(f"{CASE_DETECTOR}/positive"))


def finding_about(user: str) -> Finding:
    (finding,) = [f for f in run_records(CASE.records) if f.detector == CASE_DETECTOR]
    return finding.model_copy(update={"target": user, "target_type": "iam-user"})


@pytest.fixture
def iam(aws_env: dict[str, str]) -> Any:
    return boto3.client("iam", endpoint_url=aws_env["AWS_ENDPOINT_URL"])


def test_enrichment_adds_facts_and_risk_observations(iam: Any) -> None:
    user = f"legacy-etl-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user, Tags=[{"Key": "purpose", "Value": "nightly export"}])
    iam.create_access_key(UserName=user)
    iam.create_access_key(UserName=user)
    iam.create_login_profile(UserName=user, Password="A-long-enough-password-1!")
    iam.create_group(GroupName=f"exporters-{user}")
    iam.add_user_to_group(GroupName=f"exporters-{user}", UserName=user)
    logged: list[tuple[str, dict[str, Any]]] = []
    enriched = IamEnricher(iam, log=lambda m, k: logged.append((m, k))).enrich(finding_about(user))
    assert enriched.enrichment["owner"] == "(no owner tag)"
    assert enriched.enrichment["purpose"] == "nightly export"
    assert enriched.enrichment["console_password"] == "yes"
    assert enriched.enrichment["mfa_devices"] == "0"
    assert enriched.enrichment["groups"] == f"exporters-{user}"
    assert enriched.enrichment["access_keys"].count("Active") == 2
    assert "the user has 2 active access keys" in enriched.observations
    assert "the user has a console password and no MFA device" in enriched.observations
    assert "the user has no owner tag" in enriched.observations
    assert logged == []


def test_each_failed_lookup_is_logged_and_skipped(iam: Any) -> None:
    logged: list[tuple[str, dict[str, Any]]] = []
    enricher = IamEnricher(iam, log=lambda m, k: logged.append((m, k)))
    finding = finding_about(f"deleted-since-{uuid.uuid4().hex[:6]}")
    enriched = enricher.enrich(finding)
    assert enriched.finding_id == finding.finding_id
    assert enriched.summary == finding.summary
    assert logged and all(m == "enrichment failed" for m, _ in logged)
    assert {k["error"] for _, k in logged} == {"NoSuchEntity"}


def test_lookups_are_cached_for_the_invocation(iam: Any) -> None:
    user = f"cached-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    enricher = IamEnricher(iam, log=lambda m, k: None)
    first = enricher.user(user)
    iam.create_access_key(UserName=user)
    assert enricher.user(user) is first
    enricher.reset()
    assert enricher.user(user).access_keys is not None
    assert len(enricher.user(user).access_keys or []) == 1


def test_findings_about_non_users_are_left_alone(iam: Any) -> None:
    finding = finding_about("x").model_copy(update={"target_type": "trail"})
    assert IamEnricher(iam, log=lambda m, k: None).enrich(finding) is finding


def test_users_in_other_accounts_are_not_looked_up(iam: Any) -> None:
    logged: list[tuple[str, dict[str, Any]]] = []
    enricher = IamEnricher(iam, log=lambda m, k: logged.append((m, k)), account_id="111122223333")
    finding = finding_about("someone").model_copy(update={"account": "444455556666"})
    assert enricher.enrich(finding) is finding
    assert logged == []


# Each finding gets only the look-ups its detector declares permissions for -----------------


def calls_of(iam: Any) -> list[str]:
    """The IAM actions the (real) client calls from now on, as ``iam:Operation``."""
    made: list[str] = []
    iam.meta.events.register(
        "before-call.iam.*", lambda model, **_: made.append(f"iam:{model.name}")
    )
    return made


def user_with_key(iam: Any, prefix: str) -> str:
    user = f"{prefix}-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user, Tags=[{"Key": "owner", "Value": "data-team"}])
    iam.create_access_key(UserName=user)
    return user


def declaring(*permissions: str) -> Registry:
    meta = replace(REGISTRY.get(CASE_DETECTOR).meta, enrichment_permissions=permissions)
    return Registry([detector(meta)(lambda record, context: ())])


@pytest.mark.parametrize("detector_id", REGISTRY.ids)
def test_a_finding_gets_exactly_the_calls_its_detector_declares(iam: Any, detector_id: str) -> None:
    user = user_with_key(iam, "declared")
    made = calls_of(iam)
    finding = finding_about(user).model_copy(update={"detector": detector_id})
    enriched = IamEnricher(iam, log=lambda m, k: None).enrich(finding)
    declared = set(REGISTRY.get(detector_id).meta.enrichment_permissions)
    assert set(made) == declared
    if not declared:
        assert enriched is finding


def test_only_the_declared_lookups_are_made_and_reported(iam: Any) -> None:
    user = user_with_key(iam, "partial")
    made = calls_of(iam)
    registry = declaring("iam:ListUserTags", "iam:ListMFADevices")
    enricher = IamEnricher(iam, log=lambda m, k: None, registry=registry)
    enriched = enricher.enrich(finding_about(user))
    assert sorted(made) == ["iam:ListMFADevices", "iam:ListUserTags"]
    assert enriched.enrichment == {"owner": "data-team", "mfa_devices": "0"}
    assert enricher.lookups(CASE_DETECTOR) == ("tags", "mfa_devices")


def test_a_lookup_is_made_only_when_all_its_calls_are_declared() -> None:
    assert lookups_for(["iam:ListAccessKeys"]) == ()
    assert lookups_for(["iam:GetAccessKeyLastUsed", "iam:ListAccessKeys"]) == ("access_keys",)
    assert set(lookups_for(ENRICHMENT_ACTIONS)) == set(LOOKUPS)


def test_findings_of_undeclared_or_unknown_detectors_are_left_alone(iam: Any) -> None:
    user = user_with_key(iam, "untouched")
    made = calls_of(iam)
    nothing = IamEnricher(iam, log=lambda m, k: None, registry=declaring())
    finding = finding_about(user)
    assert nothing.enrich(finding) is finding
    unknown = finding.model_copy(update={"detector": "no-such-detector"})
    assert IamEnricher(iam, log=lambda m, k: None).enrich(unknown) is unknown
    assert made == []


def test_a_second_finding_about_the_user_makes_only_the_lookups_still_missing(iam: Any) -> None:
    user = user_with_key(iam, "shared")
    made = calls_of(iam)
    enricher = IamEnricher(iam, log=lambda m, k: None, registry=declaring("iam:ListUserTags"))
    assert enricher.enrich(finding_about(user)).enrichment == {"owner": "data-team"}
    enricher.user(user, ["tags", "groups"])
    assert made == ["iam:ListUserTags", "iam:ListGroupsForUser"]
    # The first detector's findings still report only what it declared.
    assert enricher.enrich(finding_about(user)).enrichment == {"owner": "data-team"}
    assert len(made) == 2
