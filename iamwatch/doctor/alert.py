"""The scheduled doctor's alarm: when a check fails or cannot be read, say so in the alarm Slack
channel (or the alert channel without one) and on the alarm topic (e-mail and the relay), each
on its own, so one broken path does not hide the other."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from iamwatch.doctor.model import Report
from iamwatch.slack.operations import doctor_message
from iamwatch.slack.transport import DeliveryError, SlackTransport

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

logger = logging.getLogger("iamwatch.doctor")


def alert(
    report: Report,
    *,
    transport: SlackTransport | None,
    channel: str | None,
    sns: SNSClient | None,
    topic: str | None,
) -> list[str]:
    """Raise the report's problems; returns where it was said (``slack``, ``topic``)."""
    if report.healthy:
        return []
    said: list[str] = []
    message = doctor_message(report)
    if transport is not None and channel is not None:
        try:
            transport.post(channel, message)
            said.append("slack")
        except DeliveryError as error:
            logger.error("doctor alert not posted", extra={"reason": error.reason})
    if sns is not None and topic is not None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            sns.publish(
                TopicArn=topic,
                Subject="iamwatch doctor: checks failed",
                Message=_text(report),
            )
            said.append("topic")
        except (BotoCoreError, ClientError) as error:
            logger.error("doctor alert not published", extra={"reason": type(error).__name__})
    return said


def _text(report: Report) -> str:
    lines = ["iamwatch doctor found problems; iamwatch may be blind to some events:"]
    for check in [*report.failed, *report.unreadable]:
        lines.append(f"- {check.name}: {check.status.value}: {check.detail}")
    lines.append("Run `iamwatch doctor` for the full report.")
    return "\n".join(lines)
