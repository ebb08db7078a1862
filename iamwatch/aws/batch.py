"""SQS-triggered handlers report partial batch failures, so only failed messages return."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext


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
