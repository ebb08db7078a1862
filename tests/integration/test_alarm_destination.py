"""The alarms reach someone (issue 12, defect 12).

Every operational alarm (dead letters, function errors, a missed export) went to an SNS topic
whose only subscription, an e-mail, was optional and off by default: out of the box a blinded
iamwatch raised its alarms to nobody. A deployment now needs a destination (CloudFormation
refuses a stack with neither ``alarmEmail`` nor ``alarmSlackChannel``), and a second Slack
channel, apart from the alert channels (which may be the broken part), gets each alarm from a
small relay function subscribed to the topic.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from handlers import alarms
from tests.aws import Deployed, LambdaContext, deploy, use_slack
from tests.slack_server import SlackServer, live_tokens, message_texts
from tests.template import packaged_template, resources_of

ALARM_CHANNEL = "#iamwatch-ops"


def _holds(assertion: Any, parameters: dict[str, str]) -> bool:
    """A CloudFormation rule assertion (Fn::Or, Fn::And, Fn::Not, Fn::Equals, Ref) evaluated
    for these parameter values."""
    if isinstance(assertion, dict):
        ((function, argument),) = assertion.items()
        if function == "Ref":
            return parameters[argument]  # type: ignore[return-value]
        values = [_holds(item, parameters) for item in argument]
        match function:
            case "Fn::Or":
                return any(values)
            case "Fn::And":
                return all(values)
            case "Fn::Not":
                return not values[0]
            case "Fn::Equals":
                return values[0] == values[1]
        raise AssertionError(function)
    return assertion  # type: ignore[no-any-return]


@pytest.mark.packaged
@pytest.mark.parametrize(
    ("email", "channel", "deployable"),
    [
        ("", "", False),
        ("secops@example.com", "", True),
        ("", ALARM_CHANNEL, True),
        ("secops@example.com", ALARM_CHANNEL, True),
    ],
)
def test_a_stack_without_an_alarm_destination_is_refused(
    email: str, channel: str, deployable: bool
) -> None:
    rules = packaged_template().get("Rules", {})
    assertions = [a for rule in rules.values() for a in rule["Assertions"]]
    assert assertions, "no rule requires an alarm destination"
    values = {"AlarmEmail": email, "AlarmSlackChannel": channel, "OrganizationId": ""}
    assert all(_holds(a["Assert"], values) for a in assertions) is deployable


@pytest.mark.packaged
def test_each_destination_is_subscribed_to_the_alarm_topic() -> None:
    subscriptions = resources_of("AWS::SNS::Subscription")
    by_protocol = {s["Properties"]["Protocol"]: s for s in subscriptions.values()}
    assert set(by_protocol) == {"email", "lambda"}
    assert by_protocol["email"]["Condition"] == "AlarmEmail"
    assert by_protocol["lambda"]["Condition"] == "AlarmSlack"
    assert by_protocol["lambda"]["Properties"]["Endpoint"] == {
        "Fn::GetAtt": ["AlarmsLambdaFunction", "Arn"]
    }
    for subscription in subscriptions.values():
        assert subscription["Properties"]["TopicArn"] == {"Ref": "AlarmTopic"}
    (permission,) = [
        p
        for p in resources_of("AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "sns.amazonaws.com"
    ]
    assert permission["Properties"]["SourceArn"] == {"Ref": "AlarmTopic"}


def cloudwatch_alarm(name: str, reason: str) -> dict[str, Any]:
    """An SNS event carrying a CloudWatch alarm's state change, as the relay receives it."""
    message = {
        "AlarmName": name,
        "AlarmDescription": "Slack alerts that could not be delivered are waiting",
        "AWSAccountId": "123456789012",
        "NewStateValue": "ALARM",
        "NewStateReason": reason,
        "StateChangeTime": "2026-11-03T21:30:00.000+0000",
        "Region": "US East (N. Virginia)",
        "OldStateValue": "OK",
    }
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:alarms:sub",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                    "TopicArn": "arn:aws:sns:us-east-1:123456789012:alarms",
                    "Subject": f'ALARM: "{name}" in US East (N. Virginia)',
                    "Message": orjson.dumps(message).decode(),
                    "Timestamp": "2026-11-03T21:30:01.000Z",
                },
            }
        ]
    }


@pytest.fixture
def deployed(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, slack: SlackServer) -> Deployed:
    deployed = deploy(moto_endpoint, monkeypatch)
    use_slack(deployed, monkeypatch, slack.api_url, SlackServer.TOKEN)
    monkeypatch.setenv("IAMWATCH_ALARM_SLACK_CHANNEL", ALARM_CHANNEL)
    return deployed


def test_the_relay_posts_each_alarm_to_the_alarm_channel(
    deployed: Deployed, slack: SlackServer
) -> None:
    hostile = (
        "Threshold Crossed: 1 datapoint <!channel> [3.0 (03/11/26 21:29:00)] https://evil.example"
    )
    alarms.handler(
        cloudwatch_alarm("iamwatch-prod-AlertDeadLetterAlarm-1AB", hostile), LambdaContext()
    )
    (message,) = slack.top_level(ALARM_CHANNEL)
    text = str(message.blocks)
    assert "AlertDeadLetterAlarm" in text and "ALARM" in text
    for piece, _ in message_texts(message.body):
        assert live_tokens(piece) == [], piece
    assert slack.top_level("#security-alerts") == []
