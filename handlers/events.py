"""EventBridge CloudTrail events in; findings onto the alert queue, once per eventID."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iamwatch.aws.container import container
from iamwatch.observability import lambda_handler

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@lambda_handler(correlation_id_path="detail.eventID")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The detection core (pydantic models, detectors) loads on the first event, not at import:
    # the module imports in milliseconds and the first invocation pays for what it uses.
    from pydantic import ValidationError

    from iamwatch.engine import describe_validation_error
    from iamwatch.events import EventBridgeEvent

    app = container()
    location = f"eventbridge:{event.get('id')}"
    try:
        # iamwatch's own envelope model, not the powertools parser: importing the parser's
        # envelopes costs ~80 ms of cold start for a model this handler already has.
        parsed = EventBridgeEvent.model_validate(event)
    except ValidationError as error:
        app.detection.malformed(location, describe_validation_error(error))
        return {"status": "malformed"}
    return {"status": "processed", **app.detect_once(parsed.detail, location, context)}
