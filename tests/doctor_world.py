"""A deployment of iamwatch in moto for ``iamwatch doctor`` to examine: the stack's tables,
queues, alarm topic and rules (created through moto's CloudFormation, so the CLI finds them by
logical id as in AWS), the forwarders' rules in the sign-in regions, a multi-region trail, and
the alert and alarm channels on the loopback Slack server. Healthy when built; tests break one
part each."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3
import orjson

from tests.slack_server import Conversation, SlackServer

SIGNIN_REGIONS = ("us-east-2", "eu-north-1", "ap-southeast-2")
ALERTS = "#security-alerts"
OPS = "#iamwatch-ops"
_TABLE = {
    "Type": "AWS::DynamoDB::Table",
    "Properties": {
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    },
}
_QUEUE = {"Type": "AWS::SQS::Queue", "Properties": {}}
QUEUES = (
    "AlertDeadLetterQueue",
    "FailedEventsQueue",
    "BackfillDeadLetterQueue",
    "RemediationDeadLetterQueue",
)


@dataclass
class World:
    endpoint: str
    stage: str
    slack: SlackServer
    resources: dict[str, str] = field(default_factory=dict)
    trail: str = ""

    @property
    def stack(self) -> str:
        return f"iamwatch-{self.stage}"

    @property
    def rules(self) -> list[str]:
        return [f"iamwatch-{self.stage}-detect-rule-{n}" for n in (1, 2)]

    @property
    def forwarder_rule(self) -> str:
        return f"iamwatch-forwarder-{self.stage}"

    def client(self, service: Any, region: str = "us-east-1") -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def settings_env(self) -> dict[str, str]:
        """The deployment's settings as an operator (or the doctor function) has them."""
        return {
            "IAMWATCH_SELF_PREFIX": f"iamwatch-{self.stage}-",
            "IAMWATCH_SLACK_TOKEN": SlackServer.TOKEN,
            "IAMWATCH_SLACK_CHANNEL": ALERTS,
            "IAMWATCH_ALARM_SLACK_CHANNEL": OPS,
            "IAMWATCH_SLACK_API_URL": self.slack.api_url,
        }

    def function_env(self) -> dict[str, str]:
        """The doctor function's environment, as serverless.yml sets it."""
        return {
            **self.settings_env(),
            "IAMWATCH_AUDIT_TABLE": self.resources["AuditTable"],
            "IAMWATCH_STATE_TABLE": self.resources["StateTable"],
            "IAMWATCH_IDEMPOTENCY_TABLE": self.resources["IdempotencyTable"],
            "IAMWATCH_ALERT_QUEUE_URL": self.resources["AlertDeadLetterQueue"],
            "IAMWATCH_ALERT_DLQ_URL": self.resources["AlertDeadLetterQueue"],
            "IAMWATCH_FAILED_EVENTS_QUEUE_URL": self.resources["FailedEventsQueue"],
            "IAMWATCH_BACKFILL_DLQ_URL": self.resources["BackfillDeadLetterQueue"],
            "IAMWATCH_REMEDIATION_DLQ_URL": self.resources["RemediationDeadLetterQueue"],
            "IAMWATCH_ALARM_TOPIC_ARN": self.resources["AlarmTopic"],
            "IAMWATCH_DOCTOR_RULES": ",".join(self.rules),
        }


def _target(world: World, region: str) -> list[dict[str, str]]:
    sqs = world.client("sqs", region)
    url = sqs.create_queue(QueueName=f"iamwatch-target-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return [{"Id": "target", "Arn": arn["QueueArn"]}]


def healthy_world(endpoint: str, slack: SlackServer) -> World:
    world = World(endpoint=endpoint, stage=f"t{uuid.uuid4().hex[:8]}", slack=slack)
    template = {
        "Resources": {
            **dict.fromkeys(("AuditTable", "StateTable", "IdempotencyTable"), _TABLE),
            **dict.fromkeys(QUEUES, _QUEUE),
            "AlarmTopic": {"Type": "AWS::SNS::Topic", "Properties": {}},
            **{
                f"DetectRule{n}": {
                    "Type": "AWS::Events::Rule",
                    "Properties": {
                        "Name": rule,
                        "EventPattern": {"source": ["aws.iam"]},
                        "State": "ENABLED",
                    },
                }
                for n, rule in enumerate(world.rules, 1)
            },
        }
    }
    cfn = world.client("cloudformation")
    cfn.create_stack(StackName=world.stack, TemplateBody=orjson.dumps(template).decode())
    for resource in cfn.list_stack_resources(StackName=world.stack)["StackResourceSummaries"]:
        world.resources[resource["LogicalResourceId"]] = resource["PhysicalResourceId"]
    dynamodb = world.client("dynamodb")
    for name in ("AuditTable", "StateTable", "IdempotencyTable"):
        dynamodb.update_time_to_live(
            TableName=world.resources[name],
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
        )
    events = world.client("events")
    for rule in world.rules:
        events.put_targets(Rule=rule, Targets=_target(world, "us-east-1"))
    for region in SIGNIN_REGIONS:
        regional = world.client("events", region)
        regional.put_rule(Name=world.forwarder_rule, EventPattern='{"source": ["aws.signin"]}')
        regional.put_targets(Rule=world.forwarder_rule, Targets=_target(world, region))
    world.client("sns").subscribe(
        TopicArn=world.resources["AlarmTopic"], Protocol="email", Endpoint="secops@example.com"
    )
    # One trail in the account, so each test decides whether it is healthy.
    trail = world.client("cloudtrail")
    for existing in trail.describe_trails()["trailList"]:
        trail.delete_trail(Name=existing["Name"])
    bucket = f"trail-{world.stage}"
    world.client("s3").create_bucket(Bucket=bucket)
    world.trail = trail.create_trail(
        Name=f"org-trail-{world.stage}", S3BucketName=bucket, IsMultiRegionTrail=True
    )["TrailARN"]
    trail.put_event_selectors(
        TrailName=world.trail,
        EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}],
    )
    trail.start_logging(Name=world.trail)
    slack.add_conversation(Conversation("C0ALERTS01", ALERTS.lstrip("#")))
    slack.add_conversation(Conversation("C0IAMOPS01", OPS.lstrip("#")))
    slack.add_conversation(Conversation("C0RANDOM01", "random", is_member=False))
    return world
