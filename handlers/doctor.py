"""Every hour: is iamwatch watching? The doctor's checks (trail, rules in every region, Slack,
dead letters, alarm topic, tables) with this function's read-only role; a failure is posted
to the alarm Slack channel and published to the alarm topic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iamwatch.aws.container import container
from iamwatch.aws.doctor import examine_and_alert
from iamwatch.observability import count, lambda_handler

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@lambda_handler()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    app = container()
    app.deadline.start(context.get_remaining_time_in_millis() / 1000)
    try:
        result = examine_and_alert(app)
    finally:
        app.deadline.stop()
    count("DoctorChecksFailed", value=len(result["failed"]) + len(result["unreadable"]))
    return result
