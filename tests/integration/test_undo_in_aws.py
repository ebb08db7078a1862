"""An undo posted in Slack works (issue 12, defect 3).

Remediations approved in Slack are audited in DynamoDB, and the thread reply said
``iamwatch remediate --undo ID``, which read only the CLI's SQLite trail and answered "no
applied remediation". Now the reply offers an Undo button for what the remediation role can
put back itself (a key it deactivated, a quarantine it attached), which goes through the same
approval and the remediate function; and for everything else a command that reads the
deployment's DynamoDB audit table with the operator's credentials.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from iamwatch.slack.render import REMEDIATE_ACTION
from tests.conftest import EVENTS_DIR, load_case, run_iamwatch
from tests.integration.test_handler_interactions import (
    APPROVERS,
    CHANNEL,
    OUTSIDER,
    Stack,
    button,
    confirm,
    iam_user_with_key,
    key_created,
    key_status,
    show_plan,
)
from tests.interactions import click
from tests.slack_server import Message

UNDO_ACTION = "iamwatch.remediate.undo"
DENY_ALL = "arn:aws:iam::aws:policy/AWSDenyAll"


def remediated(stack: Stack) -> tuple[str, str, Message]:
    """A key deactivated and its user quarantined from Slack; the outcome reply."""
    user, key = iam_user_with_key(stack)
    alert = stack.alert(key_created(user, key))
    confirm(stack, show_plan(stack, alert, APPROVERS[0]), APPROVERS[0])
    stack.remediate()
    assert key_status(stack, user, key) == "Inactive"
    return user, key, stack.slack.replies(alert.ts)[-1]


def undo_buttons(reply: Message) -> list[dict[str, Any]]:
    return [
        element
        for block in reply.blocks
        if block["type"] == "actions"
        for element in block["elements"]
        if element.get("action_id") == UNDO_ACTION
    ]


def attached(stack: Stack, user: str) -> list[str]:
    listed = stack.deployed.client("iam").list_attached_user_policies(UserName=user)
    return [p["PolicyArn"] for p in listed["AttachedPolicies"]]


def test_the_undo_button_reverses_a_step_through_the_remediate_function(stack: Stack) -> None:
    user, key, reply = remediated(stack)
    applied = {r.data["step"]["action"]: r.record_id for r in stack.audit("remediation-applied")}
    buttons = undo_buttons(reply)
    assert sorted(b["value"] for b in buttons) == sorted(applied.values())
    assert all(b.get("confirm") for b in buttons), "an undo asks for confirmation"

    undo_key = next(b for b in buttons if b["value"] == applied["deactivate-access-key"])
    url = stack.slack.response_url()
    answer = stack.click(
        click(UNDO_ACTION, undo_key["value"], user=APPROVERS[0], channel=CHANNEL,
              response_url=url)
    )  # fmt: skip
    assert answer["statusCode"] == 200
    assert key_status(stack, user, key) == "Inactive", (
        "the internet-facing function changes nothing"
    )
    stack.remediate()
    assert key_status(stack, user, key) == "Active"
    assert attached(stack, user) == [DENY_ALL], "only the step undone"
    (undone,) = stack.audit("remediation-undone")
    assert undone.data["undid"] == applied["deactivate-access-key"]
    assert undone.data["by"] == f"slack:{APPROVERS[0]}" and undone.data["via"] == "slack"


def test_only_an_approver_may_undo(stack: Stack) -> None:
    *_, reply = remediated(stack)
    (value, *_) = [b["value"] for b in undo_buttons(reply)]
    answer = stack.click(click(UNDO_ACTION, value, user=OUTSIDER, channel=CHANNEL))
    assert answer["statusCode"] == 200
    stack.remediate()
    assert stack.audit("remediation-undone") == []
    assert [r.data["reason"] for r in stack.audit("interaction-refused")] == ["not-an-approver"]


def test_an_undo_button_value_that_is_no_applied_step_is_refused(stack: Stack) -> None:
    remediated(stack)
    for value in (str(uuid.uuid4()), "../x"):
        stack.click(click(UNDO_ACTION, value, user=APPROVERS[0], channel=CHANNEL))
    stack.remediate()
    assert stack.audit("remediation-undone") == []
    reasons = [r.data["reason"] for r in stack.audit("interaction-refused")]
    assert reasons == ["unknown-action", "malformed"]


def test_a_step_the_role_cannot_put_back_gets_a_command_for_the_dynamodb_trail(
    stack: Stack, event_history: Any
) -> None:
    """Removing a user from an admin group is undone by adding them back: a grant iamwatch's
    remediation role may not make. The reply gives the command, with the audit table."""
    iam = stack.deployed.client("iam")
    user = f"svc-{uuid.uuid4().hex[:8]}"
    group = f"PlatformAdmins-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    iam.create_group(GroupName=group)
    iam.add_user_to_group(UserName=user, GroupName=group)
    case = "positive_add_user_to_platform_admins_group_is_high.json"
    record = copy.deepcopy(load_case(EVENTS_DIR / "user-added-to-group" / case).records[0])
    record.update(eventID=str(uuid.uuid4()), recipientAccountId="123456789012")
    record["requestParameters"] = {"userName": user, "groupName": group}
    alert = stack.alert(record, detector="user-added-to-group")
    assert button(alert, REMEDIATE_ACTION)
    confirm(stack, show_plan(stack, alert, APPROVERS[0]), APPROVERS[0])
    stack.remediate()
    reply = stack.slack.replies(alert.ts)[-1]
    (applied,) = stack.audit("remediation-applied")
    table = stack.deployed.env["IAMWATCH_AUDIT_TABLE"]
    command = f"iamwatch remediate --undo {applied.record_id} --audit dynamodb://{table}"
    assert command in str(reply.blocks)
    assert undo_buttons(reply) == []

    # ... and that command, run by an operator with their own credentials, works.
    undone = run_iamwatch(*command.split()[1:], env=stack.deployed.env)
    assert undone.returncode == 0, undone.stderr
    groups = iam.list_groups_for_user(UserName=user)["Groups"]
    assert [g["GroupName"] for g in groups] == [group]
    (record_undone,) = stack.audit("remediation-undone")
    assert record_undone.data["undid"] == applied.record_id and record_undone.data["via"] == "cli"
