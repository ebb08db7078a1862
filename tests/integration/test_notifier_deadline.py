"""Slack retries never outlast the notifier's invocation (issue 12, defect 7).

Lambda stops a function at its timeout (30 s for notify) without a word: a batch still
sleeping on Slack's Retry-After, or waiting on a hung connection, returns to the queue with no
reason and no audit record, and after five such receives lands in the dead-letter queue the
same way. Waits are now capped by the time the invocation has left; when too little is left
for another request, the rest of the batch is returned as failures at once, each with its
reason and an audit record.

The notifier handler runs against moto and the loopback Slack server; Lambda's context says
how much time is left; sleeping is recorded, never done.
"""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from handlers import notifier as notifier_handler
from iamwatch.aws import container as aws_container
from iamwatch.aws.container import Container
from iamwatch.aws.deployment import load_deployment
from iamwatch.composition import build_slack_transport
from iamwatch.deadline import Deadline
from iamwatch.settings import load_settings
from tests.aws import Deployed, LambdaContext, dead_letters, deploy, use_slack
from tests.notifiers import SAMPLES, Sleeps
from tests.slack_server import SlackServer

FINDINGS = [
    SAMPLES["iam-user-created"],
    SAMPLES["root-account-used"],
    SAMPLES["inline-user-policy"],
]
TIMEOUT = 30.0  # the notify function's timeout in serverless.yml


class Remaining(LambdaContext):
    """A context whose invocation has ``seconds`` left."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def get_remaining_time_in_millis(self) -> int:
        return int(self.seconds * 1000)


@pytest.fixture
def deployed(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, slack: SlackServer, sleeps: Sleeps
) -> Deployed:
    deployed = deploy(moto_endpoint, monkeypatch)
    use_slack(deployed, monkeypatch, slack.api_url, SlackServer.TOKEN)
    # What a production configuration allows: five retries, waits of up to a minute.
    monkeypatch.setenv("IAMWATCH_SLACK_MAX_RETRIES", "5")
    monkeypatch.setenv("IAMWATCH_SLACK_MAX_RETRY_WAIT_SECONDS", "60")
    settings = load_settings()
    # Sleeping is recorded, not done: the deadline's clock is the time slept.
    deadline = Deadline(clock=sleeps.clock)
    aws_container.install(
        Container(
            settings=settings,
            deployment=load_deployment(),
            slack_transport=build_slack_transport(settings, sleep=sleeps, deadline=deadline),
            deadline=deadline,
        )
    )
    return deployed


def queue(deployed: Deployed) -> list[str]:
    sqs = deployed.client("sqs")
    for finding in FINDINGS:
        sqs.send_message(QueueUrl=deployed.alert_queue_url, MessageBody=finding.model_dump_json())
    messages = sqs.receive_message(
        QueueUrl=deployed.alert_queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
    )["Messages"]
    assert len(messages) == len(FINDINGS)
    return [m["Body"] for m in messages]


def event_of(bodies: list[str]) -> dict[str, object]:
    return {
        "Records": [
            {
                "messageId": f"m-{index}",
                "receiptHandle": f"r-{index}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:alerts",
                "awsRegion": "us-east-1",
            }
            for index, body in enumerate(bodies)
        ]
    }


def returned(bodies: list[str], context: LambdaContext) -> int:
    """How many messages the invocation hands back to the queue (all of them: the invocation
    fails, as Lambda counts an error, and the whole batch returns)."""
    try:
        result = notifier_handler.handler(event_of(bodies), context)
    except BatchProcessingError:
        return len(bodies)
    return len(result["batchItemFailures"])


def failed_reasons(deployed: Deployed) -> list[str]:
    from iamwatch.audit import AuditRecord

    table = deployed.env["IAMWATCH_AUDIT_TABLE"]
    items = deployed.client("dynamodb").scan(TableName=table)["Items"]
    records = [AuditRecord.model_validate_json(item["body"]["S"]) for item in items]
    return [r.data["reason"] for r in records if r.kind.value == "delivery-failed"]


def test_a_long_retry_after_is_not_slept_past_the_invocation(
    deployed: Deployed, slack: SlackServer, sleeps: Sleeps
) -> None:
    """Slack asks for 20 s between tries, five times: 100 s of a 30 s invocation."""
    bodies = queue(deployed)
    slack.rate_limit_next(30, retry_after=20)

    back = returned(bodies, Remaining(TIMEOUT))

    assert sum(sleeps) <= TIMEOUT - 10, f"slept {sum(sleeps)} s of a {TIMEOUT} s invocation"
    # Every message comes back for a retry, each failure audited with its reason.
    assert back == len(FINDINGS)
    reasons = failed_reasons(deployed)
    assert len(reasons) == len(FINDINGS)
    assert all("left in the invocation" in reason for reason in reasons), reasons
    assert dead_letters(deployed) == []


def test_with_too_little_time_left_the_batch_is_returned_at_once(
    deployed: Deployed, slack: SlackServer, sleeps: Sleeps
) -> None:
    """12 s left, and a Slack request may take 10 (the timeout): nothing is started that
    Lambda could cut off; every finding fails at once with the reason, for SQS to retry."""
    bodies = queue(deployed)

    back = returned(bodies, Remaining(12))

    assert slack.requests_for("chat.postMessage") == []
    assert sleeps == []
    assert back == len(FINDINGS)
    reasons = failed_reasons(deployed)
    assert len(reasons) == len(FINDINGS)
    assert all("left in the invocation" in reason for reason in reasons), reasons


def test_short_waits_stop_when_the_next_would_leave_too_little_time(
    slack: SlackServer, sleeps: Sleeps, no_ambient_settings: None
) -> None:
    """Retry-After 5 s, again and again: waits are slept while the invocation keeps time for
    a request (10 s) and the audit after it (3 s), then the failure stands, retryable."""
    from iamwatch.slack.notifier import Outcome
    from tests.notifiers import notifier

    deadline = Deadline(clock=sleeps.clock)
    alerts = notifier(slack, sleeps, slack_max_retries=10, slack_max_retry_wait_seconds=60)
    alerts.transport = build_slack_transport(
        load_settings(
            slack_token=SlackServer.TOKEN, slack_channel="#alerts", slack_api_url=slack.api_url,
            slack_max_retries=10,
        ),
        sleep=sleeps,
        deadline=deadline,
    )  # fmt: skip
    slack.rate_limit_next(20, retry_after=5)
    deadline.start(30)
    (result,) = alerts.deliver_all([FINDINGS[0]]).results
    assert sleeps == [5, 5, 5]
    assert (result.outcome, result.retryable) == (Outcome.FAILED, True)
    assert result.reason is not None and "15 s left in the invocation" in result.reason
