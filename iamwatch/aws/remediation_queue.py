"""The SQS queue between the interactions endpoint and the remediate function."""

from __future__ import annotations

from typing import TYPE_CHECKING

from iamwatch.slack.interactions.queue import RemediationRequest

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class SqsRemediationQueue:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._client = client
        self._queue_url = queue_url

    def submit(self, request: RemediationRequest) -> None:
        self._client.send_message(
            QueueUrl=self._queue_url,
            MessageBody=request.model_dump_json(),
            MessageAttributes={
                "finding_id": {"DataType": "String", "StringValue": request.finding_id},
            },
        )
