"""The scheduled doctor in AWS: the CLI's checks with the doctor function's role, and an alarm
(Slack's alarm channel and the alarm topic) when one fails or cannot be read."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iamwatch.aws.container import Container


def examine_and_alert(runtime: Container) -> dict[str, Any]:
    from iamwatch.composition import build_slack_transport, slack_token_source
    from iamwatch.doctor import Doctor
    from iamwatch.doctor.alert import alert
    from iamwatch.doctor.slack_checks import SlackChecks
    from iamwatch.doctor.targets import from_environment

    settings = runtime.settings
    targets = from_environment(settings, os.environ)
    slack = (
        SlackChecks(slack_token_source(settings), settings.slack_api_url)
        if settings.slack_token_configured
        else None
    )
    report = Doctor(runtime.regional_client, slack).examine(targets)
    transport = None
    if settings.slack_configured:
        transport = runtime.slack_transport or build_slack_transport(
            settings, deadline=runtime.deadline
        )
    said = alert(
        report,
        transport=transport,
        channel=settings.alarm_slack_channel or settings.slack_channel,
        sns=runtime.client("sns"),
        topic=targets.alarm_topic,
    )
    return {
        "healthy": report.healthy,
        "failed": [check.name for check in report.failed],
        "unreadable": [check.name for check in report.unreadable],
        "alerted": said,
    }
