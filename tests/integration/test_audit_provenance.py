"""What the internet-facing function can write, the remediate function does not trust (issue 12,
defect 5).

The interactions function answers the internet and holds write access to the audit table. The
remediate function rebuilt the finding it acts on from the first ``finding-raised`` record it
found: anyone running code as the interactions role (a bug in request parsing away) could write
a finding naming the break-glass user, an approval, and a queued request, and have iamwatch's
remediation role quarantine that user. Its writes now go to partitions of their own
(``slack#...``), which its role may not leave (an IAM ``dynamodb:LeadingKeys`` condition,
checked in test_template), and what only detection and remediation write is read only from
theirs.

Each attack here writes only what that condition lets the interactions role write: any item
whose partition key starts ``slack#``, with whatever else in it the attacker likes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from iamwatch.audit import AuditKind, AuditRecord, finding_raised
from iamwatch.aws.audit import UNTRUSTED_PREFIX, DynamoDBAuditLog
from iamwatch.aws.rounds import ROUND_PREFIX
from iamwatch.remediation import (
    QUARANTINE_POLICY,
    RemediationError,
    Remediator,
    plan_remediation,
)
from iamwatch.slack.interactions.queue import RemediationRequest
from tests.integration.test_handler_interactions import (
    APPROVERS,
    CHANNEL,
    Stack,
    iam_user_with_key,
    key_created,
)
from tests.integration.test_remediation import NO_HISTORY, finding_of


def forge(stack: Stack, record: AuditRecord) -> None:
    """PutItem as the interactions role may: a partition key starting with slack#."""
    table = stack.deployed.env["IAMWATCH_AUDIT_TABLE"]
    item: dict[str, Any] = {
        "pk": {"S": f"{UNTRUSTED_PREFIX}day#{record.at:%Y-%m-%d}"},
        "sk": {"S": f"{record.at.isoformat()}#{record.record_id}"},
        "record_id": {"S": record.record_id},
        "kind": {"S": record.kind.value},
        "body": {"S": record.model_dump_json()},
    }
    if record.finding_id:
        item["finding_id"] = {"S": record.finding_id}
    stack.deployed.client("dynamodb").put_item(TableName=table, Item=item)


def test_a_forged_finding_cannot_aim_remediation_at_the_break_glass_user(stack: Stack) -> None:
    iam = stack.deployed.client("iam")
    iam.create_user(UserName="break-glass")
    finding = finding_of(
        "console-password-created/positive_iam_user_creates_login_profile_with_cli",
        target="break-glass",
        account="123456789012",
        finding_id=str(uuid.uuid4()),
    )
    plan = plan_remediation(finding)
    now = datetime.now(UTC)
    forge(stack, finding_raised(finding).model_copy(update={"at": now}))
    approval = AuditRecord.about(
        AuditKind.REMEDIATION_APPROVED,
        finding,
        slack_user=APPROVERS[0],
        plan_digest=plan.digest,
        queued=True,
        approvers=[APPROVERS[0]],
    ).model_copy(update={"at": now})
    forge(stack, approval)
    request = RemediationRequest(
        finding_id=finding.finding_id,
        plan_digest=plan.digest,
        approvers=(APPROVERS[0],),
        approval_id=approval.record_id,
        requested_at=now,
        channel=CHANNEL,
    )
    stack.deployed.client("sqs").send_message(
        QueueUrl=stack.remediation_queue_url, MessageBody=request.model_dump_json()
    )

    stack.remediate()

    policies = iam.list_attached_user_policies(UserName="break-glass")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in policies] == []
    assert QUARANTINE_POLICY not in str(policies)
    assert stack.audit("remediation-applied") == []
    (failed,) = [r for r in stack.audit("remediation-failed") if r.finding_id == finding.finding_id]
    assert "not in the audit trail" in failed.data["error"]


def test_a_forged_applied_record_cannot_be_undone_into_a_grant(stack: Stack) -> None:
    """A remediation-applied record says what undo restores. Forged with a real action id
    (the ids are posted in Slack) and a made-up 'before', it would reactivate a key the
    security team deactivated."""
    user, key = iam_user_with_key(stack)
    iam = stack.deployed.client("iam")
    iam.update_access_key(UserName=user, AccessKeyId=key, Status="Inactive")
    record = key_created(user, key)
    finding = finding_of(
        "access-key-created/positive_iam_user_creates_key_for_another_user_is_high",
        target=user,
        account="123456789012",
        details={"accessKeyId": key},
    )
    (step,) = [
        s for s in plan_remediation(finding).steps if s.action.value == "deactivate-access-key"
    ]
    forged = AuditRecord.about(
        AuditKind.REMEDIATION_APPLIED,
        finding,
        step=step.model_dump(mode="json"),
        before={"status": "Active"},
        after={"status": "Inactive"},
        changed=True,
        by="slack:U0APPROVE1",
        via="slack",
    )
    forge(stack, forged)
    audit = DynamoDBAuditLog(
        stack.deployed.client("dynamodb"), stack.deployed.env["IAMWATCH_AUDIT_TABLE"]
    )
    remediator = Remediator(iam, audit, account="123456789012", history=NO_HISTORY)
    with pytest.raises(RemediationError, match="no applied remediation"):
        remediator.undo(forged.record_id, by="oncall", via="cli")
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert [k["Status"] for k in keys] == ["Inactive"]
    assert record["eventID"]  # the event is real; only the audit record was forged


@pytest.mark.parametrize(
    "kind",
    [AuditKind.FINDING_RAISED, AuditKind.DELIVERY_ATTEMPTED, AuditKind.REMEDIATION_APPLIED],
)
def test_an_export_does_not_show_what_the_interactions_partition_claims(
    stack: Stack, kind: AuditKind
) -> None:
    finding = finding_of("iam-user-created/positive_iam_user_creates_tagged_user_with_cli")
    record = (
        finding_raised(finding)
        if kind is AuditKind.FINDING_RAISED
        else AuditRecord.about(kind, finding, outcome="posted", channel=CHANNEL)
    )
    forge(stack, record)
    audit = DynamoDBAuditLog(
        stack.deployed.client("dynamodb"), stack.deployed.env["IAMWATCH_AUDIT_TABLE"]
    )
    day = record.at.replace(hour=0, minute=0, second=0, microsecond=0)
    assert [r for r in audit.read(day, datetime.now(UTC)) if r.record_id == record.record_id] == []
    assert list(audit.for_finding(finding.finding_id)) == []


# The IAM side: the role's condition, and the function keeping within it ------------------------


def leading_keys(role: str, sid: str) -> list[str]:
    from tests.template import resources_of

    statements = [
        statement
        for policy in resources_of("AWS::IAM::Role")[role]["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    (statement,) = [s for s in statements if s["Sid"] == sid]
    patterns: list[str] = statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    return patterns


@pytest.mark.packaged
def test_the_interactions_role_may_write_only_its_own_partitions() -> None:
    assert leading_keys("InteractionsRole", "AuditAppend") == [f"{UNTRUSTED_PREFIX}*"]
    assert leading_keys("InteractionsRole", "RequestClaims") == ["claim#slack-request#*"]
    assert leading_keys("InteractionsRole", "ApprovalRounds") == [f"{ROUND_PREFIX}*"]
    assert leading_keys("RemediateRole", "ApprovalRounds") == [f"{ROUND_PREFIX}*"]


@pytest.mark.packaged
def test_every_write_of_the_interactions_function_is_one_its_role_allows(stack: Stack) -> None:
    """The condition must not break the function: every item it writes in a full round
    (acknowledge, plan, approve, refusals) has a partition key the condition allows."""
    from fnmatch import fnmatchcase

    from handlers import interactions
    from iamwatch.aws import container as aws_container
    from iamwatch.slack.render import ACKNOWLEDGE_ACTION
    from tests.integration.test_handler_interactions import button, confirm, show_plan
    from tests.interactions import click, form, signed_headers

    user, key = iam_user_with_key(stack)
    alert = stack.alert(key_created(user, key))  # detect and notify write as the core
    writes: list[tuple[str, str]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        item = params.get("Item") or params.get("Key") or {}
        writes.append((params["TableName"], item["pk"]["S"]))

    client = aws_container.container().client("dynamodb")
    for operation in ("PutItem", "UpdateItem", "DeleteItem"):
        client.meta.events.register(f"provide-client-params.dynamodb.{operation}", record)
    try:
        value = button(alert, ACKNOWLEDGE_ACTION)["value"]
        body = form(click(ACKNOWLEDGE_ACTION, value, alert=alert))
        stack.send(body, signed_headers(body))
        stack.send(body, signed_headers(body, secret="forged"))
        confirm(stack, show_plan(stack, alert, APPROVERS[0]), APPROVERS[0])
    finally:
        for operation in ("PutItem", "UpdateItem", "DeleteItem"):
            client.meta.events.unregister(f"provide-client-params.dynamodb.{operation}", record)
    assert interactions  # the handler module the writes went through
    tables = {
        stack.deployed.env["IAMWATCH_AUDIT_TABLE"]: leading_keys("InteractionsRole", "AuditAppend"),
        stack.deployed.env["IAMWATCH_STATE_TABLE"]: [
            *leading_keys("InteractionsRole", "RequestClaims"),
            *leading_keys("InteractionsRole", "ApprovalRounds"),
        ],
    }
    assert {table for table, _ in writes} == set(tables)
    for table, partition in writes:
        assert any(fnmatchcase(partition, pattern) for pattern in tables[table]), partition
