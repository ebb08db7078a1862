"""A failure after approval does not lock the finding, and approvals are read consistently
(issue 12, defect 4).

The approval used to be taken from the audit trail through an eventually consistent index, and
the remediate function's claim on a plan was held for an hour whatever happened: a throttled
IAM call or a failed step left the approvers unable to approve the same plan again until the
hour was up, and an approval not yet in the index was "missing".
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from iamwatch.audit import AuditRecord, SQLiteAuditLog
from iamwatch.aws import container as aws_container
from iamwatch.remediation import Remediator, plan_remediation
from iamwatch.slack.interactions import messages
from iamwatch.slack.interactions.approvals import ApprovalPolicy
from iamwatch.slack.interactions.remediate import QueuedRemediations
from iamwatch.slack.interactions.replies import WebApiReplies
from tests.integration.test_handler_interactions import (
    APPROVERS,
    Stack,
    confirm,
    iam_user_with_key,
    key_created,
    key_status,
    show_plan,
)
from tests.integration.test_remediation import NO_HISTORY
from tests.integration.test_slack_interactions import (
    APPROVER,
    OTHER,
    Core,
    critical_key_finding,
)
from tests.interactions import click
from tests.slack_server import SlackServer

# Through the handlers on moto ------------------------------------------------------------------


def test_after_a_failed_apply_the_plan_can_be_approved_again_at_once(stack: Stack) -> None:
    """The user is gone when the remediation runs, so it fails; once the user is back the
    approver confirms again right away: queued and applied, not refused for an hour."""
    user, key = iam_user_with_key(stack)
    alert = stack.alert(key_created(user, key))
    iam = stack.deployed.client("iam")
    iam.delete_access_key(UserName=user, AccessKeyId=key)
    iam.delete_user(UserName=user)  # every step now fails: NoSuchEntity

    answer, text = confirm(stack, show_plan(stack, alert, APPROVERS[0]), APPROVERS[0])
    assert text.startswith("Approved; the remediation is queued"), text
    stack.remediate()
    assert stack.audit("remediation-applied") == []
    assert stack.audit("remediation-failed")

    iam.create_user(UserName=user)  # the situation is back; the finding still stands
    answer, text = confirm(stack, show_plan(stack, alert, APPROVERS[0]), APPROVERS[0])
    assert answer["statusCode"] == 200
    assert text.startswith("Approved; the remediation is queued"), text
    stack.remediate()
    applied = stack.audit("remediation-applied")
    assert [(r.data["step"]["action"], r.data["changed"]) for r in applied] == [
        ("deactivate-access-key", False),  # the key is gone
        ("quarantine-user", True),
    ]


class Throttled:
    """Answers the first ``times`` UpdateAccessKey calls with IAM's Throttling error."""

    def __init__(self, times: int) -> None:
        self.left = times

    def __call__(self, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        if self.left <= 0:
            return None
        self.left -= 1
        raise ClientError(
            {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "UpdateAccessKey"
        )


def test_a_throttled_step_is_retried_by_the_queue_not_failed(stack: Stack) -> None:
    user, key = iam_user_with_key(stack)
    alert = stack.alert(key_created(user, key))
    iam = aws_container.container().client("iam")
    throttle = Throttled(times=1)
    iam.meta.events.register("before-call.iam.UpdateAccessKey", throttle)
    try:
        confirm(stack, show_plan(stack, alert, APPROVERS[0]), APPROVERS[0])
        rounds = stack.remediate()
    finally:
        iam.meta.events.unregister("before-call.iam.UpdateAccessKey", throttle)
    assert throttle.left == 0
    assert key_status(stack, user, key) == "Inactive"
    assert rounds == 2, "the throttled message came back from the queue once"
    assert [r.data["step"]["action"] for r in stack.audit("remediation-applied")] == [
        "deactivate-access-key",
        "quarantine-user",
    ]


# Through the ports, with an audit trail whose index lags -------------------------------------


class LaggingIndex(SQLiteAuditLog):
    """An audit trail read through an index that has not caught up: records appended in the
    last ``lag`` are missing from ``get`` and ``for_finding``, as in a DynamoDB GSI."""

    def __init__(self, lag: timedelta) -> None:
        super().__init__()
        self.lag = lag

    def _caught_up(self, record: AuditRecord) -> bool:
        return record.kind.value == "finding-raised" or (datetime.now(UTC) - record.at >= self.lag)

    def get(self, record_id: str) -> AuditRecord | None:
        record = super().get(record_id)
        return record if record is not None and self._caught_up(record) else None

    def for_finding(self, finding_id: str) -> Iterator[AuditRecord]:
        return (r for r in super().for_finding(finding_id) if self._caught_up(r))


@pytest.fixture
def lagging() -> LaggingIndex:
    return LaggingIndex(timedelta(hours=1))


def test_a_second_approver_right_after_the_first_completes_the_round(
    slack: SlackServer, lagging: LaggingIndex
) -> None:
    core = Core(slack, two_person=True, audit=lagging)
    core.clock.now = datetime.now(UTC).timestamp()
    finding = critical_key_finding()
    core.raise_finding(finding)
    value = f"{finding.finding_id}|{plan_remediation(finding).digest}|-"
    assert core.send(click(messages.CONFIRM_ACTION, value, user=APPROVER)).outcome == (
        "approved-pending"
    )
    assert core.send(click(messages.CONFIRM_ACTION, value, user=OTHER)).outcome == "queued"
    (request,) = core.queue.requests
    assert request.approvers == (APPROVER, OTHER)


def test_the_remediate_function_sees_an_approval_the_index_does_not_have_yet(
    slack: SlackServer, lagging: LaggingIndex, iam: Any
) -> None:
    core = Core(slack, audit=lagging)
    core.clock.now = datetime.now(UTC).timestamp()
    user = f"payroll-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    finding = critical_key_finding().model_copy(
        update={"target": user, "details": {"accessKeyId": key}, "account": "123456789012"}
    )
    core.raise_finding(finding)
    value = f"{finding.finding_id}|{plan_remediation(finding).digest}|-"
    assert core.send(click(messages.CONFIRM_ACTION, value, user=APPROVER)).outcome == "queued"
    (request,) = core.queue.requests

    remediations = QueuedRemediations(
        audit=lagging,
        remediator=Remediator(iam, lagging, account="123456789012", history=NO_HISTORY),
        replies=WebApiReplies(
            lambda: SecretStr(SlackServer.TOKEN), api_url=slack.api_url, timeout=2
        ),
        policy=ApprovalPolicy(frozenset({APPROVER, OTHER})),
        rounds=core.rounds,
        clock=core.clock,
    )
    assert remediations.run(request) == "applied"
    statuses = [k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]]
    assert statuses == ["Inactive"]
