"""Slack buttons end to end: a finding goes through the detect and notify handlers to the
loopback Slack server as an alert with Acknowledge and Remediate buttons; clicks arrive at the
interactions handler as API Gateway HTTP API events, signed (or not) the way Slack signs them;
approved remediations go through the remediation queue on moto to the remediate handler,
which changes moto's IAM. Every request, accepted or refused, is checked in the audit table."""

from __future__ import annotations

import copy
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from handlers import events, interactions, notifier, remediate
from iamwatch.audit import AuditRecord
from iamwatch.aws import container as aws_container
from iamwatch.finding import finding_id_for
from iamwatch.slack.interactions.messages import CONFIRM_ACTION
from iamwatch.slack.render import ACKNOWLEDGE_ACTION, REMEDIATE_ACTION, RUNBOOK_ACTION
from tests.aws import Deployed, LambdaContext, deploy, eventbridge_event, sqs_batches, use_slack
from tests.conftest import EVENTS_DIR, load_case
from tests.interactions import SIGNING_SECRET, click, form, http_event, signed_headers
from tests.slack_server import Message, SlackServer, live_tokens, message_texts
from tests.template import resources_of

CHANNEL = "C0ALERTS01"
APPROVERS = ("U0APPROVE1", "U0APPROVE2")
OUTSIDER = "U0OUTSIDE1"


@dataclass
class Stack:
    deployed: Deployed
    slack: SlackServer
    remediation_queue_url: str

    def alert(self, record: dict[str, Any], detector: str = "access-key-created") -> Message:
        """Detect and notify: the alert the finding became in Slack."""
        events.handler(eventbridge_event(record), LambdaContext())
        sqs_batches(self.deployed, self.deployed.alert_queue_url, notifier.handler)
        wanted = finding_id_for(detector, record["eventID"])
        (message,) = [m for m in self.slack.top_level(CHANNEL) if wanted in str(m.blocks)]
        return message

    def send(self, body: bytes, headers: dict[str, str], **options: Any) -> dict[str, Any]:
        result: dict[str, Any] = interactions.handler(
            http_event(body, headers, **options), LambdaContext()
        )
        return result

    def click(self, payload: dict[str, Any]) -> dict[str, Any]:
        body = form(payload)
        return self.send(body, signed_headers(body))

    def audit(self, kind: str | None = None) -> list[AuditRecord]:
        table = self.deployed.env["IAMWATCH_AUDIT_TABLE"]
        items = self.deployed.client("dynamodb").scan(TableName=table)["Items"]
        records = sorted(
            (AuditRecord.model_validate_json(item["body"]["S"]) for item in items),
            key=lambda record: record.at,
        )
        return [r for r in records if kind is None or r.kind.value == kind]

    def queued(self) -> list[dict[str, Any]]:
        sqs = self.deployed.client("sqs")
        messages = sqs.receive_message(
            QueueUrl=self.remediation_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages", [])
        return [orjson.loads(message["Body"]) for message in messages]

    def remediate(self) -> int:
        return sqs_batches(self.deployed, self.remediation_queue_url, remediate.handler)


@pytest.fixture
def stack(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, slack: SlackServer) -> Stack:
    deployed = deploy(moto_endpoint, monkeypatch)
    parameter = f"/iamwatch/{uuid.uuid4().hex[:8]}/slack-signing-secret"
    deployed.client("ssm").put_parameter(Name=parameter, Value=SIGNING_SECRET, Type="SecureString")
    use_slack(
        deployed,
        monkeypatch,
        slack.api_url,
        SlackServer.TOKEN,
        channel=CHANNEL,
        interactivity="true",
        signing_secret_ssm_parameter=parameter,
        approvers=",".join(APPROVERS),
    )
    sqs = deployed.client("sqs")
    queue = sqs.create_queue(
        QueueName=f"iamwatch-remediation-{uuid.uuid4().hex[:8]}",
        Attributes={"VisibilityTimeout": "0"},
    )["QueueUrl"]
    monkeypatch.setenv("IAMWATCH_REMEDIATION_QUEUE_URL", queue)
    return Stack(deployed, slack, queue)


def iam_user_with_key(stack: Stack) -> tuple[str, str]:
    iam = stack.deployed.client("iam")
    user = f"payroll-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    return user, key


def key_created(user: str, key: str, *, by_root: bool = False) -> dict[str, Any]:
    """CreateAccessKey for ``user`` (by another IAM user: high; by root: critical)."""
    base = "positive_iam_user_creates_key_for_another_user_is_high.json"
    record = copy.deepcopy(load_case(EVENTS_DIR / "access-key-created" / base).records[0])
    if by_root:
        root = "positive_root_creates_access_key_is_critical.json"
        record["userIdentity"] = load_case(EVENTS_DIR / "access-key-created" / root).records[0][
            "userIdentity"
        ]
    record["eventID"] = str(uuid.uuid4())
    record["requestParameters"] = {"userName": user}
    record["responseElements"]["accessKey"].update(userName=user, accessKeyId=key)
    return record


def key_status(stack: Stack, user: str, key: str) -> str:
    keys = stack.deployed.client("iam").list_access_keys(UserName=user)["AccessKeyMetadata"]
    return str(next(k["Status"] for k in keys if k["AccessKeyId"] == key))


def button(message: Message | dict[str, Any], action_id: str) -> dict[str, Any]:
    blocks = message.blocks if isinstance(message, Message) else message["blocks"]
    return next(
        element
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
        if element.get("action_id") == action_id
    )


# Acknowledge -----------------------------------------------------------------------------


def test_a_signed_acknowledge_is_recorded_and_shown_on_the_alert(stack: Stack) -> None:
    user, key = iam_user_with_key(stack)
    alert = stack.alert(key_created(user, key))
    finding = button(alert, ACKNOWLEDGE_ACTION)["value"]
    before = copy.deepcopy(alert.blocks)

    answer = stack.click(click(ACKNOWLEDGE_ACTION, finding, user="U0ALICE001", alert=alert))

    assert answer["statusCode"] == 200
    (record,) = stack.audit("finding-acknowledged")
    assert record.finding_id == finding
    assert record.data["by"] == "slack:U0ALICE001"
    assert record.data["slack_user_name"] == "alice"
    assert record.data["channel"] == CHANNEL and record.data["message_ts"] == alert.ts
    assert record.data["source_ip"] == "198.51.100.7"
    # The alert now says who acknowledged it and when; every other block is as it was.
    assert alert.updates == 1
    status = [b for b in alert.blocks if b.get("block_id") == "iamwatch.status"]
    (line,) = [element["text"] for element in status[0]["elements"]]
    assert line.startswith("\u2705 Acknowledged by <@U0ALICE001> at ")
    assert record.at.strftime("%Y-%m-%d %H:%M:%S UTC") in line
    assert [b for b in alert.blocks if b.get("block_id") != "iamwatch.status"] == before
    assert alert.blocks[-1] == before[-1], "the footer stays last"
    live = [token for text, _ in message_texts(alert.body) for token in live_tokens(text)]
    assert live == ["<@U0ALICE001>"]


def test_a_base64_encoded_body_is_verified_over_its_decoded_bytes(stack: Stack) -> None:
    user, key = iam_user_with_key(stack)
    alert = stack.alert(key_created(user, key))
    body = form(click(ACKNOWLEDGE_ACTION, button(alert, ACKNOWLEDGE_ACTION)["value"], alert=alert))
    answer = stack.send(body, signed_headers(body), base64_body=True)
    assert answer["statusCode"] == 200
    assert len(stack.audit("finding-acknowledged")) == 1


# Requests that are not Slack's -----------------------------------------------------------


def refused(stack: Stack) -> AuditRecord:
    (record,) = stack.audit("interaction-refused")
    return record


@pytest.fixture
def logged(log_lines: Any) -> Any:
    return log_lines


def assert_forged_request_logged(
    stack: Stack, lines: list[dict[str, Any]], body: bytes, reason: str
) -> None:
    """A request nobody proved to be Slack's costs no write (issue 12, defect 12); the log
    keeps only its claimed user, its hash and size, and where it came from: nothing else it
    says."""
    assert stack.audit("interaction-refused") == []
    (line,) = [item for item in lines if item.get("message") == "slack interaction refused"]
    assert {key: line[key] for key in ("reason", "claimed_user", "body_sha256")} == {
        "reason": reason,
        "claimed_user": "U0MALLORY1",
        "body_sha256": hashlib.sha256(body).hexdigest(),
    }
    assert (line["body_bytes"], line["source_ip"]) == (len(body), "198.51.100.7")


def forged_payload(stack: Stack) -> tuple[dict[str, Any], Message]:
    user, key = iam_user_with_key(stack)
    alert = stack.alert(key_created(user, key))
    payload = click(
        ACKNOWLEDGE_ACTION,
        button(alert, ACKNOWLEDGE_ACTION)["value"],
        user="U0MALLORY1",
        alert=alert,
        response_url=stack.slack.response_url(),
    )
    return payload, alert


def assert_nothing_happened(stack: Stack, alert: Message) -> None:
    assert stack.audit("finding-acknowledged") == []
    assert alert.updates == 0
    assert stack.slack.requests_for("chat.update") == []
    assert stack.slack.responses() == []


def test_an_unsigned_request_is_refused_and_logged(stack: Stack, logged: Any) -> None:
    payload, alert = forged_payload(stack)
    body = form(payload)
    logged()
    answer = stack.send(body, {})
    assert answer["statusCode"] == 401
    assert_forged_request_logged(stack, logged(), body, "unsigned")
    assert_nothing_happened(stack, alert)


def test_a_request_signed_with_another_secret_is_refused_and_logged(
    stack: Stack, logged: Any
) -> None:
    payload, alert = forged_payload(stack)
    body = form(payload)
    logged()
    answer = stack.send(body, signed_headers(body, secret="not-the-apps-signing-secret"))
    assert answer["statusCode"] == 401
    assert_forged_request_logged(stack, logged(), body, "bad-signature")
    assert_nothing_happened(stack, alert)


def test_a_body_changed_after_signing_is_refused(stack: Stack, logged: Any) -> None:
    payload, alert = forged_payload(stack)
    headers = signed_headers(form(payload))
    payload["user"]["id"] = "U0MALLORY1"
    payload["actions"][0]["action_id"] = REMEDIATE_ACTION
    tampered = form(payload)
    logged()
    answer = stack.send(tampered, headers)
    assert answer["statusCode"] == 401
    assert_forged_request_logged(stack, logged(), tampered, "bad-signature")
    assert_nothing_happened(stack, alert)


@pytest.mark.parametrize(
    ("age", "reason"),
    [(6 * 60, "stale"), (-6 * 60, "future-dated")],
    ids=["six_minutes_old_is_stale", "six_minutes_ahead_is_refused"],
)
def test_a_correctly_signed_request_outside_five_minutes_is_refused(
    stack: Stack, age: int, reason: str, logged: Any
) -> None:
    payload, alert = forged_payload(stack)
    body = form(payload)
    logged()
    answer = stack.send(body, signed_headers(body, age=age))
    assert answer["statusCode"] == 401
    assert_forged_request_logged(stack, logged(), body, reason)
    assert_nothing_happened(stack, alert)


def test_a_replayed_request_is_refused_the_second_time(stack: Stack) -> None:
    user, key = iam_user_with_key(stack)
    alert = stack.alert(key_created(user, key))
    body = form(click(ACKNOWLEDGE_ACTION, button(alert, ACKNOWLEDGE_ACTION)["value"], alert=alert))
    headers = signed_headers(body)
    assert stack.send(body, headers)["statusCode"] == 200
    assert stack.send(body, headers)["statusCode"] == 401
    assert len(stack.audit("finding-acknowledged")) == 1
    assert stack.audit("interaction-refused") == []  # a replay costs no write
    assert alert.updates == 1


@pytest.mark.parametrize(
    "body",
    [
        b"payload=%7Bnot+json",
        b"payload=" + b"%5B%5D",
        b"token=x&command=%2Fiamwatch",
        form({"type": "view_submission", "user": {"id": "U0ALICE001"}}),
        form({**click(ACKNOWLEDGE_ACTION, str(uuid.uuid4())), "actions": []}),
    ],
    ids=["not_json", "not_an_object", "slash_command", "view_submission", "no_action"],
)
def test_a_signed_body_that_is_not_a_button_click_is_refused_as_malformed(
    stack: Stack, body: bytes
) -> None:
    answer = stack.send(body, signed_headers(body))
    assert answer["statusCode"] == 400
    record = refused(stack)
    assert record.data["reason"] == "malformed"
    assert record.data["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_a_button_value_that_is_not_a_finding_id_is_refused(stack: Stack) -> None:
    url = stack.slack.response_url()
    answer = stack.click(click(ACKNOWLEDGE_ACTION, "../../etc/passwd", response_url=url))
    assert answer["statusCode"] == 400
    assert refused(stack).data["reason"] == "malformed"


def test_link_buttons_are_answered_and_change_nothing(stack: Stack) -> None:
    answer = stack.click(click(RUNBOOK_ACTION, None))
    assert answer["statusCode"] == 200
    assert stack.audit() == []


# Authorisation ---------------------------------------------------------------------------


def ephemeral_text(stack: Stack, url: str) -> str:
    (reply,) = stack.slack.responses(url)
    assert reply.body["response_type"] == "ephemeral"
    assert reply.body["replace_original"] is False
    return reply.text


def test_an_unknown_finding_is_refused_with_an_explanation(stack: Stack) -> None:
    url = stack.slack.response_url()
    unknown = str(uuid.uuid4())
    answer = stack.click(click(ACKNOWLEDGE_ACTION, unknown, response_url=url))
    assert answer["statusCode"] == 200
    record = refused(stack)
    assert record.data["reason"] == "unknown-finding"
    assert record.finding_id == unknown and record.data["slack_user"] == "U0ALICE001"
    assert "no record of this finding" in ephemeral_text(stack, url)


def test_remediate_from_someone_not_an_approver_is_refused_and_recorded(stack: Stack) -> None:
    user, key = iam_user_with_key(stack)
    alert = stack.alert(key_created(user, key))
    finding = button(alert, REMEDIATE_ACTION)["value"]
    url = stack.slack.response_url()
    answer = stack.click(
        click(REMEDIATE_ACTION, finding, user=OUTSIDER, alert=alert, response_url=url)
    )
    assert answer["statusCode"] == 200
    record = refused(stack)
    assert record.data["reason"] == "not-an-approver"
    assert record.finding_id == finding and record.data["slack_user"] == OUTSIDER
    assert "Only the approvers" in ephemeral_text(stack, url)
    assert stack.audit("remediation-requested") == []
    assert key_status(stack, user, key) == "Active"


# Remediation -----------------------------------------------------------------------------


def show_plan(stack: Stack, alert: Message, approver: str) -> Message:
    url = stack.slack.response_url()
    finding = button(alert, REMEDIATE_ACTION)["value"]
    answer = stack.click(
        click(REMEDIATE_ACTION, finding, user=approver, alert=alert, response_url=url)
    )
    assert answer["statusCode"] == 200
    (plan,) = stack.slack.responses(url)
    return plan


def confirm(stack: Stack, plan: Message, approver: str) -> tuple[dict[str, Any], str]:
    url = stack.slack.response_url()
    value = button(plan, CONFIRM_ACTION)["value"]
    answer = stack.click(
        click(
            CONFIRM_ACTION,
            value,
            user=approver,
            channel=CHANNEL,
            response_url=url,
            ephemeral_ts=plan.ts,
        )
    )
    return answer, ephemeral_text(stack, url)


def test_an_approved_remediation_is_queued_applied_and_reported_with_its_undo(
    stack: Stack,
) -> None:
    user, key = iam_user_with_key(stack)
    alert = stack.alert(key_created(user, key))
    finding = button(alert, REMEDIATE_ACTION)["value"]
    approver = APPROVERS[0]

    plan = show_plan(stack, alert, approver)
    assert plan.body["response_type"] == "ephemeral"
    assert f"Deactivate access key {key}" in plan.text + str(plan.blocks)
    confirm_button = button(plan, CONFIRM_ACTION)
    assert confirm_button["confirm"]["confirm"]["text"] == "Apply"
    (requested,) = stack.audit("remediation-requested")
    digest = requested.data["plan_digest"]
    assert confirm_button["value"] == f"{finding}|{digest}|{alert.ts}"
    assert key_status(stack, user, key) == "Active", "showing a plan changes nothing"

    answer, text = confirm(stack, plan, approver)
    assert answer["statusCode"] == 200
    assert "queued" in text
    (approval,) = stack.audit("remediation-approved")
    assert approval.data["queued"] is True and approval.data["approvers"] == [approver]
    (queued,) = stack.queued()
    assert queued["finding_id"] == finding and queued["plan_digest"] == digest
    assert queued["approval_id"] == approval.record_id
    assert key_status(stack, user, key) == "Active", "the internet-facing function changes nothing"

    stack.remediate()
    assert key_status(stack, user, key) == "Inactive"
    policies = stack.deployed.client("iam").list_attached_user_policies(UserName=user)
    assert [p["PolicyName"] for p in policies["AttachedPolicies"]] == ["AWSDenyAll"]
    applied = stack.audit("remediation-applied")
    assert [r.data["step"]["action"] for r in applied] == [
        "deactivate-access-key",
        "quarantine-user",
    ]
    assert applied[0].data["before"] == {"status": "Active"}
    assert applied[0].data["after"] == {"status": "Inactive"}
    assert all(r.data["by"] == f"slack:{approver}" and r.data["via"] == "slack" for r in applied)
    replies = stack.slack.replies(alert.ts)
    outcome = replies[-1].blocks[0]["text"]["text"]
    table = stack.deployed.env["IAMWATCH_AUDIT_TABLE"]
    for record in applied:
        undo = f"`iamwatch remediate --undo {record.record_id} --audit dynamodb://{table}`"
        assert undo in str(replies[-1].blocks)
    assert "applied" in outcome
    assert stack.queued() == []


def test_two_person_approval_needs_two_different_approvers(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IAMWATCH_SLACK_TWO_PERSON_APPROVAL", "true")
    aws_container.reset()
    user, key = iam_user_with_key(stack)
    alert = stack.alert(key_created(user, key, by_root=True))
    first, second = APPROVERS

    answer, text = confirm(stack, show_plan(stack, alert, first), first)
    assert answer["statusCode"] == 200 and "1 of 2" in text
    assert stack.queued() == []
    (pending,) = stack.audit("remediation-approved")
    assert pending.data["approval"] == 1 and pending.data["approvals_required"] == 2
    assert "queued" not in pending.data
    assert f"<@{first}> approved" in stack.slack.replies(alert.ts)[-1].text

    answer, text = confirm(stack, show_plan(stack, alert, first), first)
    assert answer["statusCode"] == 200 and "already approved" in text
    assert refused(stack).data["reason"] == "same-approver-twice"
    assert stack.queued() == []

    answer, text = confirm(stack, show_plan(stack, alert, second), second)
    assert answer["statusCode"] == 200 and "queued" in text
    approvals = stack.audit("remediation-approved")
    assert approvals[-1].data["approvers"] == [first, second]
    stack.remediate()
    assert key_status(stack, user, key) == "Inactive"
    applied = stack.audit("remediation-applied")
    assert applied and all(r.data["by"] == f"slack:{first},slack:{second}" for r in applied)


def test_the_remediate_function_refuses_a_request_without_a_valid_approval(
    stack: Stack,
) -> None:
    """Something that can write to the queue but did not go through approval gets nothing."""
    user, key = iam_user_with_key(stack)
    alert = stack.alert(key_created(user, key))
    plan = show_plan(stack, alert, APPROVERS[0])
    finding, digest, _ = button(plan, CONFIRM_ACTION)["value"].split("|")
    stack.deployed.client("sqs").send_message(
        QueueUrl=stack.remediation_queue_url,
        MessageBody=orjson.dumps(
            {
                "finding_id": finding,
                "plan_digest": digest,
                "approvers": [APPROVERS[0]],
                "approval_id": str(uuid.uuid4()),
                "requested_at": "2026-11-03T21:30:00Z",
                "channel": CHANNEL,
                "alert_ts": alert.ts,
            }
        ).decode(),
    )
    stack.remediate()
    assert key_status(stack, user, key) == "Active"
    (failed,) = stack.audit("remediation-failed")
    assert "approval" in failed.data["error"]
    assert "not applied" in stack.slack.replies(alert.ts)[-1].text
    assert stack.audit("remediation-applied") == []


@pytest.mark.packaged
def test_only_the_remediate_function_calls_iam_and_its_role_grants_every_call(
    stack: Stack,
) -> None:
    user, key = iam_user_with_key(stack)
    alert = stack.alert(key_created(user, key))
    calls: list[str] = []
    iam = aws_container.container().client("iam")
    iam.meta.events.register("before-call.iam", lambda model, **_: calls.append(model.name))
    confirm(stack, show_plan(stack, alert, APPROVERS[0]), APPROVERS[0])
    assert calls == [], "the internet-facing function made IAM calls"
    stack.remediate()
    assert {"UpdateAccessKey", "AttachUserPolicy"} <= set(calls)
    role = resources_of("AWS::IAM::Role")["RemediateRole"]
    granted = {
        action
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Allow"
        for action in statement["Action"]
    }
    assert {f"iam:{call}" for call in calls} <= granted


def test_the_thread_reply_says_what_cannot_be_undone(stack: Stack) -> None:
    iam = stack.deployed.client("iam")
    user = f"contractor-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    iam.create_login_profile(UserName=user, Password="Correct-Horse-Battery-9")
    case = "positive_iam_user_creates_login_profile_with_cli.json"
    record = copy.deepcopy(load_case(EVENTS_DIR / "console-password-created" / case).records[0])
    record["eventID"] = str(uuid.uuid4())
    record["recipientAccountId"] = "123456789012"  # moto's account, where the function runs
    record["requestParameters"]["userName"] = user
    record["responseElements"]["loginProfile"]["userName"] = user
    alert = stack.alert(record, detector="console-password-created")
    answer, _ = confirm(stack, show_plan(stack, alert, APPROVERS[0]), APPROVERS[0])
    assert answer["statusCode"] == 200
    stack.remediate()
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_login_profile(UserName=user)
    reply = str(stack.slack.replies(alert.ts)[-1].blocks)
    assert "Cannot be undone: a deleted console password cannot be restored" in reply
    (deleted, quarantined) = stack.audit("remediation-applied")
    assert deleted.data["before"]["login_profile"] is True
    assert deleted.data["after"] == {"login_profile": False}
    assert f"--undo {deleted.record_id}" not in reply
    table = stack.deployed.env["IAMWATCH_AUDIT_TABLE"]
    assert (
        f"`iamwatch remediate --undo {quarantined.record_id} --audit dynamodb://{table}`" in reply
    )


def test_a_finding_from_another_account_is_not_remediated_here(stack: Stack) -> None:
    """With organization forwarding, member accounts' findings reach this account; the
    remediate function acts only in its own account, and says so."""
    user, key = iam_user_with_key(stack)
    record = key_created(user, key)
    record["recipientAccountId"] = "111122223333"
    alert = stack.alert(record)
    answer, _ = confirm(stack, show_plan(stack, alert, APPROVERS[0]), APPROVERS[0])
    assert answer["statusCode"] == 200
    stack.remediate()
    assert key_status(stack, user, key) == "Active"
    (failed,) = stack.audit("remediation-failed")
    assert "account 111122223333" in failed.data["error"]
    assert failed.data["by"] == f"slack:{APPROVERS[0]}"
    assert "stopped" in stack.slack.replies(alert.ts)[-1].blocks[0]["text"]["text"]
    assert stack.queued() == []


def test_an_unreadable_queued_message_fails_alone(stack: Stack) -> None:
    """Partial batch response: the bad message returns to the queue (and, after its retries,
    to the dead-letter queue); the good one in the same batch is applied."""
    user, key = iam_user_with_key(stack)
    alert = stack.alert(key_created(user, key))
    confirm(stack, show_plan(stack, alert, APPROVERS[0]), APPROVERS[0])
    (good,) = stack.deployed.client("sqs").receive_message(
        QueueUrl=stack.remediation_queue_url, MaxNumberOfMessages=10
    )["Messages"]
    records = [
        {"messageId": "bad", "receiptHandle": "r1", "body": '{"finding_id": "../x"}'},
        {"messageId": "good", "receiptHandle": "r2", "body": good["Body"]},
    ]
    event = {"Records": [
        {**r, "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
         "md5OfBody": "", "eventSource": "aws:sqs", "awsRegion": "us-east-1",
         "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:remediation"}
        for r in records
    ]}  # fmt: skip
    result = remediate.handler(event, LambdaContext())
    assert result["batchItemFailures"] == [{"itemIdentifier": "bad"}]
    assert key_status(stack, user, key) == "Inactive"


def test_with_interactivity_off_the_endpoint_turns_requests_away_without_failing(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, slack: SlackServer
) -> None:
    """The HTTP API is deployed either way; with no signing secret configured, stray or
    hostile requests get a 404 instead of a failed invocation that would wake the alarm."""
    deployed = deploy(moto_endpoint, monkeypatch)
    use_slack(deployed, monkeypatch, slack.api_url, SlackServer.TOKEN)
    body = form({"type": "block_actions"})
    for headers in ({}, signed_headers(body)):
        answer = interactions.handler(http_event(body, headers), LambdaContext())
        assert answer["statusCode"] == 404
        assert "not enabled" in answer["body"]
    assert slack.requests == []
