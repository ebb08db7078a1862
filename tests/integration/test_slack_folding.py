"""Folding repeats in ``deliver_all``: several repeats of one alert in a batch make one Slack
write (one thread reply, or one chat.update with the final count) instead of one each, while
every finding keeps its own result and the dedup store ends as one-by-one delivery leaves it.

Each scenario is also run through ``deliver`` one finding at a time on a second server and
store, and the two are compared: folding must change the number of requests, nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from iamwatch.finding import Finding
from iamwatch.slack.dedup import AlertRecord, SQLiteDedupStore
from iamwatch.slack.notifier import DeliveryResult, Outcome, SlackNotifier
from iamwatch.slack.render import FOLDED_LISTED
from tests.notifiers import (
    SAMPLES,
    Sleeps,
    finding_id_in,
    notifier,
    repeat_of,
    webhook_notifier,
)
from tests.slack_server import SlackServer, live_tokens, message_texts, payload_problems

pytestmark = pytest.mark.usefixtures("no_ambient_settings")

FIRST = SAMPLES["root-account-used"]
OTHER = SAMPLES["iam-user-created"]


@dataclass
class Run:
    results: list[DeliveryResult]
    store: SQLiteDedupStore
    server: SlackServer


def one_by_one(findings: list[Finding], **settings: Any) -> Run:
    """The reference: the same findings through ``deliver``, one request per repeat."""
    store = SQLiteDedupStore()
    with SlackServer() as server:
        alerts = notifier(server, Sleeps(), store=store, **settings)
        results = [alerts.deliver(finding) for finding in findings]
    return Run(results, store, server)


def essentials(result: DeliveryResult) -> tuple[Any, ...]:
    # ts differs between servers (each numbers its own messages); the rest must not.
    return (
        result.finding_id,
        result.outcome,
        result.channel,
        result.reason,
        result.retryable,
        result.repeat_count,
    )


def record_without_ts(record: AlertRecord | None) -> tuple[Any, ...] | None:
    if record is None:
        return None
    return (
        record.dedup_key,
        record.channel,
        record.first_seen,
        record.last_seen,
        record.count,
        record.finding_json,
    )


def assert_same_as_one_by_one(
    findings: list[Finding], folded: list[DeliveryResult], store: SQLiteDedupStore, **settings: Any
) -> Run:
    reference = one_by_one(findings, **settings)
    assert [essentials(r) for r in folded] == [essentials(r) for r in reference.results]
    for key in {finding.dedup_key for finding in findings}:
        assert record_without_ts(store.get(key)) == record_without_ts(reference.store.get(key))
    for finding in findings:
        assert store.seen(finding.finding_id) == reference.store.seen(finding.finding_id)
    return reference


def repeats(count: int, start: int = 1, step: int = 5) -> list[Finding]:
    return [repeat_of(FIRST, minutes=step * n, number=n) for n in range(start, start + count)]


# Thread mode --------------------------------------------------------------------------------


def test_five_repeats_in_one_batch_make_one_thread_reply(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    store = SQLiteDedupStore()
    batch = [FIRST, *repeats(5)]
    summary = notifier(slack, sleeps, store=store, slack_repeats="thread").deliver_all(batch)
    assert [r.finding_id for r in summary.results] == [f.finding_id for f in batch]
    assert [r.outcome for r in summary.results] == [Outcome.POSTED] + [Outcome.DEDUPLICATED] * 5
    assert [r.repeat_count for r in summary.results] == [None, 2, 3, 4, 5, 6]
    # One alert and one reply, where one by one makes six requests.
    requests = slack.requests_for("chat.postMessage")
    assert len(slack.requests) == len(requests) == 2
    (parent,) = slack.top_level()
    (reply,) = slack.replies(parent.ts)
    assert finding_id_in(parent) == FIRST.finding_id
    assert {r.ts for r in summary.results} == {parent.ts}
    assert payload_problems(requests[1].body) == []
    head = reply.blocks[0]["text"]["text"]
    assert head == (
        "\U0001f501 *Repeats:* #2 to #6, 5 more times "
        "from 2026-11-05 11:07:29 UTC to 2026-11-05 11:27:29 UTC"
    )
    listed = reply.blocks[1]["text"]["text"].splitlines()
    assert [line.split(" \u00b7 ")[:2] for line in listed] == [
        [f"\u2022 #{n + 1}", f"2026-11-05 11:{2 + 5 * n:02d}:29 UTC"] for n in range(1, 6)
    ]
    assert all("192.0.2.92" in line for line in listed)
    reference = assert_same_as_one_by_one(batch, summary.results, store, slack_repeats="thread")
    assert len(reference.server.requests) == 6


def test_repeats_of_an_alert_from_an_earlier_run_fold_too(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    store = SQLiteDedupStore()
    notifier(slack, sleeps, store=store).deliver(FIRST)
    batch = [FIRST, *repeats(4)]
    summary = notifier(slack, sleeps, store=store).deliver_all(batch)
    assert [r.outcome for r in summary.results] == [Outcome.ALREADY_DELIVERED] + [
        Outcome.DEDUPLICATED
    ] * 4
    assert [r.repeat_count for r in summary.results[1:]] == [2, 3, 4, 5]
    assert len(slack.requests) == 2  # the earlier run's alert, then one reply
    record = store.get(FIRST.dedup_key)
    assert record is not None and record.count == 5


def test_interleaved_alerts_keep_input_order_and_fold_per_alert(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    store = SQLiteDedupStore()
    other_repeat = OTHER.model_copy(
        update={
            "finding_id": "22222222-0000-4000-8000-000000000001",
            "event_id": "00000000-0000-4000-9000-000000000001",
            "event_time": OTHER.event_time + timedelta(minutes=1),
        }
    )
    first_repeats = repeats(3)
    batch = [
        FIRST,
        OTHER,
        first_repeats[0],
        other_repeat,
        first_repeats[1],
        SAMPLES["mfa-device-removed"],
        first_repeats[2],
    ]
    summary = notifier(slack, sleeps, store=store).deliver_all(batch)
    assert [r.finding_id for r in summary.results] == [f.finding_id for f in batch]
    assert [r.outcome for r in summary.results] == [
        Outcome.POSTED,
        Outcome.POSTED,
        Outcome.DEDUPLICATED,
        Outcome.DEDUPLICATED,
        Outcome.DEDUPLICATED,
        Outcome.POSTED,
        Outcome.DEDUPLICATED,
    ]
    # Three alerts, one reply under FIRST for its three repeats, one under OTHER (a lone
    # repeat is rendered exactly as one-by-one delivery renders it).
    assert len(slack.requests) == 5
    first_alert, other_alert, _ = slack.top_level()
    assert len(slack.replies(first_alert.ts)) == 1
    (lone,) = slack.replies(other_alert.ts)
    assert lone.blocks[0]["text"]["text"].startswith("\U0001f501 *Repeat* #2:")
    assert finding_id_in(lone) == other_repeat.finding_id
    assert_same_as_one_by_one(batch, summary.results, store)


def test_a_repeat_past_the_window_flushes_the_fold_and_starts_a_new_alert(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    store = SQLiteDedupStore()
    # 10, 30, 50 minutes fold onto FIRST; 70 is past its hour and becomes a new alert; 80 and
    # 100 are within the new alert's hour and fold onto it.
    batch = [FIRST, *(repeat_of(FIRST, m, n) for n, m in enumerate((10, 30, 50, 70, 80, 100)))]
    settings = {"slack_dedup_window_seconds": 3600}
    summary = notifier(slack, sleeps, store=store, **settings).deliver_all(batch)
    assert [r.outcome for r in summary.results] == [
        Outcome.POSTED,
        *[Outcome.DEDUPLICATED] * 3,
        Outcome.POSTED,
        *[Outcome.DEDUPLICATED] * 2,
    ]
    assert [r.repeat_count for r in summary.results] == [None, 2, 3, 4, None, 2, 3]
    assert len(slack.requests) == 4
    first_alert, second_alert = slack.top_level()
    assert finding_id_in(second_alert) == batch[4].finding_id
    assert [len(slack.replies(m.ts)) for m in (first_alert, second_alert)] == [1, 1]
    assert_same_as_one_by_one(batch, summary.results, store, **settings)


def test_already_delivered_findings_are_decided_one_by_one_first(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    # (Suppressed findings never reach the notifier: tests/unit/test_detection.py.)
    store = SQLiteDedupStore()
    first_repeats = repeats(3)
    batch = [FIRST, first_repeats[0], first_repeats[2], first_repeats[0], FIRST]
    summary = notifier(slack, sleeps, store=store).deliver_all(batch)
    assert [r.outcome for r in summary.results] == [
        Outcome.POSTED,
        Outcome.DEDUPLICATED,
        Outcome.DEDUPLICATED,
        Outcome.ALREADY_DELIVERED,
        Outcome.ALREADY_DELIVERED,
    ]
    assert [r.repeat_count for r in summary.results] == [None, 2, 3, None, None]
    # The second copy of a folded finding forces the fold's write first (one by one, the
    # first copy would already be written, so the second is already delivered).
    assert len(slack.requests) == 2
    assert_same_as_one_by_one(batch, summary.results, store)


# Update mode --------------------------------------------------------------------------------


def test_update_mode_makes_one_update_with_the_final_count(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    store = SQLiteDedupStore()
    # One repeat is earlier than the first alert's event: first_seen moves back to it.
    batch = [FIRST, *repeats(4), repeat_of(FIRST, minutes=-20, number=9)]
    summary = notifier(slack, sleeps, store=store, slack_repeats="update").deliver_all(batch)
    assert [r.repeat_count for r in summary.results] == [None, 2, 3, 4, 5, 6]
    assert [r.method for r in slack.requests] == ["chat.postMessage", "chat.update"]
    (message,) = slack.messages
    assert message.updates == 1
    assert finding_id_in(message) == FIRST.finding_id
    texts = [t for t, _ in message_texts({"blocks": message.blocks})]
    assert (
        "\U0001f501 *Repeats:* seen 6 times, first 2026-11-05 10:42:29 UTC, "
        "latest 2026-11-05 11:22:29 UTC" in texts
    )
    assert payload_problems(slack.requests[1].body) == []
    reference = assert_same_as_one_by_one(batch, summary.results, store, slack_repeats="update")
    # One by one ends on the same message, after five updates.
    (final,) = reference.server.messages
    assert (final.blocks, final.updates) == (message.blocks, 5)


def test_a_deleted_first_alert_gets_a_fresh_alert_and_the_rest_fold_onto_it(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    store = SQLiteDedupStore()
    alerts = notifier(slack, sleeps, store=store, slack_repeats="update")
    alerts.deliver(FIRST)
    slack.messages.clear()  # someone deleted the alert in Slack
    batch = repeats(4)
    summary = alerts.deliver_all(batch)
    assert [r.outcome for r in summary.results] == [Outcome.POSTED] + [Outcome.DEDUPLICATED] * 3
    assert [r.repeat_count for r in summary.results] == [None, 2, 3, 4]
    # The folded update fails (message_not_found), the first repeat is posted, and the other
    # three make one update of it.
    assert [(r.method, r.answer.get("error")) for r in slack.requests[1:]] == [
        ("chat.update", "message_not_found"),
        ("chat.postMessage", None),
        ("chat.update", None),
    ]
    (message,) = slack.top_level()
    assert finding_id_in(message) == batch[0].finding_id
    texts = [t for t, _ in message_texts({"blocks": message.blocks})]
    assert any("*Repeats:* seen 4 times" in t for t in texts)
    record = store.get(FIRST.dedup_key)
    assert record is not None and (record.ts, record.count) == (message.ts, 4)
    assert all(store.seen(f.finding_id) for f in batch)


# Failures -----------------------------------------------------------------------------------


def test_a_failed_folded_reply_fails_every_folded_finding_and_a_rerun_delivers_them(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    store = SQLiteDedupStore()
    batch = [FIRST, *repeats(5)]
    alerts = notifier(slack, sleeps, store=store, slack_max_retries=1)
    # The alert goes through; the reply meets an outage that outlasts its one retry.
    assert alerts.deliver(FIRST).outcome is Outcome.POSTED
    slack.server_error_next(2, status=503)
    summary = alerts.deliver_all(batch)
    assert summary.results[0].outcome is Outcome.ALREADY_DELIVERED
    failed = summary.results[1:]
    assert [r.outcome for r in failed] == [Outcome.FAILED] * 5
    assert {(r.reason, r.retryable, r.channel) for r in failed} == {
        ("service_unavailable (http 503, retries exhausted)", True, "#alerts")
    }
    assert [r.finding_id for r in summary.failures] == [f.finding_id for f in batch[1:]]
    assert not summary.ok
    assert len(slack.requests) == 3  # the alert, then one reply tried twice
    assert slack.replies(slack.top_level()[0].ts) == []
    # Nothing was marked seen and the count did not move.
    assert not any(store.seen(f.finding_id) for f in batch[1:])
    record = store.get(FIRST.dedup_key)
    assert record is not None and record.count == 1
    # A re-run (a new process on the same state) delivers all five, in one reply.
    rerun = notifier(slack, sleeps, store=store).deliver_all(batch)
    assert [r.outcome for r in rerun.results] == [Outcome.ALREADY_DELIVERED] + [
        Outcome.DEDUPLICATED
    ] * 5
    assert [r.repeat_count for r in rerun.results[1:]] == [2, 3, 4, 5, 6]
    assert len(slack.requests) == 4
    assert len(slack.replies(slack.top_level()[0].ts)) == 1


def test_a_permanent_error_on_the_folded_write_is_reported_for_each_finding(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    store = SQLiteDedupStore()
    batch = [FIRST, *repeats(3), OTHER]
    alerts = notifier(slack, sleeps, store=store, slack_channel_critical="#critical")
    posted = alerts.deliver(FIRST)
    assert (posted.outcome, posted.channel) == (Outcome.POSTED, "#critical")
    # Then #critical is archived, once: the folded reply meets it; OTHER goes to #alerts.
    slack.fail_channel("#critical", "is_archived", times=1)
    summary = alerts.deliver_all(batch)
    assert [r.outcome for r in summary.results] == [
        Outcome.ALREADY_DELIVERED,
        *[Outcome.FAILED] * 3,
        Outcome.POSTED,
    ]
    assert {(r.reason, r.retryable, r.channel) for r in summary.failures} == {
        ("is_archived", False, "#critical")
    }
    assert not any(store.seen(f.finding_id) for f in batch[1:4])
    # After the channel is unarchived, a new run delivers the three in one reply (a broken
    # channel is remembered for one batch only: issue 12, defect 2).
    before = len(slack.requests)
    rerun = notifier(slack, sleeps, store=store, slack_channel_critical="#critical")
    again = rerun.deliver_all(batch)
    assert [r.repeat_count for r in again.results[1:4]] == [2, 3, 4]
    assert len(slack.requests) == before + 1


# Rendering ----------------------------------------------------------------------------------

HOSTILE_NAMES = (
    "<!channel> deploy",
    "@here evil.example.com",
    "<https://phish.example/login|Reset your password>",
    "*bold* _it_ ~gone~ `code` <@U0123ABCD> <#C0123ABCD>",
    "x" * 5000,
)


def hostile_repeats(count: int) -> list[Finding]:
    out = []
    for number in range(1, count + 1):
        name = HOSTILE_NAMES[number % len(HOSTILE_NAMES)]
        out.append(
            repeat_of(FIRST, minutes=number % 50, number=number).model_copy(
                update={
                    "actor_name": name,
                    "actor": f"arn:aws:iam::123456789012:user/{name}",
                    "source_ip": "<!everyone> www.example.org",
                }
            )
        )
    return out


@pytest.mark.parametrize("count", [2, FOLDED_LISTED, 60])
def test_a_folded_reply_with_hostile_actors_is_valid_and_inert(
    slack: SlackServer, sleeps: Sleeps, count: int
) -> None:
    batch = [FIRST, *hostile_repeats(count)]
    summary = notifier(slack, sleeps).deliver_all(batch)
    # Slack (the loopback server's validation) accepted the reply: nothing failed.
    assert summary.ok, summary.failures
    assert summary.counts[Outcome.DEDUPLICATED] == count
    request = slack.requests_for("chat.postMessage")[-1]
    assert request.body.get("thread_ts") is not None
    assert payload_problems(request.body) == []
    for text, _ in message_texts(request.body):
        assert live_tokens(text) == [], text
    (reply,) = slack.replies(slack.top_level()[0].ts)
    listed = reply.blocks[1]["text"]["text"]
    assert len(listed) <= 3000
    shown = [line for line in listed.splitlines() if line.startswith("\u2022 ")]
    assert 0 < len(shown) <= min(count, FOLDED_LISTED)
    if len(shown) < count:
        assert listed.splitlines()[-1] == f"\u2026and {count - len(shown)} more"


# Webhooks -----------------------------------------------------------------------------------


def test_webhooks_count_repeats_without_any_request_as_before(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    batch = [FIRST, *repeats(3)]
    summary = webhook_notifier(slack, sleeps).deliver_all(batch)
    assert [r.outcome for r in summary.results] == [Outcome.POSTED] + [Outcome.DEDUPLICATED] * 3
    assert [r.repeat_count for r in summary.results] == [None, 2, 3, 4]
    assert {r.reason for r in summary.results[1:]} == {
        "repeat counted; incoming webhooks cannot thread or update messages"
    }
    assert [r.method for r in slack.requests] == ["webhook"]


def test_deliver_alone_still_makes_one_request_per_repeat(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    alerts: SlackNotifier = notifier(slack, sleeps)
    results = [alerts.deliver(finding) for finding in [FIRST, *repeats(3)]]
    assert [r.repeat_count for r in results] == [None, 2, 3, 4]
    (parent,) = slack.top_level()
    assert [finding_id_in(m) for m in slack.replies(parent.ts)] == [
        f.finding_id for f in repeats(3)
    ]
