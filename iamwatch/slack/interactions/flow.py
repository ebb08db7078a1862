"""The interactions endpoint's decisions: verify, refuse or act, and audit every click.

A request is refused with 401 unless Slack signed it within five minutes and it was not seen
before; with 400 when it is not a button click iamwatch understands. A signed click is then
acknowledged, shown a plan, or approved, or refused with an ephemeral explanation (not an
approver, the same approver twice, an unknown finding, a changed plan). Every outcome of a
signed request is an audit record, written before Slack is told anything.

A request Slack did not sign (unsigned, forged, stale) or a replay of one it did is anyone's on
the internet: it costs no write. It is logged with only the user id it claims, a hash of its
body and its source address (the rest is the sender's text), a few times a minute per source
address, and answered 429 once that source is over its budget (``limits.py``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from iamwatch.audit import AuditKind, AuditLog, AuditRecord, raised_finding
from iamwatch.finding import Finding
from iamwatch.protected import ProtectedPrincipals
from iamwatch.slack.interactions import messages
from iamwatch.slack.interactions.approvals import APPROVAL_WINDOW, QUEUE_STAGE, ApprovalPolicy
from iamwatch.slack.interactions.limits import SourceBudget
from iamwatch.slack.interactions.payload import (
    BlockActions,
    PayloadError,
    claimed_user,
    finding_id,
    parse_confirm_value,
    parse_payload,
)
from iamwatch.slack.interactions.queue import RemediationQueue, RemediationRequest
from iamwatch.slack.interactions.replay import ReplayGuard
from iamwatch.slack.interactions.replies import SlackReplies
from iamwatch.slack.interactions.rounds import Approval, ApprovalRounds, Round
from iamwatch.slack.interactions.verify import Refusal, RequestVerifier
from iamwatch.slack.render import (
    ACKNOWLEDGE_ACTION,
    CLOUDTRAIL_ACTION,
    REMEDIATE_ACTION,
    RUNBOOK_ACTION,
    SlackMessage,
)
from iamwatch.slack.transport import DeliveryError
from iamwatch.state import StateStore

logger = logging.getLogger("iamwatch.slack.interactions")
# Conditional writes of a round lost to other approvers' at the same moment, before giving up.
_ROUND_ATTEMPTS = 3

# Link buttons open a URL in the browser; Slack still reports the click, which changes nothing.
_LINK_ACTIONS = frozenset({RUNBOOK_ACTION, CLOUDTRAIL_ACTION})


@dataclass(frozen=True, slots=True)
class InteractionRequest:
    """An HTTP request as it arrived: the raw body (the signature covers its exact bytes)."""

    body: bytes
    timestamp: str | None
    signature: str | None
    source_ip: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    outcome: str
    text: str = ""


class _Refused(Exception):
    """A signed click that is not acted on: recorded, and explained to the clicker."""

    def __init__(
        self,
        reason: str,
        explanation: str,
        finding: Finding | None = None,
        status: int = 200,
        subject: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.explanation = explanation
        self.finding = finding
        self.status = status
        # The (validated) finding id a click named when no such finding was found.
        self.subject = subject


@dataclass(frozen=True, slots=True)
class _Click:
    payload: BlockActions
    at: datetime
    source_ip: str | None

    @property
    def user(self) -> str:
        return self.payload.user.id

    @property
    def value(self) -> str | None:
        return self.payload.action.value

    def audit_data(self) -> dict[str, Any]:
        container = self.payload.container
        return {
            "by": f"slack:{self.user}",
            "via": "slack",
            "slack_user": self.user,
            "slack_user_name": self.payload.user.display,
            "action": self.payload.action.action_id,
            "channel": self.payload.channel_id,
            "message_ts": container.message_ts,
            "source_ip": self.source_ip,
        }


def _safe_ip(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


class Interactions:
    def __init__(
        self,
        *,
        verifier: RequestVerifier,
        state: StateStore,
        audit: AuditLog,
        replies: SlackReplies,
        queue: RemediationQueue | None,
        policy: ApprovalPolicy,
        rounds: ApprovalRounds,
        protected: ProtectedPrincipals | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rounds = rounds
        self._protected = protected or ProtectedPrincipals()
        self._budget = SourceBudget()
        self._verifier = verifier
        self._replay = ReplayGuard(state)
        self._audit = audit
        self._replies = replies
        self._queue = queue
        self._policy = policy
        self._clock = clock

    def handle(self, request: InteractionRequest) -> Answer:
        now = datetime.fromtimestamp(self._clock(), UTC)
        source_ip = _safe_ip(request.source_ip)
        refusal = self._verifier.refusal(request.body, request.timestamp, request.signature)
        if refusal is None:
            assert request.timestamp is not None and request.signature is not None
            if not self._replay.first_time(request.timestamp, request.signature, now):
                refusal = Refusal.REPLAYED
        if refusal is not None:
            if not self._budget.spend(source_ip, self._clock()):
                if self._budget.first_refusal(source_ip):
                    logger.warning(
                        "slack interaction source over its budget", extra={"source_ip": source_ip}
                    )
                return Answer(429, "refused:rate-limited", "too many requests")
            self._unsigned(request.body, refusal.value, source_ip)
            return Answer(401, f"refused:{refusal.value}", "invalid request")
        try:
            payload = parse_payload(request.body)
        except PayloadError as error:
            self._malformed(request.body, now, source_ip, str(error))
            return Answer(400, "refused:malformed", "not a button click iamwatch understands")
        click = _Click(payload, now, source_ip)
        action = payload.action.action_id
        if action in _LINK_ACTIONS:
            return Answer(200, "link")
        routes = {
            ACKNOWLEDGE_ACTION: self._acknowledge,
            REMEDIATE_ACTION: self._remediate,
            messages.CONFIRM_ACTION: self._confirm,
            messages.UNDO_ACTION: self._undo,
        }
        try:
            route = routes.get(action)
            if route is None:
                raise _Refused("unknown-action", "iamwatch does not know this button.", status=400)
            return route(click)
        except PayloadError as error:
            return self._refuse(click, _Refused("malformed", str(error), status=400))
        except _Refused as refused:
            return self._refuse(click, refused)

    # Refusals ------------------------------------------------------------------------------
    @staticmethod
    def _unsigned(body: bytes, reason: str, source_ip: str | None) -> None:
        """A request nobody proved to be Slack's: logged, never written anywhere."""
        logger.warning(
            "slack interaction refused",
            extra={
                "reason": reason,
                "claimed_user": claimed_user(body),
                "body_sha256": hashlib.sha256(body).hexdigest(),
                "body_bytes": len(body),
                "source_ip": source_ip,
            },
        )

    def _malformed(self, body: bytes, now: datetime, source_ip: str | None, detail: str) -> None:
        """A request Slack signed that is not a click iamwatch understands: Slack's own, so
        recorded, though only by its claimed user and hash."""
        reason = "malformed"
        data: dict[str, Any] = {
            "reason": reason,
            "claimed_user": claimed_user(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "body_bytes": len(body),
            "source_ip": source_ip,
        }
        if detail:
            data["detail"] = detail
        self._audit.append(AuditRecord(kind=AuditKind.INTERACTION_REFUSED, at=now, data=data))
        logger.warning("slack interaction refused", extra={"reason": reason})

    def _refuse(self, click: _Click, refused: _Refused) -> Answer:
        data = {**click.audit_data(), "reason": refused.reason}
        self._append(
            click, AuditKind.INTERACTION_REFUSED, refused.finding, data, subject=refused.subject
        )
        logger.warning(
            "slack interaction refused", extra={"reason": refused.reason, "user": click.user}
        )
        self._tell(click, messages.notice(f"\u26d4 {refused.explanation}"))
        return Answer(refused.status, f"refused:{refused.reason}")

    # Actions -------------------------------------------------------------------------------
    def _acknowledge(self, click: _Click) -> Answer:
        finding = self._finding(finding_id(click.value))
        self._append(click, AuditKind.FINDING_ACKNOWLEDGED, finding, click.audit_data())
        message, channel = click.payload.message, click.payload.channel_id
        if message is None or channel is None or click.payload.container.is_ephemeral:
            return Answer(200, "acknowledged")
        line = messages.acknowledged_line(click.user, click.at)
        updated = SlackMessage(
            text=message.text or "iamwatch alert",
            blocks=tuple(messages.with_status(message.blocks, line)),
        )
        try:
            self._replies.update(channel, message.ts, updated)
        except DeliveryError as error:
            logger.warning("alert not updated", extra={"reason": error.reason})
            self._tell(
                click,
                messages.notice(
                    "Your acknowledgement is recorded, but the alert could not be updated "
                    "(Slack answered an error)."
                ),
            )
        return Answer(200, "acknowledged")

    def _remediate(self, click: _Click) -> Answer:
        from iamwatch.remediation import PlanError, plan_remediation

        finding = self._finding(finding_id(click.value))
        self._check_approver(click, finding)
        try:
            plan = plan_remediation(finding, protected=self._protected)
        except PlanError:
            raise _Refused(
                "no-plan", "This finding's runbook has no automated actions.", finding
            ) from None
        required = self._policy.required(finding)
        self._append(
            click,
            AuditKind.REMEDIATION_REQUESTED,
            finding,
            {
                **click.audit_data(),
                "plan_digest": plan.digest,
                "steps": [step.summary for step in plan.steps],
                "not_applicable": [item.action.value for item in plan.not_applicable],
                "approvals_required": required,
            },
        )
        alert_ts = (
            None if click.payload.container.is_ephemeral else click.payload.container.message_ts
        )
        self._tell(click, messages.plan_message(finding, plan, alert_ts, required))
        return Answer(200, "plan-shown")

    def _confirm(self, click: _Click) -> Answer:
        from iamwatch.remediation import PlanError, plan_remediation

        wanted, digest, alert_ts = parse_confirm_value(click.value)
        finding = self._finding(wanted)
        self._check_approver(click, finding)
        try:
            plan = plan_remediation(finding, protected=self._protected)
        except PlanError:
            plan = None
        if plan is None or plan.digest != digest or not plan.steps:
            raise _Refused(
                "plan-changed",
                "The plan changed after it was shown to you (the runbook or iamwatch was "
                "updated); click Remediate again to see the current plan.",
                finding,
            )
        return self._approve(click, finding, digest, alert_ts)

    def _undo(self, click: _Click) -> Answer:
        """An Undo button under a remediation's outcome: approved like a plan, applied by the
        remediate function, for the steps its role can put back itself."""
        from iamwatch.remediation import UNDO_IN_AWS, RemediationStep, undo_digest

        action_id = finding_id(click.value)
        record = self._audit.get(action_id)
        if (
            record is None
            or record.kind is not AuditKind.REMEDIATION_APPLIED
            or record.finding_id is None
        ):
            raise _Refused(
                "unknown-action", "iamwatch has no applied remediation step with this id."
            )
        finding = self._finding(record.finding_id)
        self._check_approver(click, finding)
        step = RemediationStep.model_validate(record.data.get("step"))
        if not record.data.get("changed") or step.action not in UNDO_IN_AWS:
            raise _Refused(
                "cannot-undo-here",
                "This step cannot be undone from Slack; the alert's thread has the command.",
                finding,
            )
        message_ts = click.payload.container.message_ts
        thread = click.payload.message.thread_ts if click.payload.message else None
        return self._approve(
            click, finding, undo_digest(action_id), thread or message_ts, action_id
        )

    def _approve(
        self,
        click: _Click,
        finding: Finding,
        digest: str,
        alert_ts: str | None,
        undo: str | None = None,
    ) -> Answer:
        """Count the click's approval of ``digest`` in the finding's round; queue the
        remediation (or the undo of one step) once enough approvers have confirmed."""
        required = self._policy.required(finding)
        approval_id = str(uuid.uuid4())
        # The round is read consistently and written only if unchanged since: two approvers
        # clicking at once both count, and a plan is queued once.
        for _ in range(_ROUND_ATTEMPTS):
            current = self._rounds.get(finding.finding_id)
            approvers, updated = self._next_round(click, finding, digest, current, approval_id)
            if self._rounds.put(updated, read_version=current.version if current else None):
                break
        else:
            raise _Refused(
                "busy",
                "Other approvals of this finding are being recorded right now; confirm again "
                "in a moment.",
                finding,
            )
        data: dict[str, Any] = {
            **click.audit_data(),
            "plan_digest": digest,
            "approval": len(approvers),
            "approvals_required": required,
        }
        if undo is not None:
            data["undo"] = undo
        channel = click.payload.channel_id
        if updated.status == "pending":
            self._append(click, AuditKind.REMEDIATION_APPROVED, finding, data)
            deadline = click.at + APPROVAL_WINDOW
            self._tell(
                click,
                messages.notice(
                    f"Your approval is recorded ({len(approvers)} of {required}). A second, "
                    "different approver must confirm this within an hour."
                ),
            )
            self._post_in_thread(
                channel, alert_ts, messages.awaiting_second_approval(click.user, deadline)
            )
            return Answer(200, "approved-pending")
        approval = self._append(
            click,
            AuditKind.REMEDIATION_APPROVED,
            finding,
            {**data, "queued": True, "approvers": approvers},
            record_id=approval_id,
        )
        if self._queue is None:
            return self._queue_failed(
                click, finding, approval, updated, "no remediation queue configured"
            )
        request = RemediationRequest(
            finding_id=finding.finding_id,
            plan_digest=digest,
            approvers=tuple(approvers),
            approval_id=approval.record_id,
            requested_at=click.at,
            channel=channel,
            alert_ts=alert_ts,
            undo=undo,
        )
        try:
            self._queue.submit(request)
        except Exception as error:  # AWS's errors are many; each is recorded the same way
            return self._queue_failed(click, finding, approval, updated, type(error).__name__)
        what = "undo" if undo is not None else "remediation"
        self._tell(click, messages.notice(f"Approved; the {what} is queued."))
        self._post_in_thread(channel, alert_ts, messages.queued(approvers, undo=undo is not None))
        return Answer(200, "queued")

    def _next_round(
        self,
        click: _Click,
        finding: Finding,
        digest: str,
        current: Round | None,
        approval_id: str,
    ) -> tuple[list[str], Round]:
        """The approvers counting this click, and the round it leaves; refuses a plan already
        queued and an approver approving twice."""
        if self._policy.in_progress(current, digest, click.at):
            raise _Refused(
                "already-queued",
                "This plan was approved and queued within the last hour; its outcome is in the "
                "alert's thread.",
                finding,
            )
        # An approver removed from the setting since approving no longer counts.
        earlier = self._policy.pending(current, digest, click.at)
        if click.user in earlier:
            raise _Refused(
                "same-approver-twice",
                "You already approved this plan. A second, different approver must confirm it.",
                finding,
            )
        approvers = [*earlier, click.user]
        kept = tuple(
            approval
            for approval in (current.approvals if current else ())
            if approval.user in earlier
        )
        approvals = (*kept, Approval(click.user, click.at))
        version = current.version + 1 if current else 1
        if len(approvers) < self._policy.required(finding):
            updated = Round(finding.finding_id, digest, "pending", approvals, version=version)
        else:
            updated = Round(
                finding.finding_id,
                digest,
                "queued",
                approvals,
                approval_id=approval_id,
                queued_at=click.at,
                version=version,
            )
        return approvers, updated

    # Helpers -------------------------------------------------------------------------------
    def _finding(self, wanted: str) -> Finding:
        finding = raised_finding(self._audit, wanted)
        if finding is None:
            raise _Refused(
                "unknown-finding",
                "iamwatch has no record of this finding (a test alert, or an audit trail from "
                "another deployment).",
                subject=wanted,
            )
        return finding

    def _check_approver(self, click: _Click, finding: Finding) -> None:
        if not self._policy.may_approve(click.user):
            raise _Refused(
                "not-an-approver",
                "Only the approvers listed in IAMWATCH_SLACK_APPROVERS can remediate from "
                "Slack. Your click is recorded.",
                finding,
            )

    def _append(
        self,
        click: _Click,
        kind: AuditKind,
        finding: Finding | None,
        data: dict[str, Any],
        subject: str | None = None,
        record_id: str | None = None,
    ) -> AuditRecord:
        if finding is not None:
            update: dict[str, Any] = {"at": click.at}
            if record_id is not None:
                update["record_id"] = record_id
            record = AuditRecord.about(kind, finding, **data).model_copy(update=update)
        else:
            record = AuditRecord(kind=kind, at=click.at, finding_id=subject, data=data)
        self._audit.append(record)
        return record

    def _queue_failed(
        self,
        click: _Click,
        finding: Finding,
        approval: AuditRecord,
        round_: Round,
        reason: str,
    ) -> Answer:
        # Nothing was queued: the round ends, and the approvers may confirm again at once.
        self._rounds.put(round_.moved("failed"), read_version=round_.version)
        self._append(
            click,
            AuditKind.REMEDIATION_FAILED,
            finding,
            {
                **click.audit_data(),
                "stage": QUEUE_STAGE,
                "approval_id": approval.record_id,
                "error": reason,
            },
        )
        logger.error("remediation not queued", extra={"reason": reason})
        self._tell(
            click,
            messages.notice(
                "\u26a0\ufe0f Approved, but the remediation could not be queued; nothing was "
                "changed. Confirm again in a moment."
            ),
        )
        return Answer(200, "queue-failed")

    def _tell(self, click: _Click, message: SlackMessage) -> None:
        """An ephemeral reply to the clicker; a failure is logged, never raised: the decision
        is already in the audit trail."""
        url = click.payload.response_url
        if url is None:
            return
        try:
            self._replies.respond(url, message)
        except DeliveryError as error:
            logger.warning("ephemeral reply failed", extra={"reason": error.reason})

    def _post_in_thread(self, channel: str | None, ts: str | None, message: SlackMessage) -> None:
        if channel is None or ts is None:
            return
        try:
            self._replies.reply_in_thread(channel, ts, message)
        except DeliveryError as error:
            logger.warning("thread reply failed", extra={"reason": error.reason})
