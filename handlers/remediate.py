"""Remediations approved in Slack, from the remediation queue; applied with the remediation
role (the only one that may change IAM), each outcome posted to the alert's thread. Failed
messages return to the queue (partial batch response) and are dead-lettered after 3 attempts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iamwatch.aws.batch import process_sqs_batch
from iamwatch.aws.container import container
from iamwatch.observability import count, lambda_handler

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext


@lambda_handler()
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # The request model and the remediator load on the first message, not at import.
    from iamwatch.slack.interactions.queue import RemediationRequest

    app = container()

    def apply(record: SQSRecord) -> None:
        outcome = app.remediations.run(RemediationRequest.model_validate_json(record.body))
        count("SlackRemediations", outcome=outcome)

    # The outcome's Slack reply never waits past the invocation (it is audited before).
    app.deadline.start(context.get_remaining_time_in_millis() / 1000)
    try:
        return process_sqs_batch(event, context, apply)
    finally:
        app.deadline.stop()
