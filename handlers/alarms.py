"""The alarm topic's notifications (CloudWatch alarms, the doctor's failed checks) to the alarm
Slack channel, apart from the alert channels: the second way alarms reach people, besides
e-mail (a stack needs at least one of the two)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iamwatch.aws.container import container
from iamwatch.observability import lambda_handler

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@lambda_handler()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    app = container()
    app.deadline.start(context.get_remaining_time_in_millis() / 1000)
    try:
        return {"posted": app.alarm_relay.relay(event)}
    finally:
        app.deadline.stop()
