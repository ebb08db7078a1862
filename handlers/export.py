"""The daily schedule (or ``{"day": "YYYY-MM-DD"}`` by hand) in; that UTC day's findings out
to the export bucket as JSON Lines, OCSF and CSV, date-partitioned and SSE-KMS. A failed
write raises, so Lambda retries and the errors alarm fires."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iamwatch.aws.container import container
from iamwatch.observability import lambda_handler

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@lambda_handler()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return container().exporter.run(event).model_dump(mode="json")
