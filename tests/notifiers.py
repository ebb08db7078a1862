"""Slack notifiers for tests: built from settings against the loopback Slack server, with a
fake sleep (never a real one), and the sample findings (each detector's first positive case)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from detectors import REGISTRY
from iamwatch.composition import build_notifier
from iamwatch.finding import Finding
from iamwatch.settings import load_settings
from iamwatch.slack.dedup import SQLiteDedupStore
from iamwatch.slack.notifier import SlackNotifier
from iamwatch.slack.samples import sample_finding
from tests.slack_server import Message, SlackServer

RUNBOOKS = "https://runbooks.example.test/iamwatch"
SAMPLES = {detector_id: sample_finding(detector_id, RUNBOOKS) for detector_id in REGISTRY.ids}


class Sleeps(list[float]):
    """Stands in for time.sleep: records what it was asked to wait, waits for nothing. Its
    ``clock`` is the time slept so far, for a deadline to count waits as if they had passed."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)

    def clock(self) -> float:
        return float(sum(self))


def notifier(
    server: SlackServer,
    sleeps: Sleeps,
    store: SQLiteDedupStore | None = None,
    **overrides: Any,
) -> SlackNotifier:
    settings: dict[str, Any] = {
        "slack_token": SlackServer.TOKEN,
        "slack_channel": "#alerts",
        "slack_api_url": server.api_url,
        "runbook_base_url": RUNBOOKS,
    }
    settings.update(overrides)
    return build_notifier(
        load_settings(**{k: v for k, v in settings.items() if v is not ...}),
        store=store or SQLiteDedupStore(),
        sleep=sleeps,
    )


def webhook_notifier(server: SlackServer, sleeps: Sleeps, **overrides: Any) -> SlackNotifier:
    return notifier(
        server,
        sleeps,
        slack_token=...,
        slack_channel=...,
        slack_webhook_url=server.webhook_url,
        **overrides,
    )


def finding_id_in(message: Message) -> str:
    footer = message.blocks[-1]["elements"][0]["text"]
    match = re.match(r"Finding ([0-9a-f-]{36}) ", footer)
    assert match is not None, footer
    return match.group(1)


def repeat_of(finding: Finding, minutes: int, number: int = 1) -> Finding:
    """The same activity again: same dedup key, a new event and so a new finding id."""
    event_id = f"00000000-0000-4000-8000-{number:012d}"
    return finding.model_copy(
        update={
            "event_id": event_id,
            "finding_id": f"11111111-0000-4000-8000-{number:012d}",
            "event_time": finding.event_time + timedelta(minutes=minutes),
        }
    )


def assert_delivered_once_each(server: SlackServer, findings: list[Finding]) -> None:
    ids = [finding_id_in(m) for m in server.top_level()]
    assert sorted(ids) == sorted(f.finding_id for f in findings)
