"""The weekly schedule in; the account's IAM inventory out: audited rows, posture findings
for new check failures, a Slack digest, and the snapshot the event stream keeps current.
A failure raises, so Lambda retries and the errors alarm fires."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iamwatch.aws.container import container
from iamwatch.observability import lambda_handler

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@lambda_handler()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return container().weekly_inventory.run(event).model_dump(mode="json")
