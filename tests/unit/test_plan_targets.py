"""Who a remediation plan acts on: never a principal the finding does not prove is the right
one, in the finding's own account (issue 12, defects 6 and 9)."""

from __future__ import annotations

from typing import Any

from iamwatch.finding import Finding
from iamwatch.principal import PrincipalKind
from iamwatch.remediation import ActionName, plan_remediation
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
