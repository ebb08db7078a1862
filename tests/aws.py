"""Deploying iamwatch's AWS resources into the moto server, and invoking handlers like Lambda."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote_plus

import boto3
import orjson
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from iamwatch.aws import container
from iamwatch.aws.container import Container
from iamwatch.aws.tables import create_table
from tests.notifiers import Sleeps

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class LambdaContext:
    """What the Lambda runtime passes as ``context``; handlers only read these attributes."""

    function_name: str = "iamwatch-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:iamwatch-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class Deployed:
    endpoint: str
    env: dict[str, str]
    alert_queue_url: str
    alert_dlq_url: str
    sleeps: Sleeps = field(default_factory=Sleeps)

    def client(self, service: Any) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1")

    def alerts(self, max_messages: int = 100) -> list[dict[str, Any]]:
        """Drain the alert queue: the findings the detection path queued."""
        sqs = self.client("sqs")
        bodies: list[dict[str, Any]] = []
        while len(bodies) < max_messages:
            response = sqs.receive_message(
                QueueUrl=self.alert_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            messages = response.get("Messages", [])
            if not messages:
                break
            for message in messages:
                bodies.append(orjson.loads(message["Body"]))
                sqs.delete_message(
                    QueueUrl=self.alert_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return bodies

    def install_container(self, adapt: Callable[[Container], None] | None = None) -> None:
        """The handlers' container: built from the environment on first use, as in Lambda
        (so a test sets the environment first), with Slack retries recorded in ``sleeps``
        instead of slept through; ``adapt`` swaps in a test's adapters."""

        def build() -> Container:
            app = replace(container.from_environment(), sleep=self.sleeps)
            if adapt is not None:
                adapt(app)
            return app

        container.install(build)

    def audit_kinds(self) -> list[str]:
        items = self.client("dynamodb").scan(TableName=self.env["IAMWATCH_AUDIT_TABLE"])["Items"]
        return sorted(item["kind"]["S"] for item in items)


def sqs_batches(deployed: Deployed, queue_url: str, handler: Any, max_rounds: int = 20) -> int:
    """Feed a queue to an SQS-triggered handler the way Lambda's event source mapping does:
    receive a batch, invoke, delete what succeeded; failed messages return to the queue.
    Returns how many rounds ran before the queue was empty (or ``max_rounds``)."""
    sqs = deployed.client("sqs")
    for round_number in range(1, max_rounds + 1):
        messages = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            AttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not messages:
            return round_number - 1
        event = {"Records": [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody":
            m["MD5OfBody"], "eventSource": "aws:sqs", "eventSourceARN":
            "arn:aws:sqs:us-east-1:123456789012:alerts", "awsRegion": "us-east-1",
        } for m in messages]}  # fmt: skip
        try:
            result = handler(event, LambdaContext())
            failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
        except BatchProcessingError:
            # Every record failed: the invocation fails and the whole batch returns.
            failed = {m["MessageId"] for m in messages}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return max_rounds


def dead_letters(deployed: Deployed) -> list[dict[str, Any]]:
    sqs = deployed.client("sqs")
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=deployed.alert_dlq_url, MaxNumberOfMessages=10,
            MessageAttributeNames=["All"], WaitTimeSeconds=0,
        ).get("Messages", [])  # fmt: skip
        if not messages:
            return found
        for message in messages:
            found.append(message)
            sqs.delete_message(
                QueueUrl=deployed.alert_dlq_url, ReceiptHandle=message["ReceiptHandle"]
            )


def deploy(endpoint: str, monkeypatch: Any) -> Deployed:
    """Create fresh tables and queues (unique names) and point the handlers' environment at
    them, as serverless.yml does in AWS."""
    suffix = uuid.uuid4().hex[:8]
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    tables = {}
    for logical in ("state", "audit", "idempotency"):
        name = f"iamwatch-{logical}-{suffix}"
        create_table(dynamodb, logical, name)
        tables[logical] = name
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    dlq = sqs.create_queue(QueueName=f"iamwatch-alerts-dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue = sqs.create_queue(
        QueueName=f"iamwatch-alerts-{suffix}",
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": orjson.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}
            ).decode(),
        },
    )["QueueUrl"]
    env = {
        **CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "IAMWATCH_STATE_TABLE": tables["state"],
        "IAMWATCH_AUDIT_TABLE": tables["audit"],
        "IAMWATCH_IDEMPOTENCY_TABLE": tables["idempotency"],
        "IAMWATCH_ALERT_QUEUE_URL": queue,
        "IAMWATCH_ALERT_DLQ_URL": dlq,
        "POWERTOOLS_METRICS_NAMESPACE": "iamwatch",
        "POWERTOOLS_SERVICE_NAME": "iamwatch",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    deployed = Deployed(endpoint=endpoint, env=env, alert_queue_url=queue, alert_dlq_url=dlq)
    deployed.install_container()
    return deployed


def deploy_with_bucket(endpoint: str, monkeypatch: Any, bucket: str) -> Deployed:
    """``deploy``, with an S3 bucket of that name (made once per moto server) to read from."""
    deployed = deploy(endpoint, monkeypatch)
    s3 = deployed.client("s3")
    if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=bucket)
    return deployed


def s3_notifications(bucket: str, keys: list[str]) -> dict[str, Any]:
    """S3 event notifications of new objects delivered through SQS, one message per object,
    as the backfill function receives them."""
    records = []
    for key in keys:
        notification = {"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                   "object": {"key": quote_plus(key), "size": 1234}},
        }]}  # fmt: skip
        records.append({
            "messageId": str(uuid.uuid4()), "receiptHandle": "handle", "body":
            orjson.dumps(notification).decode(), "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:iamwatch-backfill",
            "awsRegion": "us-east-1",
        })  # fmt: skip
    return {"Records": records}


# CloudTrail's eventType -> the detail-type EventBridge gives the event.
DETAIL_TYPES = {
    "AwsConsoleSignIn": "AWS Console Sign In via CloudTrail",
    "AwsServiceEvent": "AWS Service Event via CloudTrail",
    "AwsApiCall": "AWS API Call via CloudTrail",
}


def eventbridge_event(record: dict[str, Any]) -> dict[str, Any]:
    """The envelope EventBridge wraps a CloudTrail record in: ``aws.<service>`` as source (the
    service of ``sso-directory.amazonaws.com`` is ``sso-directory``), the detail type of its
    eventType (Identity Center's sign-ins are service events, not console sign-ins)."""
    source = record["eventSource"].removesuffix(".amazonaws.com")
    default = (
        "AWS Console Sign In via CloudTrail"
        if source == "signin"
        else "AWS API Call via CloudTrail"
    )
    return {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, record["eventID"])),
        "detail-type": DETAIL_TYPES.get(record.get("eventType", ""), default),
        "source": f"aws.{source}",
        "account": record.get("recipientAccountId", "123456789012"),
        "time": record["eventTime"],
        "region": record.get("awsRegion", "us-east-1"),
        "resources": [],
        "detail": record,
    }


def route_through_eventbridge(
    endpoint: str,
    records: list[dict[str, Any]],
    rules: list[str] | None = None,
    source: str | None = None,
    patterns: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Deploy the packaged template's rules (or those named in ``rules``, or the event
    ``patterns`` given, another template's) into moto's
    EventBridge with an SQS target (moto cannot invoke Lambda), put each record as CloudTrail
    would (or, with ``source``, as anyone allowed on the bus could), and return the events
    that the rules delivered: exactly what the detect function would be invoked with (an
    event two rules match arrives twice, as in AWS)."""
    from tests.template import pattern_rules

    events = boto3.client("events", endpoint_url=endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    name = f"iamwatch-detect-{uuid.uuid4().hex[:8]}"
    # A bus of its own, removed afterwards: rules left on a shared bus by earlier calls would
    # route into this call's queue and make every later put slower.
    bus = events.create_event_bus(Name=name)["EventBusArn"]
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    deployed = [
        rule["Properties"]["EventPattern"]
        for rule in pattern_rules().values()
        if rules is None or rule["Properties"]["Name"] in rules
    ]
    if patterns is not None:
        deployed = patterns  # another template's rules (the regional forwarder's)
    assert deployed, rules
    rule_names = [f"{name}-{index}" for index in range(1, len(deployed) + 1)]
    for rule_name, event_pattern in zip(rule_names, deployed, strict=True):
        pattern = orjson.dumps(event_pattern).decode()
        events.put_rule(Name=rule_name, EventBusName=bus, EventPattern=pattern)
        events.put_targets(Rule=rule_name, EventBusName=bus, Targets=[{"Id": "detect", "Arn": arn}])
    delivered: list[dict[str, Any]] = []
    try:
        # Ten records at a time, the queue drained after each put: moto scans the whole queue
        # on every receive, so a queue of hundreds of events costs seconds per call.
        for start in range(0, len(records), 10):
            entries: list[Any] = []
            for record in records[start : start + 10]:
                envelope = eventbridge_event(record)
                entries.append(
                    {
                        "EventBusName": bus,
                        "Source": source or envelope["source"],
                        "DetailType": envelope["detail-type"],
                        "Detail": orjson.dumps(record).decode(),
                    }
                )
            assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
            delivered.extend(_drain(sqs, queue))
    finally:
        for rule_name in rule_names:
            events.remove_targets(Rule=rule_name, EventBusName=bus, Ids=["detect"])
            events.delete_rule(Name=rule_name, EventBusName=bus)
        events.delete_event_bus(Name=name)
        sqs.delete_queue(QueueUrl=queue)
    return delivered


def _drain(sqs: Any, queue: str) -> list[dict[str, Any]]:
    """Every message now on ``queue``, deleted as read (moto delivers synchronously, so what a
    put routed is already there)."""
    drained: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return drained
        for message in messages:
            drained.append(orjson.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def use_slack(
    deployed: Deployed, monkeypatch: Any, api_url: str, token: str, **settings: str
) -> None:
    """Store the bot token as an SSM SecureString, as the deployment does, and point the
    handlers at a Slack API server; ``settings`` are extra IAMWATCH_SLACK_* values."""
    parameter = f"/iamwatch/{uuid.uuid4().hex[:8]}/slack-token"
    deployed.client("ssm").put_parameter(Name=parameter, Value=token, Type="SecureString")
    values = {
        "IAMWATCH_SLACK_TOKEN_SSM_PARAMETER": parameter,
        "IAMWATCH_SLACK_CHANNEL": "#security-alerts",
        "IAMWATCH_SLACK_API_URL": api_url,
        "IAMWATCH_SLACK_MAX_RETRIES": "1",
        "IAMWATCH_SLACK_MAX_RETRY_WAIT_SECONDS": "1",
    }
    values.update({f"IAMWATCH_SLACK_{key.upper()}": value for key, value in settings.items()})
    for key, value in values.items():
        monkeypatch.setenv(key, value)


def empty_iam(iam: Any) -> None:
    """Delete every user, group, role, customer managed policy and virtual MFA device in moto's
    IAM, leaving the AWS managed policies: an empty account, without resetting the server
    (which reloads the managed policies, seconds each time, and wipes every other service)."""

    def each(operation: str, key: str, **arguments: Any) -> list[Any]:
        found: list[Any] = []
        for page in iam.get_paginator(operation).paginate(**arguments):
            found.extend(page[key])
        return found

    for device in each("list_virtual_mfa_devices", "VirtualMFADevices"):
        user = device.get("User", {}).get("UserName")
        if user:
            iam.deactivate_mfa_device(UserName=user, SerialNumber=device["SerialNumber"])
        iam.delete_virtual_mfa_device(SerialNumber=device["SerialNumber"])
    for user in each("list_users", "Users"):
        name = user["UserName"]
        with contextlib.suppress(iam.exceptions.NoSuchEntityException):
            iam.delete_login_profile(UserName=name)
        for key in each("list_access_keys", "AccessKeyMetadata", UserName=name):
            iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
        for device in each("list_mfa_devices", "MFADevices", UserName=name):
            iam.deactivate_mfa_device(UserName=name, SerialNumber=device["SerialNumber"])
        for group in each("list_groups_for_user", "Groups", UserName=name):
            iam.remove_user_from_group(UserName=name, GroupName=group["GroupName"])
        for policy in each("list_attached_user_policies", "AttachedPolicies", UserName=name):
            iam.detach_user_policy(UserName=name, PolicyArn=policy["PolicyArn"])
        for policy in each("list_user_policies", "PolicyNames", UserName=name):
            iam.delete_user_policy(UserName=name, PolicyName=policy)
        iam.delete_user(UserName=name)
    for group in each("list_groups", "Groups"):
        name = group["GroupName"]
        for policy in each("list_attached_group_policies", "AttachedPolicies", GroupName=name):
            iam.detach_group_policy(GroupName=name, PolicyArn=policy["PolicyArn"])
        for policy in each("list_group_policies", "PolicyNames", GroupName=name):
            iam.delete_group_policy(GroupName=name, PolicyName=policy)
        iam.delete_group(GroupName=name)
    for role in each("list_roles", "Roles"):
        name = role["RoleName"]
        for policy in each("list_attached_role_policies", "AttachedPolicies", RoleName=name):
            iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
        for policy in each("list_role_policies", "PolicyNames", RoleName=name):
            iam.delete_role_policy(RoleName=name, PolicyName=policy)
        for profile in each("list_instance_profiles_for_role", "InstanceProfiles", RoleName=name):
            iam.remove_role_from_instance_profile(
                InstanceProfileName=profile["InstanceProfileName"], RoleName=name
            )
        iam.delete_role(RoleName=name)
    for profile in each("list_instance_profiles", "InstanceProfiles"):
        iam.delete_instance_profile(InstanceProfileName=profile["InstanceProfileName"])
    for policy in each("list_policies", "Policies", Scope="Local"):
        for version in each("list_policy_versions", "Versions", PolicyArn=policy["Arn"]):
            if not version["IsDefaultVersion"]:
                iam.delete_policy_version(PolicyArn=policy["Arn"], VersionId=version["VersionId"])
        iam.delete_policy(PolicyArn=policy["Arn"])
