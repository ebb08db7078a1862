"""One run of the doctor: every check, in a fixed order, into one report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from iamwatch.doctor import aws_checks
from iamwatch.doctor.model import Check, Report, Status
from iamwatch.doctor.slack_checks import SlackChecks
from iamwatch.doctor.targets import HOME_REGION, Targets

# boto3 client for (service, region).
ClientFactory = Callable[[str, str], Any]


class Doctor:
    def __init__(self, clients: ClientFactory, slack: SlackChecks | None) -> None:
        self._clients = clients
        self._slack = slack

    def examine(self, targets: Targets) -> Report:
        report = Report()
        home = HOME_REGION
        report.add(aws_checks.check_trail(self._clients("cloudtrail", home)))
        report.add(aws_checks.check_rules(self._clients("events", home), home, targets.rules))
        for region in targets.forwarder_regions:
            events = self._clients("events", region)
            report.add(aws_checks.check_rules(events, region, [targets.forwarder_rule]))
        if self._slack is None:
            report.add(
                Check(
                    "slack",
                    Status.SKIP,
                    "an incoming webhook: it cannot be checked without posting",
                )
            )
        else:
            for check in self._slack.run(targets.channels):
                report.add(check)
        sqs = self._clients("sqs", home)
        for label, url in targets.dead_letters.items():
            report.add(aws_checks.check_dead_letters(sqs, label, url))
        report.add(aws_checks.check_alarm_topic(self._clients("sns", home), targets.alarm_topic))
        dynamodb = self._clients("dynamodb", home)
        for label, table in targets.tables.items():
            report.add(aws_checks.check_table(dynamodb, label, table))
        return report
