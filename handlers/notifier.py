"""SQS batches of findings in; Slack alerts out, oldest event first, repeats of one alert
folded into one Slack write. Only messages that failed return to the queue (partial batch
response); after the allowed attempts they are dead-lettered with their reason. Slack waits
never outlast the invocation: what there is no time left for fails at once, audited."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iamwatch.aws.batch import partial_batch_response, queued_alerts
from iamwatch.aws.container import container
from iamwatch.observability import lambda_handler

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext


@lambda_handler()
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    app = container()
    # Slack waits stop while there is time left to audit and hand back what was not sent.
    app.deadline.start(context.get_remaining_time_in_millis() / 1000)
    try:
        retry = app.delivery.deliver_queued(queued_alerts(event))
    finally:
        app.deadline.stop()
    return partial_batch_response(event, retry)
