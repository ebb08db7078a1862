"""One permanent-looking Slack error does not silence a warm notifier (issue 12, defect 2).

A Lambda container lives for hours. ``not_in_channel``, ``is_archived``, ``channel_not_found``
and auth errors used to be remembered for the container's lifetime: every later alert went to
the dead-letter queue without a call to Slack, even after someone re-invited the bot,
unarchived the channel or rotated the token. Now such a memory lasts one batch, an auth error
re-reads the token once, and the first receives of such an error are retried (people fix
channels and tokens in minutes), the last dead-lettered with its reason.
"""

from __future__ import annotations

import uuid

import pytest

from handlers import notifier as notifier_handler
from iamwatch.audit import AuditKind, SQLiteAuditLog
from iamwatch.composition import build_notifier
from iamwatch.delivery import DeliveryService, QueuedAlert
from iamwatch.settings import load_settings
from iamwatch.slack.dedup import SQLiteDedupStore
from iamwatch.slack.notifier import Outcome
from tests.aws import Deployed, dead_letters, deploy, sqs_batches, use_slack
from tests.notifiers import SAMPLES, Sleeps, notifier
from tests.slack_server import SlackServer

FIRST = SAMPLES["iam-user-created"]
SECOND = SAMPLES["root-account-used"]
THIRD = SAMPLES["inline-user-policy"]


@pytest.mark.parametrize(
    "error", ["is_archived", "not_in_channel", "channel_not_found", "channel_is_archived"]
)
def test_a_fixed_channel_is_used_again_by_the_same_warm_notifier(
    slack: SlackServer, sleeps: Sleeps, no_ambient_settings: None, error: str
) -> None:
    alerts = notifier(slack, sleeps)
    slack.fail_channel("#alerts", error, times=1)  # archived, then unarchived
    (failed,) = alerts.deliver_all([FIRST]).results
    assert (failed.outcome, failed.reason) == (Outcome.FAILED, error)

    (posted,) = alerts.deliver_all([SECOND]).results
    assert posted.outcome is Outcome.POSTED


def test_within_one_batch_a_broken_channel_is_tried_once(
    slack: SlackServer, sleeps: Sleeps, no_ambient_settings: None
) -> None:
    alerts = notifier(slack, sleeps)
    slack.fail_channel("#alerts", "is_archived")
    results = alerts.deliver_all([FIRST, SECOND]).results
    assert [r.outcome for r in results] == [Outcome.FAILED, Outcome.FAILED]
    assert len(slack.requests_for("chat.postMessage")) == 1


def test_an_auth_error_re_reads_a_rotated_token_once(
    aws_env: dict[str, str], slack: SlackServer, sleeps: Sleeps, no_ambient_settings: None
) -> None:
    """The token is cached (5 minutes by default); Slack refuses the old one; the notifier
    reads the parameter again, bypassing the cache, and posts with the new one."""
    import boto3

    ssm = boto3.client("ssm", endpoint_url=aws_env["AWS_ENDPOINT_URL"], region_name="us-east-1")
    parameter = f"/iamwatch/{uuid.uuid4().hex[:8]}/slack-token"
    ssm.put_parameter(Name=parameter, Value="xoxb-old-token", Type="SecureString")
    settings = load_settings(
        slack_token_ssm_parameter=parameter,
        slack_channel="#alerts",
        slack_api_url=slack.api_url,
        slack_token_cache_seconds=300,
    )
    alerts = build_notifier(settings, store=SQLiteDedupStore(), sleep=sleeps)
    ssm.put_parameter(Name=parameter, Value=SlackServer.TOKEN, Type="SecureString", Overwrite=True)

    (result,) = alerts.deliver_all([FIRST]).results
    assert result.outcome is Outcome.POSTED, result.reason
    tokens = [r.headers["authorization"] for r in slack.requests_for("chat.postMessage")]
    assert tokens == ["Bearer xoxb-old-token", f"Bearer {SlackServer.TOKEN}"]


def test_a_token_that_stays_invalid_fails_after_one_re_read(
    slack: SlackServer, sleeps: Sleeps, no_ambient_settings: None
) -> None:
    alerts = notifier(slack, sleeps, slack_token="xoxb-wrong-token")
    results = alerts.deliver_all([FIRST, SECOND]).results
    assert [r.reason for r in results] == [
        "invalid_auth",
        "invalid_auth (an earlier message failed the same way)",
    ]
    assert len(slack.requests_for("chat.postMessage")) == 1  # a static token cannot change


class Parked:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    def park(self, body: str, reason: str, finding_id: str | None) -> None:
        self.reasons.append(reason)


@pytest.mark.parametrize("error", ["not_in_channel", "invalid_auth", "channel_not_found"])
def test_the_first_receives_of_a_fixable_error_are_retried_the_last_dead_lettered(
    slack: SlackServer, sleeps: Sleeps, no_ambient_settings: None, error: str
) -> None:
    slack.fail_channel("#alerts", error)
    if error == "invalid_auth":
        slack.token = "xoxb-some-other-token"
    parked = Parked()
    audit = SQLiteAuditLog()
    delivery = DeliveryService(notifier(slack, sleeps), audit, dead_letters=parked, max_attempts=5)
    outcomes = []
    for attempt in (1, 2, 3):
        message = QueuedAlert(f"m-{attempt}", THIRD.model_dump_json(), attempt)
        outcomes.append(delivery.deliver_queued([message]))
    assert outcomes == [["m-1"], ["m-2"], []]
    assert len(parked.reasons) == 1 and parked.reasons[0].startswith(error)
    failed = [r for r in audit.for_finding(THIRD.finding_id) if r.kind is AuditKind.DELIVERY_FAILED]
    assert [(r.data["will_retry"], r.data["dead_lettered"]) for r in failed] == [
        (True, False),
        (True, False),
        (False, True),
    ]


@pytest.fixture
def deployed(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, slack: SlackServer) -> Deployed:
    deployed = deploy(moto_endpoint, monkeypatch)
    use_slack(deployed, monkeypatch, slack.api_url, SlackServer.TOKEN)
    return deployed


def test_archiving_and_unarchiving_the_channel_does_not_blind_the_notifier(
    deployed: Deployed, slack: SlackServer
) -> None:
    """The notifier handler on moto: the channel is archived while alerts arrive, then
    unarchived; the warm container delivers every alert and nothing is dead-lettered."""
    sqs = deployed.client("sqs")
    for finding in (FIRST, SECOND):
        sqs.send_message(QueueUrl=deployed.alert_queue_url, MessageBody=finding.model_dump_json())
    slack.fail_channel("#security-alerts", "is_archived")

    sqs_batches(deployed, deployed.alert_queue_url, notifier_handler.handler, max_rounds=1)
    assert dead_letters(deployed) == []
    slack.heal_channel("#security-alerts")  # unarchived
    sqs.send_message(QueueUrl=deployed.alert_queue_url, MessageBody=THIRD.model_dump_json())
    sqs_batches(deployed, deployed.alert_queue_url, notifier_handler.handler)

    assert len(slack.top_level("#security-alerts")) == 3
    assert dead_letters(deployed) == []
