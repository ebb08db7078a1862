"""SQS batches of findings in; Slack alerts out. Only messages that failed return to the
queue (partial batch response); after the allowed attempts they are dead-lettered with
their reason."""

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
            event=current.oldest_first(event),
            record_handler=lambda record: current.notify(
                record.body, int(record.attributes.approximate_receive_count)
            ),
            processor=BatchProcessor(event_type=EventType.SQS),
            context=context,
        )
    finally:
        flush_traces()
