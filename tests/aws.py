"""Deploying iamwatch's AWS resources into the moto server, and invoking handlers like Lambda."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3
import orjson

from iamwatch.aws import runtime
from iamwatch.aws.tables import create_table

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

    def audit_kinds(self) -> list[str]:
        items = self.client("dynamodb").scan(TableName=self.env["IAMWATCH_AUDIT_TABLE"])["Items"]
        return sorted(item["kind"]["S"] for item in items)


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
    runtime.reset()
    return Deployed(endpoint=endpoint, env=env, alert_queue_url=queue, alert_dlq_url=dlq)


def eventbridge_event(record: dict[str, Any]) -> dict[str, Any]:
    """The envelope EventBridge wraps a CloudTrail record in."""
    source = record["eventSource"].split(".")[0]
    return {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, record["eventID"])),
        "detail-type": "AWS Console Sign In via CloudTrail"
        if source == "signin"
        else "AWS API Call via CloudTrail",
        "source": f"aws.{source}",
        "account": record.get("recipientAccountId", "123456789012"),
        "time": record["eventTime"],
        "region": record.get("awsRegion", "us-east-1"),
        "resources": [],
        "detail": record,
    }
