"""Runbook-guided remediation: plan from a finding, apply with boto3, undo from the audit trail."""

from iamwatch.remediation.plan import (
    QUARANTINE_POLICY,
    REVOKE_SESSIONS_POLICY,
    ActionName,
    NotApplicable,
    PlanError,
    PrincipalType,
    RemediationPlan,
    RemediationStep,
    plan_remediation,
)
from iamwatch.remediation.remediator import AppliedAction, RemediationError, Remediator

__all__ = [
    "QUARANTINE_POLICY",
    "REVOKE_SESSIONS_POLICY",
    "ActionName",
    "AppliedAction",
    "NotApplicable",
    "PlanError",
    "PrincipalType",
    "RemediationError",
    "RemediationPlan",
    "RemediationStep",
    "Remediator",
    "plan_remediation",
]
