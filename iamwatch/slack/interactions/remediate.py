"""Applying a remediation approved in Slack: the remediate function's core.

Nothing in the queued request is taken on trust but its ids: the finding is rebuilt from the
audit trail (from what detection wrote, never from the interactions function's partitions),
the plan is made again and must have the digest the approvers confirmed, and the finding's
approval round, read consistently, must have been queued by the approval the request names
(recent, enough approvers, each still an approver). The remediation core applies it and audits
each step; the outcome, with the undo commands and what cannot be undone, goes to the alert's
thread. A failure ends the round at once; a throttled or unreachable AWS hands it back to the
queue for a retry.
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
from iamwatch.slack.interactions.approvals import APPLY_STAGE, ApprovalPolicy
from iamwatch.slack.interactions.queue import RemediationRequest
from iamwatch.slack.interactions.replies import SlackReplies
from iamwatch.slack.interactions.rounds import ApprovalRounds, Round, Status
from iamwatch.slack.render import SlackMessage
from iamwatch.slack.transport import DeliveryError

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
        rounds: ApprovalRounds,
        protected: ProtectedPrincipals | None = None,
        audit_table: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._protected = protected or ProtectedPrincipals()
        # Named in the undo commands of outcome replies (the CLI reads that table).
        self._audit_table = audit_table
        self._audit = audit
        self._remediator = remediator
        self._replies = replies
        self._policy = policy
        self._rounds = rounds
        self._clock = clock

    def run(self, request: RemediationRequest) -> str:
        """Apply one approved request; returns the outcome. Raises only for what a retry could
        fix (AWS throttling or unreachable), with the round handed back for that retry."""
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
        # The round, read consistently: the approval this request names must have queued it.
        round_ = self._rounds.get(finding.finding_id)
        approvers = self._policy.authorises(
            round_, finding, request.plan_digest, request.approval_id, now
        )
        if round_ is None or approvers is None or approvers != request.approvers:
            return self._refuse(
                request, finding, "the approval is missing, expired or no longer valid"
            )
        if request.undo is not None:
            return self._undo(request, round_, approvers)
        try:
            plan = plan_remediation(finding, protected=self._protected)
        except PlanError as error:
            self._end(round_, "failed")
            return self._refuse(request, finding, f"no plan: {error}")
        if plan.digest != request.plan_digest:
            self._end(round_, "failed")
            return self._refuse(request, finding, "the plan changed after it was approved")
        # Take the round: only one run applies it (a redelivered request re-enters its own).
        taken = round_.moved("applying")
        if not self._rounds.put(taken, read_version=round_.version):
            logger.info("remediation already taken by another run", extra=self._ids(request))
            return "duplicate"
        by = ",".join(f"slack:{user}" for user in approvers)
        try:
            applied = self._remediator.apply(plan, finding, by=by, via="slack")
        except RemediationError as error:
            if error.retryable:
                # Throttled or unreachable: the round goes back to queued for the retry SQS
                # makes; a step already applied is found in place and left as it is.
                self._end(taken, "queued")
                logger.warning("remediation will be retried", extra=self._ids(request))
                raise
            # The core has audited the failure. The round ends, so the approvers can confirm
            # again at once, once they have looked at why.
            self._end(taken, "failed")
            logger.error("remediation stopped", extra=self._ids(request))
            self._reply(request, messages.outcome(error.applied, approvers, error=str(error)))
            return "failed"
        self._end(taken, "done")
        logger.info("remediation applied", extra={**self._ids(request), "steps": len(applied)})
        self._reply(request, messages.outcome(applied, approvers, audit_table=self._audit_table))
        return "applied"

    def _undo(self, request: RemediationRequest, round_: Round, approvers: tuple[str, ...]) -> str:
        """Reverse one applied step the approvers confirmed: only a step this role can put back
        itself (the remediation core re-reads the step from the audit trail, from what the
        remediate function or the CLI recorded, and refuses one already undone)."""
        from iamwatch.remediation import UNDO_IN_AWS, RemediationError, undo_digest

        assert request.undo is not None
        if request.plan_digest != undo_digest(request.undo):
            return self._refuse_undo(request, round_, "the approval is not for this undo")
        record = self._audit.get(request.undo)
        step = record.data.get("step") if record is not None else None
        if (
            record is None
            or record.kind is not AuditKind.REMEDIATION_APPLIED
            or record.finding_id != request.finding_id
            or not isinstance(step, dict)
            or step.get("action") not in {action.value for action in UNDO_IN_AWS}
        ):
            return self._refuse_undo(request, round_, "no such step to undo from Slack")
        taken = round_.moved("applying")
        if not self._rounds.put(taken, read_version=round_.version):
            return "duplicate"
        by = ",".join(f"slack:{user}" for user in approvers)
        try:
            done = self._remediator.undo(request.undo, by=by, via="slack")
        except RemediationError as error:
            if error.retryable:
                self._end(taken, "queued")
                raise
            self._end(taken, "failed")
            self._reply(
                request, messages.notice(f"\u274c Undo not applied: {messages.safe(str(error))}")
            )
            return "failed"
        self._end(taken, "done")
        logger.info("remediation undone", extra=self._ids(request))
        self._reply(request, messages.undone(done, approvers))
        return "undone"

    def _refuse_undo(self, request: RemediationRequest, round_: Round, reason: str) -> str:
        self._end(round_, "failed")
        self._audit.append(
            AuditRecord(
                kind=AuditKind.REMEDIATION_FAILED,
                finding_id=request.finding_id,
                data={**self._data(request, error=reason), "undo": request.undo},
            )
        )
        logger.error("undo refused", extra={"reason": reason, **self._ids(request)})
        return "refused"

    def _end(self, round_: Round, status: Status) -> None:
        """Move the round on; a lost race leaves it to whoever moved it."""
        if not self._rounds.put(round_.moved(status), read_version=round_.version):
            logger.warning("approval round changed meanwhile", extra={"status": status})

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
            "stage": APPLY_STAGE,
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
