"""S3 notifications of new CloudTrail log files (via SQS) in; the same detection as the
real-time path, idempotent on eventID, so an event seen both ways alerts once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iamwatch.aws.runtime import runtime
from iamwatch.observability import flush_traces, logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    current = runtime()
    try:
        return process_partial_response(
            event=event,
            record_handler=lambda record: current.backfill(record.body, context),
            processor=BatchProcessor(event_type=EventType.SQS),
            context=context,
        )
    finally:
        flush_traces()
