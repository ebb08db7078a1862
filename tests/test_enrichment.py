"""IAM enrichment against moto's IAM: facts and observations, and failures that never lose
the alert."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from iamwatch.aws.enrichment import IamEnricher
from iamwatch.finding import Finding
from tests.conftest import detector_cases, run_records

CASE = next(c for c in detector_cases() if c.id.startswith("access-key-created/positive"))


def finding_about(user: str) -> Finding:
    (finding,) = [f for f in run_records(CASE.records) if f.detector == "access-key-created"]
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
