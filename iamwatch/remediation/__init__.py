"""Runbook-guided remediation: plan from a finding, apply with boto3, undo from the audit trail."""

from iamwatch.remediation.plan import (
    QUARANTINE_POLICY,
    REVOKE_SESSIONS_POLICY,
    UNDO_IN_AWS,
    ActionName,
    NotApplicable,
    PlanError,
    PrincipalType,
    RemediationPlan,
    RemediationStep,
    plan_remediation,
    undo_digest,
)
from iamwatch.remediation.remediator import AppliedAction, RemediationError, Remediator

__all__ = [
    "QUARANTINE_POLICY",
    "REVOKE_SESSIONS_POLICY",
    "UNDO_IN_AWS",
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
    "undo_digest",
]
