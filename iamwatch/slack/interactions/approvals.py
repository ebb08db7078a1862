"""Who may approve a remediation from Slack, how many must, and whether a round still counts.

Approvals live in the finding's approval round (``rounds.py``: one consistently read item per
finding), and every click is also an audit record (``remediation-approved``, carrying the plan
digest). For a critical finding with two-person approval on, a plan is queued only when a
second, different approver confirms the same digest within an hour of the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from iamwatch.finding import Finding
from iamwatch.severity import Severity
from iamwatch.slack.interactions.rounds import Round

APPROVAL_WINDOW = timedelta(hours=1)
QUEUE_STAGE = "queue"
APPLY_STAGE = "apply"
# Two functions' clocks: an approval may look a little "in the future" to the other one.
_CLOCK_SKEW = timedelta(minutes=1)


def _within_window(at: datetime, now: datetime) -> bool:
    return -_CLOCK_SKEW <= now - at <= APPROVAL_WINDOW


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    approvers: frozenset[str]
    two_person: bool = False

    def may_approve(self, user_id: str) -> bool:
        return user_id in self.approvers

    def required(self, finding: Finding) -> int:
        return 2 if self.two_person and finding.severity is Severity.CRITICAL else 1

    def pending(self, round_: Round | None, digest: str, now: datetime) -> list[str]:
        """Who approved this plan in the round still open for it, within the hour, and is
        still an approver; oldest first."""
        if round_ is None or round_.status != "pending" or round_.digest != digest:
            return []
        return [
            approval.user
            for approval in round_.approvals
            if _within_window(approval.at, now) and self.may_approve(approval.user)
        ]

    def in_progress(self, round_: Round | None, digest: str, now: datetime) -> bool:
        """The plan was queued within the hour and has not ended."""
        return (
            round_ is not None
            and round_.digest == digest
            and round_.status in ("queued", "applying")
            and round_.queued_at is not None
            and _within_window(round_.queued_at, now)
        )

    def authorises(
        self,
        round_: Round | None,
        finding: Finding,
        digest: str,
        approval_id: str,
        now: datetime,
    ) -> tuple[str, ...] | None:
        """The approvers of the round if it still authorises applying ``digest`` to
        ``finding`` now as the queued approval ``approval_id`` (approvers as configured
        today, enough of them, within the window), else None. A round the remediate function
        already took (``applying``, a retry of the same request) still does."""
        if (
            round_ is None
            or round_.finding_id != finding.finding_id
            or round_.digest != digest
            or round_.status not in ("queued", "applying")
            or round_.approval_id != approval_id
            or round_.queued_at is None
            or not _within_window(round_.queued_at, now)
        ):
            return None
        approvers = tuple(dict.fromkeys(round_.approvers))
        if len(approvers) < self.required(finding):
            return None
        if not all(self.may_approve(user) for user in approvers):
            return None
        return approvers
