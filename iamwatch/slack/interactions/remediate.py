"""Applying a remediation approved in Slack: the remediate function's core.

Nothing in the queued request is taken on trust but its ids: the finding is rebuilt from the
audit trail, the plan is made again and must have the digest the approvers confirmed, and the
approval record it names must still authorise it (queued, recent, enough approvers, each still
an approver). The remediation core applies it and audits each step; the outcome, with the undo
commands and what cannot be undone, goes to the alert's thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from iamwatch.audit import AuditKind, AuditLog, AuditRecord, raised_finding
from iamwatch.finding import Finding
from iamwatch.protected import ProtectedPrincipals
from iamwatch.slack.interactions import messages
from iamwatch.slack.interactions.approvals import APPROVAL_WINDOW, ApprovalPolicy
from iamwatch.slack.interactions.queue import RemediationRequest
from iamwatch.slack.interactions.replies import SlackReplies
from iamwatch.slack.render import SlackMessage
from iamwatch.slack.transport import DeliveryError
from iamwatch.state import StateStore

if TYPE_CHECKING:
    from iamwatch.remediation import Remediator

logger = logging.getLogger("iamwatch.slack.remediate")


class QueuedRemediations:
    def __init__(
        self,
        *,
        audit: AuditLog,
        remediator: Remediator,
        replies: SlackReplies,
        policy: ApprovalPolicy,
        state: StateStore,
        protected: ProtectedPrincipals | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._protected = protected or ProtectedPrincipals()
        self._audit = audit
        self._remediator = remediator
        self._replies = replies
        self._policy = policy
        self._state = state
        self._clock = clock

    def run(self, request: RemediationRequest) -> str:
        """Apply one approved request; returns the outcome. Raises only for what a retry could
        fix (AWS unreachable before anything was applied)."""
        from iamwatch.remediation import PlanError, RemediationError, plan_remediation

        now = datetime.fromtimestamp(self._clock(), UTC)
        finding = raised_finding(self._audit, request.finding_id)
        if finding is None:
            self._audit.append(
                AuditRecord(
                    kind=AuditKind.REMEDIATION_FAILED,
                    finding_id=request.finding_id,
                    data=self._data(request, error="the finding is not in the audit trail"),
                )
            )
            logger.error("remediation refused", extra={"reason": "unknown finding"})
            return "unknown-finding"
        approvers = self._policy.valid_round(
            self._audit.get(request.approval_id), finding, request.plan_digest, now
        )
        if approvers is None or approvers != request.approvers:
            return self._refuse(
                request, finding, "the approval is missing, expired or no longer valid"
            )
        try:
            plan = plan_remediation(finding, protected=self._protected)
        except PlanError as error:
            return self._refuse(request, finding, f"no plan: {error}")
        if plan.digest != request.plan_digest:
            return self._refuse(request, finding, "the plan changed after it was approved")
        # Two rounds approved at once (two approvers confirming together) queue two requests
        # for one plan: the first to get here applies it; the other stops.
        if not self._state.claim(
            f"slack-remediation#{finding.finding_id}#{plan.digest}",
            request.approval_id,
            now,
            APPROVAL_WINDOW,
        ):
            logger.info("remediation already applied by another approval", extra=self._ids(request))
            return "duplicate"
        by = ",".join(f"slack:{user}" for user in approvers)
        try:
            applied = self._remediator.apply(plan, finding, by=by, via="slack")
        except RemediationError as error:
            # The core has audited the failure, whether a step failed or none could start.
            logger.error("remediation stopped", extra=self._ids(request))
            self._reply(request, messages.outcome(error.applied, approvers, error=str(error)))
            return "failed"
        logger.info("remediation applied", extra={**self._ids(request), "steps": len(applied)})
        self._reply(request, messages.outcome(applied, approvers))
        return "applied"

    def _refuse(self, request: RemediationRequest, finding: Finding, reason: str) -> str:
        self._audit.append(
            AuditRecord.about(
                AuditKind.REMEDIATION_FAILED, finding, **self._data(request, error=reason)
            )
        )
        logger.error("remediation refused", extra={"reason": reason, **self._ids(request)})
        self._reply(
            request,
            messages.notice(f"\u274c Remediation not applied: {reason}. Nothing was changed."),
        )
        return "refused"

    @staticmethod
    def _data(request: RemediationRequest, error: str) -> dict[str, object]:
        return {
            "via": "slack",
            "by": ",".join(f"slack:{user}" for user in request.approvers),
            "stage": "apply",
            "approval_id": request.approval_id,
            "plan_digest": request.plan_digest,
            "error": error,
        }

    @staticmethod
    def _ids(request: RemediationRequest) -> dict[str, str]:
        return {"finding_id": request.finding_id, "approval_id": request.approval_id}

    def _reply(self, request: RemediationRequest, message: SlackMessage) -> None:
        if request.channel is None or request.alert_ts is None:
            return
        try:
            self._replies.reply_in_thread(request.channel, request.alert_ts, message)
        except DeliveryError as error:
            # The audit trail has the outcome; applying again to re-post it would be wrong.
            logger.error("remediation outcome not posted", extra={"reason": error.reason})
