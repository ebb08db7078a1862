"""The interactions core on its own: signature and time-window edges (with an injected clock),
replays across a restart, payload validation, where replies may go, what hostile names become
in a plan, the approval window and a queue that fails. Stores are the real SQLite ones and
Slack is the loopback server; only the queue is a list."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from iamwatch.audit import SQLiteAuditLog, finding_raised
from iamwatch.finding import Finding
from iamwatch.remediation import plan_remediation
from iamwatch.severity import Severity
from iamwatch.slack.interactions import messages
from iamwatch.slack.interactions.approvals import ApprovalPolicy
from iamwatch.slack.interactions.flow import Answer, InteractionRequest, Interactions
from iamwatch.slack.interactions.payload import PayloadError, parse_confirm_value, parse_payload
from iamwatch.slack.interactions.queue import RemediationRequest
from iamwatch.slack.interactions.replies import WebApiReplies, response_url_problem
from iamwatch.slack.interactions.rounds import SQLiteApprovalRounds
from iamwatch.slack.interactions.verify import Refusal, RequestVerifier
from iamwatch.slack.render import ACKNOWLEDGE_ACTION, REMEDIATE_ACTION, render
from iamwatch.slack.samples import sample_finding
from iamwatch.state import SQLiteStateStore
from tests.interactions import SIGNING_SECRET, click, form, signature, signed_headers
from tests.slack_server import SlackServer, live_tokens, message_texts, payload_problems

NOW = 1_795_000_000.0
APPROVER, OTHER = "U0APPROVE1", "U0APPROVE2"
CHANNEL = "C0ALERTS01"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class ListQueue:
    def __init__(self, failing: bool = False) -> None:
        self.requests: list[RemediationRequest] = []
        self.failing = failing

    def submit(self, request: RemediationRequest) -> None:
        if self.failing:
            raise ConnectionError("queue unreachable")
        self.requests.append(request)


class Core:
    """An ``Interactions`` over SQLite stores and the loopback Slack server."""

    def __init__(
        self,
        slack: SlackServer,
        *,
        state_path: Path | None = None,
        two_person: bool = False,
        queue: ListQueue | None = None,
        approvers: frozenset[str] = frozenset({APPROVER, OTHER}),
        audit: SQLiteAuditLog | None = None,
        rounds: SQLiteApprovalRounds | None = None,
    ) -> None:
        self.slack = slack
        self.clock = Clock()
        self.audit = audit or SQLiteAuditLog()
        self.rounds = rounds or SQLiteApprovalRounds()
        self.state = SQLiteStateStore(state_path)
        self.queue = queue or ListQueue()
        self.interactions = Interactions(
            verifier=RequestVerifier(lambda: SecretStr(SIGNING_SECRET), clock=self.clock),
            state=self.state,
            audit=self.audit,
            replies=WebApiReplies(
                lambda: SecretStr(SlackServer.TOKEN), api_url=slack.api_url, timeout=2
            ),
            queue=self.queue,
            policy=ApprovalPolicy(approvers, two_person=two_person),
            rounds=self.rounds,
            clock=self.clock,
        )

    def raise_finding(self, finding: Finding) -> None:
        self.audit.append(finding_raised(finding))

    def send(self, payload: dict[str, Any], age: float = 0) -> Answer:
        body = form(payload)
        headers = signed_headers(body, age=age, now=self.clock.now)
        return self.interactions.handle(self.request(body, headers))

    @staticmethod
    def request(body: bytes, headers: dict[str, str]) -> InteractionRequest:
        return InteractionRequest(
            body=body,
            timestamp=headers.get("x-slack-request-timestamp"),
            signature=headers.get("x-slack-signature"),
            source_ip="203.0.113.9",
        )

    def kinds(self) -> list[str]:
        """What the interactions recorded, in order (the raised findings left out)."""
        start = datetime(2000, 1, 1, tzinfo=UTC)
        records = self.audit.read(start, datetime(2100, 1, 1, tzinfo=UTC))
        return [r.kind.value for r in records if r.kind.value != "finding-raised"]

    def refusals(self) -> list[str]:
        start = datetime(2000, 1, 1, tzinfo=UTC)
        records = self.audit.read(start, datetime(2100, 1, 1, tzinfo=UTC))
        return [r.data["reason"] for r in records if r.kind.value == "interaction-refused"]


@pytest.fixture
def core(slack: SlackServer) -> Core:
    return Core(slack)


def critical_key_finding() -> Finding:
    finding = sample_finding("access-key-created")
    return finding.model_copy(
        update={
            "finding_id": str(uuid.uuid4()),
            "severity": Severity.CRITICAL,
            "target": "payroll-batch",
            "target_type": "iam-user",
            "details": {"accessKeyId": "AKIAQRZCEUCNREXAMPLE"},
        }
    )


# Signature and time window ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "outcome"),
    [
        (0, None),
        (300, None),
        (301, Refusal.STALE),
        (-300, None),
        (-301, Refusal.FUTURE_DATED),
        (86_400 * 365, Refusal.STALE),
    ],
    ids=["now", "five_minutes_old", "just_over", "five_ahead", "just_ahead", "a_year_old"],
)
def test_the_five_minute_window_either_way(age: int, outcome: Refusal | None) -> None:
    verifier = RequestVerifier(lambda: SecretStr(SIGNING_SECRET), clock=lambda: NOW)
    body = b"payload=%7B%7D"
    headers = signed_headers(body, age=age, now=NOW)
    refusal = verifier.refusal(
        body, headers["x-slack-request-timestamp"], headers["x-slack-signature"]
    )
    assert refusal is outcome


@pytest.mark.parametrize(
    ("timestamp", "signature_value", "body", "outcome"),
    [
        (None, "v0=00", b"x", Refusal.UNSIGNED),
        (str(int(NOW)), None, b"x", Refusal.UNSIGNED),
        ("", "", b"x", Refusal.UNSIGNED),
        ("1e9", "v0=00", b"x", Refusal.MALFORMED_TIMESTAMP),
        ("-5", "v0=00", b"x", Refusal.MALFORMED_TIMESTAMP),
        (str(int(NOW)), signature(b"x", int(NOW)).replace("v0=", "v1="), b"x", "bad"),
        (str(int(NOW)), signature(b"x", int(NOW)).upper(), b"x", "bad"),
        (str(int(NOW)), signature(b"x", int(NOW) - 1), b"x", "bad"),
        (str(int(NOW)), signature(b"\xff", int(NOW)), b"\xff", "bad"),
    ],
    ids=[
        "no_timestamp",
        "no_signature",
        "empty_headers",
        "float_timestamp",
        "negative_timestamp",
        "other_version",
        "upper_case_hex",
        "signed_for_another_second",
        "not_utf8",
    ],
)
def test_anything_but_slacks_exact_signature_is_refused(
    timestamp: str | None, signature_value: str | None, body: bytes, outcome: Any
) -> None:
    verifier = RequestVerifier(lambda: SecretStr(SIGNING_SECRET), clock=lambda: NOW)
    expected = Refusal.BAD_SIGNATURE if outcome == "bad" else outcome
    assert verifier.refusal(body, timestamp, signature_value) is expected


def test_a_replay_is_refused_even_after_a_restart(slack: SlackServer, tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    first = Core(slack, state_path=state)
    finding = sample_finding("iam-user-created")
    first.raise_finding(finding)
    payload = click(ACKNOWLEDGE_ACTION, finding.finding_id)
    body = form(payload)
    headers = signed_headers(body, now=NOW)
    assert first.interactions.handle(first.request(body, headers)).status == 200
    # A new container (cold start) with the same state table: the claim is not in memory.
    second = Core(slack, state_path=state)
    second.raise_finding(finding)
    second.clock.now = NOW + 299
    answer = second.interactions.handle(second.request(body, headers))
    assert (answer.status, answer.outcome) == (401, "refused:replayed")
    # A replay, like any request Slack did not sign, is logged, never written (defect 12).
    assert second.refusals() == []


# Payloads ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"user": {"id": "<!channel>"}},
        {"user": {"id": "u0lower123"}},
        {"channel": {"id": "#general"}},
        {"container": {"type": "message", "message_ts": "soon"}},
        {"type": "view_submission"},
        {"actions": [{"action_id": "a"}, {"action_id": "b"}]},
        {"message": {"ts": "1715000001.000001", "blocks": [{"no": "type"}]}},
    ],
    ids=[
        "mention_as_user_id",
        "lower_case_user_id",
        "channel_name_not_id",
        "bad_message_ts",
        "not_block_actions",
        "two_actions",
        "untyped_block",
    ],
)
def test_payloads_that_do_not_fit_are_refused_without_echoing_them(
    change: dict[str, Any],
) -> None:
    payload = {**click(ACKNOWLEDGE_ACTION, str(uuid.uuid4())), **change}
    with pytest.raises(PayloadError) as raised:
        parse_payload(form(payload))
    for value in ("<!channel>", "u0lower123", "#general", "soon"):
        assert value not in str(raised.value)


def test_a_confirm_value_must_be_finding_digest_and_ts() -> None:
    finding, digest = str(uuid.uuid4()), "a" * 64
    assert parse_confirm_value(f"{finding}|{digest}|1715000001.000001") == (
        finding,
        digest,
        "1715000001.000001",
    )
    for bad in (
        f"{finding}|{digest}",
        f"{finding}|{'g' * 64}|-",
        f"{finding.upper()}|{digest}|-",
        f"{finding}|{digest}|<!here>",
        None,
    ):
        with pytest.raises(PayloadError):
            parse_confirm_value(bad)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://hooks.slack.com/actions/T0/1/abc", True),
        ("http://hooks.slack.com/actions/T0/1/abc", False),
        ("https://hooks.slack.com:8443/actions/T0/1/abc", False),
        ("https://hooks.slack.com.evil.example/actions", False),
        ("https://evil.example/actions/T0/1/abc", False),
        ("http://169.254.169.254/latest/meta-data", False),
        ("http://127.0.0.1:9/actions/x", True),
        ("http://127.0.0.1:10/actions/x", False),
    ],
)
def test_replies_go_only_to_slacks_hooks_host(url: str, allowed: bool) -> None:
    assert (response_url_problem(url, "http://127.0.0.1:9/api/") is None) is allowed


# Acknowledge -------------------------------------------------------------------------------


def test_an_acknowledgement_is_recorded_even_when_the_alert_cannot_be_updated(
    core: Core, slack: SlackServer
) -> None:
    finding = sample_finding("iam-user-created")
    core.raise_finding(finding)
    slack.fail_channel(CHANNEL, "cant_update_message")
    url = slack.response_url()
    payload = click(ACKNOWLEDGE_ACTION, finding.finding_id, channel=CHANNEL, response_url=url)
    payload["message"] = {
        "ts": "1715000001.000001",
        "text": "x",
        "blocks": render(finding).payload()["blocks"],
    }
    answer = core.send(payload)
    assert (answer.status, answer.outcome) == (200, "acknowledged")
    assert core.kinds()[-1] == "finding-acknowledged"
    (reply,) = slack.responses(url)
    assert "could not be updated" in reply.text


def test_the_status_line_replaces_an_earlier_one_above_the_footer() -> None:
    blocks = render(sample_finding("iam-user-created"), interactive=True).payload()["blocks"]
    at = datetime(2026, 11, 3, 21, 30, tzinfo=UTC)
    once = messages.with_status(blocks, messages.acknowledged_line("U0ALICE001", at))
    twice = messages.with_status(once, messages.acknowledged_line("U0BOB00001", at))
    assert len(twice) == len(blocks) + 1
    assert twice[-1] == blocks[-1]
    (status,) = [b for b in twice if b.get("block_id") == messages.STATUS_BLOCK]
    assert status["elements"][0]["text"].startswith("\u2705 Acknowledged by <@U0BOB00001>")
    assert payload_problems({"blocks": twice}) == []
    with pytest.raises(ValueError, match="not a Slack user id"):
        messages.acknowledged_line("<!channel>", at)


# Plans and approvals -----------------------------------------------------------------------


def test_hostile_names_in_a_plan_render_inert(core: Core, slack: SlackServer) -> None:
    finding = critical_key_finding().model_copy(
        update={
            "title": "<!channel> *urgent* https://evil.example",
            "target": "<@U0BOSS0001> see evil.example",
            "details": {"accessKeyId": "<https://evil.example|click>"},
        }
    )
    core.raise_finding(finding)
    url = slack.response_url()
    answer = core.send(click(REMEDIATE_ACTION, finding.finding_id, user=APPROVER, response_url=url))
    assert answer.outcome == "plan-shown"
    (shown,) = slack.responses(url)
    assert payload_problems(shown.body) == []
    for text, _ in message_texts(shown.body):
        assert live_tokens(text) == [], text
    assert "<!channel>" not in str(shown.body) and "evil.example" not in str(shown.body)


hostile = st.one_of(
    st.text(max_size=3000),
    st.sampled_from(["<!channel>", "<@U0BOSS0001>", "https://evil.example", "*b* `c` ~d~"]),
    st.text(alphabet="\U0001f600<>&*_`~@.:/ \n\u202e", min_size=500, max_size=4000),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=hostile, target=hostile, key=hostile, group=hostile)
def test_plans_of_hostile_findings_are_valid_inert_messages(
    title: str, target: str, key: str, group: str
) -> None:
    for detector in ("access-key-created", "user-added-to-group", "admin-policy-attached"):
        finding = sample_finding(detector).model_copy(
            update={
                "title": title,
                "target": target,
                "details": {"accessKeyId": key, "groupName": group, "policyName": group},
            }
        )
        message = messages.plan_message(finding, plan_remediation(finding), "1715000001.000001", 2)
        payload = message.payload()
        assert payload_problems(payload) == []
        for text, _ in message_texts(payload):
            assert live_tokens(text) == [], text


def test_an_approval_older_than_an_hour_does_not_count(slack: SlackServer) -> None:
    core = Core(slack, two_person=True)
    finding = critical_key_finding()
    core.raise_finding(finding)
    digest = plan_remediation(finding).digest
    value = f"{finding.finding_id}|{digest}|-"
    assert core.send(click(messages.CONFIRM_ACTION, value, user=APPROVER)).outcome == (
        "approved-pending"
    )
    core.clock.now += timedelta(hours=1, seconds=1).total_seconds()
    assert core.send(click(messages.CONFIRM_ACTION, value, user=OTHER)).outcome == (
        "approved-pending"
    )
    assert core.queue.requests == []
    assert core.send(click(messages.CONFIRM_ACTION, value, user=APPROVER)).outcome == "queued"
    (request,) = core.queue.requests
    assert request.approvers == (OTHER, APPROVER)


def test_an_approver_removed_from_the_setting_no_longer_counts(slack: SlackServer) -> None:
    before = Core(slack, two_person=True)
    finding = critical_key_finding()
    before.raise_finding(finding)
    value = f"{finding.finding_id}|{plan_remediation(finding).digest}|-"
    assert before.send(click(messages.CONFIRM_ACTION, value, user=APPROVER)).outcome == (
        "approved-pending"
    )
    third = "U0APPROVE3"
    after = Core(
        slack,
        two_person=True,
        approvers=frozenset({OTHER, third}),
        audit=before.audit,
        rounds=before.rounds,
    )
    assert after.send(click(messages.CONFIRM_ACTION, value, user=OTHER)).outcome == (
        "approved-pending"
    )
    assert after.send(click(messages.CONFIRM_ACTION, value, user=third)).outcome == "queued"
    (request,) = after.queue.requests
    assert request.approvers == (OTHER, third)


def test_a_plan_confirmed_against_an_old_digest_is_refused(core: Core) -> None:
    finding = critical_key_finding()
    core.raise_finding(finding)
    stale = f"{finding.finding_id}|{'0' * 64}|-"
    answer = core.send(click(messages.CONFIRM_ACTION, stale, user=APPROVER))
    assert (answer.status, answer.outcome) == (200, "refused:plan-changed")
    assert core.queue.requests == []


def test_a_plan_is_queued_once_per_hour(core: Core) -> None:
    finding = critical_key_finding()
    core.raise_finding(finding)
    value = f"{finding.finding_id}|{plan_remediation(finding).digest}|-"
    assert core.send(click(messages.CONFIRM_ACTION, value, user=APPROVER)).outcome == "queued"
    again = core.send(click(messages.CONFIRM_ACTION, value, user=OTHER))
    assert again.outcome == "refused:already-queued"
    assert len(core.queue.requests) == 1


def test_a_queue_failure_is_recorded_and_the_approver_can_confirm_again(
    slack: SlackServer,
) -> None:
    queue = ListQueue(failing=True)
    core = Core(slack, queue=queue)
    finding = critical_key_finding()
    core.raise_finding(finding)
    value = f"{finding.finding_id}|{plan_remediation(finding).digest}|-"
    assert core.send(click(messages.CONFIRM_ACTION, value, user=APPROVER)).outcome == (
        "queue-failed"
    )
    # Both records carry the click's moment; their order within it is not defined.
    assert sorted(core.kinds()) == ["remediation-approved", "remediation-failed"]
    queue.failing = False
    assert core.send(click(messages.CONFIRM_ACTION, value, user=APPROVER)).outcome == "queued"
    assert len(queue.requests) == 1


def test_two_person_approval_applies_to_critical_findings_only() -> None:
    policy = ApprovalPolicy(frozenset({APPROVER, OTHER}), two_person=True)
    critical = critical_key_finding()
    assert policy.required(critical) == 2
    assert policy.required(critical.model_copy(update={"severity": Severity.HIGH})) == 1
    assert ApprovalPolicy(frozenset({APPROVER})).required(critical) == 1
