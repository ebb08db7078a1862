"""The scheduled doctor (handlers/doctor.py) on moto and the loopback Slack server: silent when
the deployment is healthy; when a part breaks, the failed check is posted to the alarm channel
and published to the alarm topic, each on its own."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from handlers import doctor
from iamwatch.aws import container as aws_container
from tests.aws import CREDENTIALS, LambdaContext
from tests.doctor_world import ALERTS, OPS, World, healthy_world
from tests.slack_server import SlackServer, live_tokens, message_texts


@pytest.fixture
def world(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, slack: SlackServer) -> World:
    world = healthy_world(moto_endpoint, slack)
    for key, value in {
        **CREDENTIALS,
        "AWS_ENDPOINT_URL": moto_endpoint,
        **world.function_env(),
    }.items():
        monkeypatch.setenv(key, value)
    aws_container.install(None)
    return world


def topic_messages(world: World) -> Any:
    """What the alarm topic delivers, through an SQS subscription (e-mail stays as it is)."""
    sqs = world.client("sqs")
    url = sqs.create_queue(QueueName=f"doctor-topic-{world.stage}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    world.client("sns").subscribe(
        TopicArn=world.resources["AlarmTopic"], Protocol="sqs", Endpoint=arn["QueueArn"]
    )

    def read() -> list[str]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [orjson.loads(m["Body"])["Message"] for m in messages]

    return read


def test_a_healthy_deployment_alerts_nobody(world: World, slack: SlackServer) -> None:
    published = topic_messages(world)
    result = doctor.handler({"source": "aws.events"}, LambdaContext())
    assert result == {"healthy": True, "failed": [], "unreadable": [], "alerted": []}
    assert slack.top_level() == []
    assert published() == []


def test_a_failed_check_is_posted_and_published(world: World, slack: SlackServer) -> None:
    published = topic_messages(world)
    world.client("events").disable_rule(Name=world.rules[0])
    world.client("events", "ap-southeast-2").disable_rule(Name=world.forwarder_rule)

    result = doctor.handler({"source": "aws.events"}, LambdaContext())

    assert result["failed"] == ["rules us-east-1", "rules ap-southeast-2"]
    assert result["alerted"] == ["slack", "topic"]
    (message,) = slack.top_level(OPS)
    assert "rules us-east-1" in str(message.blocks) and world.rules[0] in str(message.blocks)
    for text, _ in message_texts(message.body):
        assert live_tokens(text) == [], text
    assert slack.top_level(ALERTS) == []
    (text,) = published()
    assert "rules ap-southeast-2: fail" in text


def test_with_slack_broken_the_topic_still_hears_it(world: World, slack: SlackServer) -> None:
    published = topic_messages(world)
    slack.token = "xoxb-revoked"
    result = doctor.handler({"source": "aws.events"}, LambdaContext())
    assert result["failed"] == ["slack token"]
    assert result["alerted"] == ["topic"]
    (text,) = published()
    assert "slack token: fail" in text
