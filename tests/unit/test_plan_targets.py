"""Who a remediation plan acts on: never a principal the finding does not prove is the right
one, in the finding's own account (issue 12, defects 6 and 9)."""

from __future__ import annotations

from typing import Any

import pytest

from iamwatch.finding import Finding
from iamwatch.principal import PrincipalKind
from iamwatch.remediation import ActionName, RemediationPlan, plan_remediation
from iamwatch.settings import SettingsError, load_settings
from tests.conftest import EVENTS_DIR, load_case, run_records

ACCOUNT = "123456789012"


def finding_of(fixture: str, **changes: Any) -> Finding:
    case = load_case(EVENTS_DIR / f"{fixture}.json")
    finding = run_records(case.records)[-1]
    return finding.model_copy(update=changes) if changes else finding


def stop_logging_by(actor: str, account: str | None = ACCOUNT) -> Finding:
    return finding_of(
        "cloudtrail-tampering/positive_stop_logging",
        actor=actor,
        actor_kind=PrincipalKind.IAM_USER,
        account=account,
    )


def test_the_caller_is_quarantined_in_its_own_account() -> None:
    (step,) = plan_remediation(stop_logging_by(f"arn:aws:iam::{ACCOUNT}:user/intruder")).steps
    assert (step.action, step.principal_name) == (ActionName.QUARANTINE_USER, "intruder")


def test_a_caller_from_another_account_is_not_quarantined_here() -> None:
    """The finding is in 123456789012; the caller is user 'alice' of 999988887777. Quarantining
    'alice' in 123456789012 would hit whoever has that name there, not the caller."""
    plan = plan_remediation(stop_logging_by("arn:aws:iam::999988887777:user/alice"))
    assert plan.steps == ()
    (skipped,) = plan.not_applicable
    assert skipped.action is ActionName.QUARANTINE_USER
    assert "999988887777" in skipped.reason and ACCOUNT in skipped.reason


def test_a_finding_without_an_account_does_not_quarantine_the_caller() -> None:
    plan = plan_remediation(stop_logging_by(f"arn:aws:iam::{ACCOUNT}:user/intruder", account=None))
    assert plan.steps == ()


# Protected principals: IAMWATCH_PROTECTED_PRINCIPALS (defect 6) -------------------------------


def protected_plan(finding: Finding, *patterns: str) -> RemediationPlan:
    settings = load_settings(protected_principals=",".join(patterns))
    return plan_remediation(finding, protected=settings.protected)


def console_password_for(user: str) -> Finding:
    return finding_of(
        "console-password-created/positive_iam_user_creates_login_profile_with_cli",
        target=user,
        account=ACCOUNT,
    )


@pytest.mark.parametrize(
    "pattern",
    ["break-glass", "break-*", f"arn:aws:iam::{ACCOUNT}:user/break-glass", "arn:aws:iam::*:user/*"],
)
def test_the_planner_refuses_a_protected_user_and_says_why(
    no_ambient_settings: None, pattern: str
) -> None:
    plan = protected_plan(console_password_for("break-glass"), pattern)
    assert plan.steps == ()
    assert {n.action for n in plan.not_applicable} == {
        ActionName.DELETE_LOGIN_PROFILE,
        ActionName.QUARANTINE_USER,
    }
    for skipped in plan.not_applicable:
        assert "protected" in skipped.reason and pattern in skipped.reason
    assert any("protected" in line for line in plan.lines())


def test_other_users_are_planned_as_before(no_ambient_settings: None) -> None:
    plan = protected_plan(console_password_for("qa-tester-03"), "break-*")
    assert [s.principal_name for s in plan.steps] == ["qa-tester-03", "qa-tester-03"]


def test_a_protected_role_keeps_its_policies(no_ambient_settings: None) -> None:
    finding = finding_of(
        "admin-policy-attached/positive_attach_role_policy_administrator_access_in_dev"
    )
    assert plan_remediation(finding).steps
    plan = protected_plan(finding, f"arn:aws:iam::{finding.account}:role/data-science-*")
    assert plan.steps == ()


def test_a_protected_caller_is_not_quarantined(no_ambient_settings: None) -> None:
    plan = protected_plan(stop_logging_by(f"arn:aws:iam::{ACCOUNT}:user/break-glass"), "break*")
    assert plan.steps == ()


@pytest.mark.parametrize("bad", ["a b", "<!channel>", "x;y"])
def test_a_pattern_that_cannot_name_a_principal_is_refused(
    no_ambient_settings: None, bad: str
) -> None:
    with pytest.raises(SettingsError, match="IAMWATCH_PROTECTED_PRINCIPALS"):
        load_settings(protected_principals=bad)
