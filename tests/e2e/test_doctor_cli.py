"""``iamwatch doctor`` as an operator runs it, with their credentials (moto) and the
deployment's Slack settings (the loopback Slack server): a healthy deployment passes every
check; each broken part fails the check that names it. CloudTrail, EventBridge (in four
regions), SQS, SNS, DynamoDB and CloudFormation are moto's; Slack's auth.test and
conversations.* are the loopback server's, which moto cannot serve."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from tests.conftest import run_iamwatch
from tests.doctor_world import ALERTS, OPS, World, healthy_world
from tests.slack_server import SlackServer


@pytest.fixture
def world(aws_env: dict[str, str], slack: SlackServer) -> World:
    return healthy_world(aws_env["AWS_ENDPOINT_URL"], slack)


def doctor(world: World, aws_env: dict[str, str], **extra: str) -> tuple[int, dict[str, Any]]:
    env = {**aws_env, **world.settings_env(), **extra}
    ran = run_iamwatch("doctor", "--stack", world.stack, "--format", "json", env=env)
    assert ran.stdout, ran.stderr
    return ran.returncode, orjson.loads(ran.stdout)


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["status"] for check in report["checks"]}


def test_a_healthy_deployment_passes_every_check(world: World, aws_env: dict[str, str]) -> None:
    code, report = doctor(world, aws_env)
    assert code == 0, report
    assert report["healthy"] is True
    assert set(statuses(report).values()) == {"pass"}
    assert set(statuses(report)) == {
        "trail",
        "rules us-east-1",
        "rules us-east-2",
        "rules eu-north-1",
        "rules ap-southeast-2",
        "slack token",
        f"slack channel {ALERTS}",
        f"slack channel {OPS}",
        "queue alert dead letters",
        "queue failed events",
        "queue backfill dead letters",
        "queue remediation dead letters",
        "alarm topic",
        "table audit",
        "table state",
        "table idempotency",
    }


def _stop_trail(w: World) -> None:
    w.client("cloudtrail").stop_logging(Name=w.trail)


def _single_region_trail(w: World) -> None:
    w.client("cloudtrail").update_trail(Name=w.trail, IsMultiRegionTrail=False)


def _no_management_events(w: World) -> None:
    w.client("cloudtrail").put_event_selectors(
        TrailName=w.trail,
        EventSelectors=[{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}],
    )


def _disable_main_rule(w: World) -> None:
    w.client("events").disable_rule(Name=w.rules[0])


def _untarget_self_tamper_rule(w: World) -> None:
    w.client("events").remove_targets(Rule=w.rules[1], Ids=["target"])


def _delete_forwarder(w: World) -> None:
    events = w.client("events", "eu-north-1")
    events.remove_targets(Rule=w.forwarder_rule, Ids=["target"])
    events.delete_rule(Name=w.forwarder_rule)


def _evict_bot(w: World) -> None:
    w.slack.conversations["C0ALERTS01"].is_member = False


def _archive_ops(w: World) -> None:
    w.slack.conversations["C0IAMOPS01"].is_archived = True


def _revoke_token(w: World) -> None:
    w.slack.token = "xoxb-rotated-elsewhere"


def _dead_letter(w: World) -> None:
    w.client("sqs").send_message(QueueUrl=w.resources["AlertDeadLetterQueue"], MessageBody="{}")


def _unsubscribe(w: World) -> None:
    sns = w.client("sns")
    for sub in sns.list_subscriptions_by_topic(TopicArn=w.resources["AlarmTopic"])["Subscriptions"]:
        sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])


def _ttl_off(w: World) -> None:
    w.client("dynamodb").update_time_to_live(
        TableName=w.resources["AuditTable"],
        TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"},
    )


def _delete_state_table(w: World) -> None:
    w.client("dynamodb").delete_table(TableName=w.resources["StateTable"])


BREAKAGES: list[tuple[str, Callable[[World], None], str, str]] = [
    ("trail_stopped", _stop_trail, "trail", "not logging"),
    ("trail_single_region", _single_region_trail, "trail", "single-region"),
    ("trail_read_events_only", _no_management_events, "trail", "no management"),
    ("main_rule_disabled", _disable_main_rule, "rules us-east-1", "disabled"),
    ("rule_without_target", _untarget_self_tamper_rule, "rules us-east-1", "no target"),
    ("forwarder_deleted", _delete_forwarder, "rules eu-north-1", "missing"),
    ("bot_removed_from_channel", _evict_bot, f"slack channel {ALERTS}", "not a member"),
    ("alarm_channel_archived", _archive_ops, f"slack channel {OPS}", "archived"),
    ("token_revoked", _revoke_token, "slack token", "invalid_auth"),
    ("dead_letter_waiting", _dead_letter, "queue alert dead letters", "1 message"),
    ("alarm_topic_unsubscribed", _unsubscribe, "alarm topic", "no confirmed subscriber"),
    ("audit_ttl_off", _ttl_off, "table audit", "TTL is off"),
    ("state_table_deleted", _delete_state_table, "table state", "does not exist"),
]


@pytest.mark.parametrize(
    ("breakage", "check", "says"),
    [(b, c, s) for _, b, c, s in BREAKAGES],
    ids=[name for name, *_ in BREAKAGES],
)
def test_each_broken_part_fails_the_check_that_names_it(
    world: World,
    aws_env: dict[str, str],
    breakage: Callable[[World], None],
    check: str,
    says: str,
) -> None:
    breakage(world)
    code, report = doctor(world, aws_env)
    assert code == 1
    failed = {c["name"]: c["detail"] for c in report["checks"] if c["status"] == "fail"}
    assert list(failed) == [check], report
    assert says in failed[check]


def test_the_identity_center_home_region_needs_a_forwarder_too(
    world: World, aws_env: dict[str, str]
) -> None:
    code, report = doctor(world, aws_env, IAMWATCH_IDENTITY_CENTER_REGION="eu-west-1")
    assert code == 1
    assert statuses(report)["rules eu-west-1"] == "fail"


def test_a_check_that_cannot_be_read_is_unknown_not_passed(
    world: World, aws_env: dict[str, str], slack: SlackServer
) -> None:
    slack.missing_scopes.add("channels:read")
    code, report = doctor(world, aws_env)
    assert code == 5
    assert statuses(report)[f"slack channel {ALERTS}"] == "error"


def test_a_stack_that_is_not_there_cannot_be_read(aws_env: dict[str, str]) -> None:
    ran = run_iamwatch("doctor", "--stack", "iamwatch-nowhere", env=aws_env)
    assert ran.returncode == 5
    assert b"cannot read stack iamwatch-nowhere" in ran.stderr


def test_the_table_names_each_check(world: World, aws_env: dict[str, str]) -> None:
    _stop_trail(world)
    env = {**aws_env, **world.settings_env(), "COLUMNS": "200"}
    ran = run_iamwatch("doctor", "--stack", world.stack, env=env)
    assert ran.returncode == 1
    text = ran.stdout.decode()
    assert "trail" in text and "fail" in text and "1 check(s) failed" in text
