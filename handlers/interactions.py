"""Slack button clicks in (API Gateway HTTP API); verified, audited and answered within Slack's
3 seconds. This function can change nothing in IAM: approved remediations go to a queue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iamwatch.aws.container import container
from iamwatch.observability import count, lambda_handler

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@lambda_handler()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Slack's models and the approval flow load on the first click, not at import.
    from iamwatch.aws.interactions import api_gateway_answer, request_from_api_gateway

    answer = container().interactions.handle(request_from_api_gateway(event))
    count("SlackInteractions", outcome=answer.outcome.split(":", 1)[0])
    return api_gateway_answer(answer)
