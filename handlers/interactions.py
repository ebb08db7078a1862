"""Slack button clicks in (API Gateway HTTP API); verified, audited and answered within Slack's
3 seconds. This function can change nothing in IAM: approved remediations go to a queue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iamwatch.aws.interactions import api_gateway_answer, request_from_api_gateway
from iamwatch.aws.runtime import runtime
from iamwatch.observability import count, flushing, logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@flushing
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    answer = runtime().interactions.handle(request_from_api_gateway(event))
    count("SlackInteractions", outcome=answer.outcome.split(":", 1)[0])
    return api_gateway_answer(answer)
