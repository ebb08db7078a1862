"""EventBridge CloudTrail events in; findings onto the alert queue, once per eventID."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from iamwatch.aws.runtime import runtime
from iamwatch.engine import describe_validation_error
from iamwatch.events import EventBridgeEvent
from iamwatch.observability import flushing, logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(correlation_id_path="detail.eventID", clear_state=True)
@metrics.log_metrics
@flushing
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    current = runtime()
    try:
        # iamwatch's own envelope model, not the powertools parser: importing the parser's
        # envelopes costs ~80 ms of cold start for a model this handler already has.
        parsed = EventBridgeEvent.model_validate(event)
    except ValidationError as error:
        current.malformed(f"eventbridge:{event.get('id')}", describe_validation_error(error))
        return {"status": "malformed"}
    return {"status": "processed", **current.detect(parsed.detail, context)}
