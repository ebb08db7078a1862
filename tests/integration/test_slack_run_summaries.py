"""A backfill run's findings reach Slack as one summary message per run (posted once, then
updated), plus the critical ones as alerts of their own; real-time delivery is unchanged. On
the loopback Slack server, with the run counts in memory and in moto's DynamoDB."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from iamwatch.aws.runs import DynamoDBRunSummaries
from iamwatch.aws.tables import create_table
from iamwatch.composition import build_notifier
from iamwatch.finding import Finding
from iamwatch.settings import load_settings
from iamwatch.severity import Severity
from iamwatch.slack.dedup import SQLiteDedupStore
from iamwatch.slack.notifier import Outcome, SlackNotifier
from iamwatch.slack.runs import MemoryRunSummaries, RunSummaries
from tests.notifiers import SAMPLES, Sleeps
from tests.slack_server import SlackServer

RUN = "bf-20261122T101500Z-abcdef"


def backfilled(detector: str, number: int, run: str | None = RUN, **changes: Any) -> Finding:
    """A sample finding as a backfill run raised it: its own event and finding id."""
    return SAMPLES[detector].model_copy(
        update={
            "finding_id": f"22222222-0000-4000-8000-{number:012d}",
            "event_id": f"33333333-0000-4000-8000-{number:012d}",
            "dedup_key": f"{detector}:{number}",
            "backfill_run": run,
            **changes,
        }
    )


def notifier_for(
    server: SlackServer, runs: RunSummaries | None, store: Any = None
) -> SlackNotifier:
    settings = load_settings(
        slack_token=SlackServer.TOKEN, slack_channel="#alerts", slack_api_url=server.api_url
    )
    return build_notifier(settings, store=store or SQLiteDedupStore(), sleep=Sleeps(), runs=runs)


@pytest.fixture(params=["memory", "dynamodb"])
def runs(request: pytest.FixtureRequest) -> Callable[[], RunSummaries]:
    if request.param == "memory":
        shared = MemoryRunSummaries()
        return lambda: shared
    import boto3

    request.getfixturevalue("aws_env")
    client = boto3.client("dynamodb")
    name = f"iamwatch-state-{request.node.name[-40:].strip('[]').replace('[', '-')}"
    name = "".join(c for c in name if c.isalnum() or c in "-_.")[:200]
    create_table(client, "state", name)
    return lambda: DynamoDBRunSummaries(client, name)


def test_a_run_is_one_summary_message_updated_as_findings_arrive(
    runs: Callable[[], RunSummaries],
) -> None:
    with SlackServer() as slack:
        store = SQLiteDedupStore()
        first = [backfilled("iam-user-created", n) for n in range(1, 6)]
        second = [backfilled("access-key-created", n) for n in range(6, 9)]
        summary = notifier_for(slack, runs(), store).deliver_all(first)
        assert {r.outcome for r in summary.results} == {Outcome.SUMMARIZED}
        (message,) = slack.top_level()
        assert "5 findings" in message.text
        # Another notifier (another Lambda invocation) updates the same message.
        later = notifier_for(slack, runs(), store).deliver_all(second)
        assert {r.outcome for r in later.results} == {Outcome.SUMMARIZED}
        (message,) = slack.top_level()
        assert message.updates == 1 and "8 findings" in message.text
        body = str(message.blocks)
        assert "iam-user-created: 5" in body and "access-key-created: 3" in body
        assert f"iamwatch backfill --status {RUN}" in body
        # Redelivered (SQS at least once): counted once, nothing more is written.
        again = notifier_for(slack, runs(), store).deliver_all(first)
        assert {r.outcome for r in again.results} == {Outcome.ALREADY_DELIVERED}
        assert len(slack.requests) == 2


def test_critical_findings_of_a_run_are_alerts_of_their_own(
    runs: Callable[[], RunSummaries],
) -> None:
    with SlackServer() as slack:
        batch = [
            backfilled("iam-user-created", 1),
            backfilled("root-account-used", 2),
            backfilled("iam-user-created", 3, severity=Severity.CRITICAL),
            backfilled("iam-user-created", 4),
        ]
        assert batch[1].severity is Severity.CRITICAL
        results = notifier_for(slack, runs()).deliver_all(batch).results
        assert [r.outcome for r in results] == [
            Outcome.SUMMARIZED, Outcome.POSTED, Outcome.POSTED, Outcome.SUMMARIZED,
        ]  # fmt: skip
        assert len(slack.top_level()) == 3
        (summary,) = [m for m in slack.top_level() if "Backfill run" in m.text]
        assert "2 findings" in summary.text


def test_real_time_findings_and_separate_runs_are_not_mixed(
    runs: Callable[[], RunSummaries],
) -> None:
    with SlackServer() as slack:
        other = "bf-20261122T111500Z-fedcba"
        batch = [
            backfilled("iam-user-created", 1, run=None),
            backfilled("iam-user-created", 2),
            backfilled("iam-user-created", 3, run=other),
        ]
        results = notifier_for(slack, runs()).deliver_all(batch).results
        assert [r.outcome for r in results] == [
            Outcome.POSTED, Outcome.SUMMARIZED, Outcome.SUMMARIZED,
        ]  # fmt: skip
        texts = sorted(m.text for m in slack.top_level())
        assert sum(RUN in t for t in texts) == 1 and sum(other in t for t in texts) == 1


def test_without_a_run_store_backfill_findings_are_alerts_as_before() -> None:
    with SlackServer() as slack:
        results = notifier_for(slack, None).deliver_all([backfilled("iam-user-created", 1)])
        assert [r.outcome for r in results.results] == [Outcome.POSTED]


def test_a_failed_summary_update_is_retried_and_counts_nothing_twice(
    runs: Callable[[], RunSummaries],
) -> None:
    with SlackServer() as slack:
        store = SQLiteDedupStore()
        batch = [backfilled("iam-user-created", n) for n in range(1, 4)]
        slack.error_next(1, "internal_error")  # not retried by the transport
        failed = notifier_for(slack, runs(), store).deliver_all(batch).results
        assert {r.outcome for r in failed} == {Outcome.FAILED}
        assert slack.top_level() == []
        retried = notifier_for(slack, runs(), store).deliver_all(batch).results
        assert {r.outcome for r in retried} == {Outcome.ALREADY_DELIVERED}
        (message,) = slack.top_level()
        assert "3 findings" in message.text


def test_notifiers_side_by_side_post_one_summary_with_every_finding(
    runs: Callable[[], RunSummaries],
) -> None:
    """Concurrent notify invocations: one claims and posts, the counts are never lost."""
    with SlackServer() as slack:
        batches = [[backfilled("iam-user-created", 10 * b + n) for n in range(5)] for b in range(4)]
        errors: list[BaseException] = []

        def deliver(findings: list[Finding]) -> None:
            try:
                notifier_for(slack, runs()).deliver_all(findings)
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=deliver, args=(b,)) for b in batches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(slack.top_level()) == 1
        assert runs().get(RUN).total == 20
        # The last writer may have rendered before the last count; one more delivery touching
        # the run (the next batch, or a redelivery) brings the message up to date.
        notifier_for(slack, runs()).deliver_all([backfilled("iam-user-created", 99)])
        assert "21 findings" in slack.top_level()[0].text
