"""S3 notifications of new CloudTrail log files (via SQS) in; the same detection as the
real-time path, idempotent on eventID, so an event seen both ways alerts once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

# What the backfill path runs is loaded at cold start, like the detect handler's engine.
from iamwatch import pipeline, sources  # noqa: F401
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
    return process_sqs_batch(event, context, lambda record: current.backfill(record.body, context))
