"""SQS batches of findings in; Slack alerts out. Only messages that failed return to the
queue (partial batch response); after the allowed attempts they are dead-lettered with
their reason."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iamwatch.aws.batch import process_sqs_batch
from iamwatch.aws.runtime import runtime
from iamwatch.observability import flushing, logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@flushing
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    current = runtime()
    return process_sqs_batch(
        current.oldest_first(event),
        context,
        lambda record: current.notify(
            record.body, int(record.attributes.approximate_receive_count)
        ),
    )
