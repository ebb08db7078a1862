"""S3 notifications of new CloudTrail log files (via SQS) in; the same detection as the
real-time path, idempotent on eventID, so an event seen both ways alerts once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iamwatch.aws.batch import process_sqs_batch
from iamwatch.aws.container import container
from iamwatch.observability import lambda_handler

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext


@lambda_handler()
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # The detection path loads on the first batch (the reader, models and detectors).
    from iamwatch.aws.backfill import backfill

    app = container()
    return process_sqs_batch(
        event,
        context,
        lambda record: backfill(app.detection, app.detect_once, record.body, context),
    )
