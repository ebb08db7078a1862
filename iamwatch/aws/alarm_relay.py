"""Relays what reaches the alarm topic (CloudWatch alarms, the doctor's failures) to the alarm
Slack channel: a channel of its own, so an alarm about the alert path does not depend on it."""

from __future__ import annotations

from typing import Any

from iamwatch.slack.operations import alarm_message
from iamwatch.slack.transport import SlackTransport


class AlarmRelay:
    def __init__(self, transport: SlackTransport, channel: str) -> None:
        self._transport = transport
        self._channel = channel

    def relay(self, event: dict[str, Any]) -> int:
        """Post each SNS record of ``event``; a Slack failure raises (Lambda retries an SNS
        delivery twice, and the e-mail subscription is the other way alarms go out)."""
        posted = 0
        for record in event.get("Records", []):
            sns = record.get("Sns") or {}
            message = alarm_message(str(sns.get("Message") or ""), sns.get("Subject"))
            self._transport.post(self._channel, message)
            posted += 1
        return posted
