"""The SQS alert queue between detection and Slack delivery, and its dead-letter queue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from iamwatch.finding import Finding

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

_BATCH = 10  # SQS SendMessageBatch limit


class AlertQueueError(RuntimeError):
    """Some findings could not be queued; the invocation must fail so it is retried."""


class SqsAlertQueue:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def publish(self, findings: Sequence[Finding]) -> None:
        for start in range(0, len(findings), _BATCH):
            chunk = findings[start : start + _BATCH]
            pending = {str(index): finding for index, finding in enumerate(chunk)}
            for _attempt in range(3):
                if not pending:
                    break
                response = self._client.send_message_batch(
                    QueueUrl=self._queue_url,
                    Entries=[_entry(key, finding) for key, finding in pending.items()],
                )
                sent = {item["Id"] for item in response.get("Successful", [])}
                pending = {key: f for key, f in pending.items() if key not in sent}
            if pending:
                ids = ", ".join(f.finding_id for f in pending.values())
                raise AlertQueueError(f"could not queue findings {ids}")


def _entry(key: str, finding: Finding) -> Any:
    return {
        "Id": key,
        "MessageBody": finding.model_dump_json(),
        "MessageAttributes": {
            "finding_id": {"DataType": "String", "StringValue": finding.finding_id},
            "detector": {"DataType": "String", "StringValue": finding.detector},
            "severity": {"DataType": "String", "StringValue": finding.severity.value},
        },
    }


class SqsDeadLetters:
    """The alert queue's dead-letter queue, with the reason each alert could not be delivered
    as a message attribute (the ``DeadLetters`` port of the delivery service)."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def park(self, body: str, reason: str, finding_id: str | None) -> None:
        attributes: dict[str, Any] = {"reason": {"DataType": "String", "StringValue": reason}}
        if finding_id is not None:
            attributes["finding_id"] = {"DataType": "String", "StringValue": finding_id}
        self._client.send_message(
            QueueUrl=self._queue_url, MessageBody=body, MessageAttributes=attributes
        )
