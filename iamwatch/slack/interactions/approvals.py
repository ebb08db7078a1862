"""Who may approve a remediation from Slack, and how many must: read from the audit trail.

Approvals are ``remediation-approved`` audit records carrying the plan digest. For a critical
finding with two-person approval on, a plan is queued only when a second, different approver
confirms the same digest within an hour of the first. The record that queues a plan is marked
``queued`` and lists its approvers, which ends that round; if queueing then fails, a
``remediation-failed`` record (stage ``queue``) voids it and the round stays open.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from iamwatch.audit import AuditKind, AuditRecord
from iamwatch.finding import Finding
from iamwatch.severity import Severity

APPROVAL_WINDOW = timedelta(hours=1)
QUEUE_STAGE = "queue"
# Two functions' clocks: an approval may look a little "in the future" to the other one.
_CLOCK_SKEW = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    approvers: frozenset[str]
    two_person: bool = False

    def may_approve(self, user_id: str) -> bool:
        return user_id in self.approvers

    def required(self, finding: Finding) -> int:
        return 2 if self.two_person and finding.severity is Severity.CRITICAL else 1

    def valid_round(
        self, record: AuditRecord | None, finding: Finding, digest: str, now: datetime
    ) -> tuple[str, ...] | None:
        """The approvers of the queued approval ``record`` if it still authorises applying
        ``digest`` to ``finding`` now (approvers as configured today, enough of them, within
        the window), else None."""
        if (
            record is None
            or record.kind is not AuditKind.REMEDIATION_APPROVED
            or record.finding_id != finding.finding_id
            or record.data.get("plan_digest") != digest
            or not record.data.get("queued")
            or not -_CLOCK_SKEW <= now - record.at <= APPROVAL_WINDOW
        ):
            return None
        listed = record.data.get("approvers")
        if not isinstance(listed, list) or not all(isinstance(user, str) for user in listed):
            return None
        approvers = tuple(dict.fromkeys(listed))
        if len(approvers) < self.required(finding):
            return None
        if not all(self.may_approve(user) for user in approvers):
            return None
        return approvers


def _live_approvals(history: Iterable[AuditRecord], digest: str) -> list[AuditRecord]:
    records = list(history)
    void = {
        record.data.get("approval_id")
        for record in records
        if record.kind is AuditKind.REMEDIATION_FAILED and record.data.get("stage") == QUEUE_STAGE
    }
    return [
        record
        for record in records
        if record.kind is AuditKind.REMEDIATION_APPROVED
        and record.data.get("plan_digest") == digest
        and record.record_id not in void
    ]


def pending_approvers(history: Iterable[AuditRecord], digest: str, now: datetime) -> list[str]:
    """Slack users who approved this plan within the window and since it was last queued,
    oldest first."""
    users: list[str] = []
    for record in _live_approvals(history, digest):
        if record.data.get("queued"):
            users = []
            continue
        user = record.data.get("slack_user")
        if isinstance(user, str) and now - record.at <= APPROVAL_WINDOW and user not in users:
            users.append(user)
    return users


def recently_queued(
    history: Iterable[AuditRecord], digest: str, now: datetime
) -> AuditRecord | None:
    """The approval that queued this plan within the window, if one did."""
    queued = [
        record
        for record in _live_approvals(history, digest)
        if record.data.get("queued") and now - record.at <= APPROVAL_WINDOW
    ]
    return queued[-1] if queued else None
