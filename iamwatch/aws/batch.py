"""SQS-triggered handlers report partial batch failures, so only failed messages return."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from iamwatch.delivery import QueuedAlert


def process_sqs_batch(
    event: dict[str, Any], context: LambdaContext, handle: Callable[[SQSRecord], object]
) -> PartialItemFailureResponse:
    """Run ``handle`` on every record; a record whose handler raises is reported as failed.
    When every record fails the invocation itself fails, which Lambda counts as an error."""
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    return process_partial_response(
        event=event,
        record_handler=handle,
        processor=BatchProcessor(event_type=EventType.SQS),
        context=context,
    )


def queued_alerts(event: dict[str, Any]) -> list[QueuedAlert]:
    """The alert messages of an SQS event, with how many times each has been received."""
    from iamwatch.delivery import QueuedAlert

    return [
        QueuedAlert(
            message_id=record["messageId"],
            body=record.get("body", ""),
            attempt=int(record.get("attributes", {}).get("ApproximateReceiveCount", 1)),
        )
        for record in event.get("Records", [])
    ]


def partial_batch_response(event: dict[str, Any], failed: list[str]) -> PartialItemFailureResponse:
    """The partial batch response for messages handled together: only ``failed`` return to
    the queue. When every message failed the invocation fails, as ``process_sqs_batch``
    does, so Lambda counts an error and its alarm sees it."""
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    total = len(event.get("Records", []))
    if failed and len(failed) == total:
        raise BatchProcessingError(f"all {total} messages failed; they return to the queue", [])
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
