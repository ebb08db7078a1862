"""Applying and undoing remediation plans, with every step in the audit trail.

The same code runs from the CLI (the operator's own credentials) and from the remediate Lambda
(after approval in Slack). It acts only in the account the credentials belong to, and only on a
finding from that account: a finding about account A never changes account B.

Before each step it checks what only AWS knows, and refuses the step (audited, the others
still applied) when the principal is protected (tagged ``iamwatch:break-glass``, or listed in
IAMWATCH_PROTECTED_PRINCIPALS by its real ARN, path included) or when the grant the step would
remove was already in place before the finding's event (``iamwatch.remediation.history``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict

from iamwatch.audit import AuditKind, AuditLog, AuditRecord
from iamwatch.finding import Finding
from iamwatch.protected import ProtectedPrincipals
from iamwatch.remediation.history import GrantHistory, HistoryUnavailable
from iamwatch.remediation.iam import IamSteps, IrreversibleError, RegionalClient, State
from iamwatch.remediation.plan import RemediationPlan, RemediationStep

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient


class RemediationError(Exception):
    """Remediation stopped; the message is safe to show (no credentials, no secrets).
    ``applied`` holds the steps that were done before it stopped; ``retryable`` says AWS was
    throttling or unreachable, so the same plan may simply be applied again later (every step
    reads first and changes only what is not yet in place)."""

    def __init__(
        self, message: str, applied: tuple[AppliedAction, ...] = (), *, retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.applied = applied
        self.retryable = retryable


# AWS's answers that say "not now" rather than "no".
_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalError",
    }
)


def _transient(error: Exception) -> bool:
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code") in _TRANSIENT_CODES
    return isinstance(error, BotoCoreError)  # connection errors, timeouts


class AppliedAction(BaseModel):
    """One step as applied (or undone): its audit record id is the action id."""

    model_config = ConfigDict(frozen=True)

    action_id: str
    step: RemediationStep
    before: dict[str, Any]
    after: dict[str, Any]
    changed: bool
    # Why the step was not applied (a protected principal, a grant older than the event).
    refused: str | None = None

    @property
    def undo_command(self) -> str | None:
        if not self.step.reversible or self.refused is not None:
            return None
        return f"iamwatch remediate --undo {self.action_id}"


def _aws_error(error: Exception) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code', 'Error')}: {details.get('Message', '')}".strip()
    return type(error).__name__


class Remediator:
    def __init__(
        self,
        iam: IAMClient,
        audit: AuditLog,
        *,
        account: str,
        history: GrantHistory,
        protected: ProtectedPrincipals | None = None,
        rolesanywhere: RegionalClient | None = None,
    ) -> None:
        self._steps = IamSteps(iam, rolesanywhere)
        self._audit = audit
        self._account = account
        self._history = history
        self._protected = protected or ProtectedPrincipals()

    def apply(
        self, plan: RemediationPlan, finding: Finding, *, by: str, via: str
    ) -> list[AppliedAction]:
        """Apply every step in order, stopping at the first failure (later steps would act on
        a state nobody has looked at)."""
        if plan.finding_id != finding.finding_id:
            raise RemediationError("the plan is for another finding")
        common = {"by": by, "via": via, "plan_digest": plan.digest}
        try:
            self._check_account(finding.account)
        except RemediationError as refused:
            # Refused before any step: still an attempt, and the audit trail has every attempt.
            self._audit.append(
                AuditRecord.about(
                    AuditKind.REMEDIATION_FAILED, finding, **common, error=str(refused)
                )
            )
            raise
        applied: list[AppliedAction] = []
        for step in plan.steps:
            step_data = {"step": step.model_dump(mode="json"), **common}
            try:
                refusal = self._refusal(step, finding)
            except (ClientError, BotoCoreError) as error:
                refusal = f"could not check the step before applying it: {_aws_error(error)}"
            if refusal is not None:
                record = AuditRecord.about(
                    AuditKind.REMEDIATION_FAILED,
                    finding,
                    **step_data,
                    stage="preflight",
                    refused=True,
                    error=refusal,
                )
                self._audit.append(record)
                applied.append(
                    AppliedAction(
                        action_id=record.record_id,
                        step=step,
                        before={},
                        after={},
                        changed=False,
                        refused=refusal,
                    )
                )
                continue
            try:
                before = self._steps.read(step)
                changed = self._steps.apply(step, before)
                after = self._steps.read(step)
            except (ClientError, BotoCoreError) as error:
                reason = _aws_error(error)
                retryable = _transient(error)
                self._audit.append(
                    AuditRecord.about(
                        AuditKind.REMEDIATION_FAILED,
                        finding,
                        **step_data,
                        error=reason,
                        retryable=retryable,
                    )
                )
                raise RemediationError(
                    f"{step.summary}: {reason}", applied=tuple(applied), retryable=retryable
                ) from None
            record = AuditRecord.about(
                AuditKind.REMEDIATION_APPLIED,
                finding,
                **step_data,
                before=before,
                after=after,
                changed=changed,
            )
            self._audit.append(record)
            applied.append(
                AppliedAction(
                    action_id=record.record_id,
                    step=step,
                    before=before,
                    after=after,
                    changed=changed,
                )
            )
        return applied

    def undo(self, action_id: str, *, by: str, via: str) -> AppliedAction:
        record = self._audit.get(action_id)
        if record is None or record.kind is not AuditKind.REMEDIATION_APPLIED:
            raise RemediationError(f"{action_id}: no applied remediation has this action id")
        self._check_account(record.account)
        step = RemediationStep.model_validate(record.data["step"])
        if not step.reversible:
            raise RemediationError(f"{step.summary} cannot be undone: {step.undo}")
        if not record.data.get("changed"):
            raise RemediationError(f"{step.summary} changed nothing, so there is nothing to undo")
        assert record.finding_id is not None
        for later in self._audit.for_finding(record.finding_id):
            if later.kind is AuditKind.REMEDIATION_UNDONE and later.data.get("undid") == action_id:
                raise RemediationError(
                    f"{action_id} was already undone at {later.at.isoformat()} by "
                    f"{later.data.get('by')}"
                )
        saved: State = record.data["before"]
        try:
            before = self._steps.read(step)
            changed = self._steps.revert(step, saved)
            after = self._steps.read(step)
        except IrreversibleError as error:
            raise RemediationError(f"{step.summary} cannot be undone: {error}") from None
        except (ClientError, BotoCoreError) as error:
            raise RemediationError(
                f"undo of {step.summary}: {_aws_error(error)}", retryable=_transient(error)
            ) from None
        undone = AuditRecord(
            kind=AuditKind.REMEDIATION_UNDONE,
            finding_id=record.finding_id,
            detector=record.detector,
            event_id=record.event_id,
            account=record.account,
            data={
                "undid": action_id,
                "step": record.data["step"],
                "before": before,
                "after": after,
                "changed": changed,
                "by": by,
                "via": via,
            },
        )
        self._audit.append(undone)
        return AppliedAction(
            action_id=undone.record_id, step=step, before=before, after=after, changed=changed
        )

    def _refusal(self, step: RemediationStep, finding: Finding) -> str | None:
        """Why this step must not be applied, from what AWS knows; None to go ahead."""
        principal = self._steps.principal(step)
        if principal is not None:
            arn, tags = principal
            why = self._protected.why(name=step.principal_name, arn=arn, tags=tags)
            if why is not None:
                return (
                    f"IAM {step.principal_type.value} {step.principal_name} is protected "
                    f"({why}): iamwatch never changes it"
                )
        try:
            standing = self._history.standing_grant(step, finding)
        except HistoryUnavailable as error:
            return f"not removed: {error}"
        if standing is not None:
            return f"not removed: {standing}"
        return None

    def _check_account(self, account: str | None) -> None:
        if account is None:
            raise RemediationError("the finding does not say which account it is in")
        if account != self._account:
            raise RemediationError(
                f"the finding is in account {account}, but these credentials act in account "
                f"{self._account}; use credentials for {account}"
            )
