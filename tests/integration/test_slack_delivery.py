"""Delivering alerts to a real Slack-speaking server on loopback: routing, retries with their
timing (a fake sleep, never a real one), permanent errors, outages and dedup."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from iamwatch.composition import build_notifier
from iamwatch.settings import load_settings
from iamwatch.severity import Severity
from iamwatch.slack.dedup import SQLiteDedupStore
from iamwatch.slack.notifier import Outcome
from iamwatch.slack.render import SlackMessage, render
from iamwatch.slack.transport import DeliveryError
from tests.conftest import EVENTS_DIR, load_case, run_records
from tests.notifiers import (
    RUNBOOKS,
    SAMPLES,
    Sleeps,
    assert_delivered_once_each,
    finding_id_in,
    notifier,
    repeat_of,
    webhook_notifier,
)
from tests.slack_server import SlackServer, live_tokens, message_texts, payload_problems

pytestmark = pytest.mark.usefixtures("no_ambient_settings")

# Posting and routing ---------------------------------------------------------------------


def test_posts_a_valid_alert_with_the_bot_token(slack: SlackServer, sleeps: Sleeps) -> None:
    finding = SAMPLES["access-key-created"]
    result = notifier(slack, sleeps).deliver(finding)
    assert result.outcome is Outcome.POSTED
    (message,) = slack.top_level("#alerts")
    assert result.ts == message.ts and result.channel == "#alerts"
    (request,) = slack.requests_for("chat.postMessage")
    assert request.headers["authorization"] == f"Bearer {SlackServer.TOKEN}"
    assert request.body["parse"] == "none" and request.body["link_names"] is False
    assert request.body["unfurl_links"] is False and request.body["unfurl_media"] is False
    assert payload_problems(request.body) == []
    assert message.blocks == render(finding).payload()["blocks"]
    assert finding_id_in(message) == finding.finding_id
    assert f"{RUNBOOKS}/access-key-created.md" in [
        e.get("url") for b in message.blocks for e in b.get("elements", [])
    ]
    assert sleeps == []


def test_routes_each_severity_to_its_channel_and_the_rest_to_the_default(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    alerts = notifier(
        slack, sleeps, slack_channel_critical="#sec-critical", slack_channel_high="#sec-high"
    )
    critical = SAMPLES["root-account-used"]
    high = SAMPLES["mfa-device-removed"]
    medium = SAMPLES["iam-user-created"]
    low = SAMPLES["inline-user-policy"]
    assert (critical.severity, high.severity) == (Severity.CRITICAL, Severity.HIGH)
    assert (medium.severity, low.severity) == (Severity.MEDIUM, Severity.LOW)
    summary = alerts.deliver_all([critical, high, medium, low])
    assert [r.channel for r in summary.results] == [
        "#sec-critical",
        "#sec-high",
        "#alerts",
        "#alerts",
    ]
    assert [finding_id_in(m) for m in slack.top_level("#sec-critical")] == [critical.finding_id]
    assert [finding_id_in(m) for m in slack.top_level("#sec-high")] == [high.finding_id]
    assert len(slack.top_level("#alerts")) == 2


# Retries: timing without sleeping ----------------------------------------------------------


def test_rate_limit_waits_exactly_retry_after_then_delivers(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    slack.rate_limit_next(2, retry_after=7)
    result = notifier(slack, sleeps).deliver(SAMPLES["iam-user-created"])
    assert result.outcome is Outcome.POSTED
    assert sleeps == [7.0, 7.0]
    assert [r.status for r in slack.requests_for("chat.postMessage")] == [429, 429, 200]
    assert len(slack.top_level()) == 1


def test_a_retry_after_longer_than_the_maximum_wait_is_not_slept_through(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    slack.rate_limit_next(1, retry_after=600)
    result = notifier(slack, sleeps, slack_max_retry_wait_seconds=60).deliver(
        SAMPLES["iam-user-created"]
    )
    assert result.outcome is Outcome.FAILED
    assert result.reason is not None and result.reason.startswith("ratelimited")
    assert result.retryable
    assert sleeps == []
    assert slack.top_level() == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_back_off_exponentially_then_deliver(
    slack: SlackServer, sleeps: Sleeps, status: int
) -> None:
    slack.server_error_next(3, status=status)
    result = notifier(slack, sleeps).deliver(SAMPLES["iam-user-created"])
    assert result.outcome is Outcome.POSTED
    assert len(sleeps) == 3
    # Backoff 0.5 * 2**attempt plus up to a second of jitter.
    for attempt, waited in enumerate(sleeps):
        assert 0.5 * 2**attempt <= waited <= 0.5 * 2**attempt + 1
    assert len(slack.top_level()) == 1


def test_dropped_connections_are_retried_and_deliver_once(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    slack.drop_next(2)
    result = notifier(slack, sleeps).deliver(SAMPLES["iam-user-created"])
    assert result.outcome is Outcome.POSTED
    assert len(sleeps) == 2
    assert [r.status for r in slack.requests_for("chat.postMessage")] == [None, None, 200]
    assert len(slack.top_level()) == 1


def test_retries_are_capped_and_the_failure_is_recorded_as_retryable(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    slack.server_error_next(10, status=503)
    result = notifier(slack, sleeps, slack_max_retries=2).deliver(SAMPLES["iam-user-created"])
    assert result.outcome is Outcome.FAILED
    assert result.retryable
    assert result.reason == "service_unavailable (http 503, retries exhausted)"
    assert len(slack.requests_for("chat.postMessage")) == 3
    assert len(sleeps) == 2


def test_an_unreachable_server_fails_with_a_connection_reason(sleeps: Sleeps) -> None:
    with SlackServer() as gone:
        api_url = gone.api_url
    settings = load_settings(
        slack_token=SlackServer.TOKEN, slack_channel="#alerts", slack_api_url=api_url
    )
    alerts = build_notifier(settings, store=SQLiteDedupStore(), sleep=sleeps)
    result = alerts.deliver(SAMPLES["iam-user-created"])
    assert result.outcome is Outcome.FAILED and result.retryable
    assert result.reason is not None and result.reason.startswith("connection failed")
    # Retried until the breaker tripped at three consecutive connection failures (two waits),
    # not through all five retries.
    assert len(sleeps) == 2


def test_with_slack_unreachable_the_breaker_fails_the_rest_at_once(sleeps: Sleeps) -> None:
    with SlackServer() as gone:
        api_url = gone.api_url
    settings = load_settings(
        slack_token=SlackServer.TOKEN, slack_channel="#alerts", slack_api_url=api_url
    )
    alerts = build_notifier(settings, store=SQLiteDedupStore(), sleep=sleeps)
    findings = [SAMPLES[name] for name in ("iam-user-created", "root-account-used")]
    findings.append(SAMPLES["mfa-device-removed"])
    summary = alerts.deliver_all(findings)
    first, *rest = summary.results
    assert first.reason is not None and first.reason.startswith("connection failed")
    for result in rest:
        assert result.outcome is Outcome.FAILED and result.retryable
        assert result.reason is not None and result.reason.startswith(
            "not sent: Slack unreachable (3 consecutive connection failures; last: connection"
        )
    assert len(sleeps) == 2, "only the first alert waited"


def test_the_breaker_closes_when_slack_answers_and_lets_one_try_after_its_cooldown(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    from iamwatch.slack.transport import Breaker

    now = [0.0]
    breaker = Breaker(threshold=2, cooldown=30.0, clock=lambda: now[0])
    breaker.failed("connection failed: ConnectionRefusedError")
    assert not breaker.open
    breaker.failed("connection failed: ConnectionRefusedError")
    assert breaker.open and breaker.refusal().retryable
    now[0] = 29.0
    assert breaker.open
    now[0] = 30.0
    assert not breaker.open, "half open after the cooldown: one attempt goes through"
    breaker.failed("connection failed: ConnectionRefusedError")
    assert breaker.open, "and one more failure trips it again"
    breaker.answered()
    assert not breaker.open and breaker.failures == 0
    # The notifier gives Slack a fresh chance with each queued batch.
    alerts = notifier(slack, sleeps)
    for _ in range(3):
        alerts.transport.breaker.failed("connection failed: x")
    assert alerts.transport.breaker.open
    alerts.begin_batch()
    assert alerts.deliver(SAMPLES["iam-user-created"]).outcome is Outcome.POSTED


# Permanent errors -----------------------------------------------------------------------


@pytest.mark.parametrize("error", ["channel_not_found", "not_in_channel", "is_archived"])
def test_a_failing_channel_never_blocks_the_others(
    slack: SlackServer, sleeps: Sleeps, error: str
) -> None:
    slack.fail_channel("#sec-high", error)
    alerts = notifier(slack, sleeps, slack_channel_high="#sec-high")
    high_1 = SAMPLES["mfa-device-removed"]
    high_2 = SAMPLES["permissions-boundary-removed"]
    medium = SAMPLES["iam-user-created"]
    summary = alerts.deliver_all([high_1, medium, high_2])
    outcomes = [(r.finding_id, r.outcome, r.reason) for r in summary.results]
    assert outcomes[0] == (high_1.finding_id, Outcome.FAILED, error)
    assert outcomes[1][:2] == (medium.finding_id, Outcome.POSTED)
    # Not retried, and the second message to the broken channel is not even attempted.
    assert outcomes[2][:2] == (high_2.finding_id, Outcome.FAILED)
    assert outcomes[2][2] == f"{error} (an earlier message failed the same way)"
    assert not any(r.retryable for r in summary.failures)
    assert sleeps == []
    channels = [r.body["channel"] for r in slack.requests_for("chat.postMessage")]
    assert channels == ["#sec-high", "#alerts"]
    assert [finding_id_in(m) for m in slack.top_level()] == [medium.finding_id]
    assert not summary.ok


def test_every_later_message_to_a_broken_channel_names_the_first_reason_once(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    slack.fail_channel("#alerts", "is_archived")
    alerts = notifier(slack, sleeps)
    findings = [
        SAMPLES["iam-user-created"],
        SAMPLES["inline-user-policy"],
        SAMPLES["root-account-used"],
    ]
    summary = alerts.deliver_all(findings)
    assert [r.reason for r in summary.results] == [
        "is_archived",
        "is_archived (an earlier message failed the same way)",
        "is_archived (an earlier message failed the same way)",
    ]
    assert len(slack.requests) == 1


def test_invalid_auth_is_recorded_and_not_retried(slack: SlackServer, sleeps: Sleeps) -> None:
    alerts = notifier(slack, sleeps, slack_token="xoxb-wrong-token")
    summary = alerts.deliver_all([SAMPLES["iam-user-created"], SAMPLES["root-account-used"]])
    assert [r.reason for r in summary.results] == [
        "invalid_auth",
        "invalid_auth (an earlier message failed the same way)",
    ]
    assert len(slack.requests) == 1
    assert slack.top_level() == []


def test_slack_rejecting_blocks_is_reported_with_its_reason(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    alerts = notifier(slack, sleeps)
    too_long = SlackMessage(
        text="x", blocks=({"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}},)
    )
    with pytest.raises(DeliveryError) as raised:
        alerts.transport.post("#alerts", too_long)
    assert raised.value.reason.startswith("invalid_blocks: [ERROR] must be 1 to 3000 characters")
    assert not raised.value.retryable
    slack.error_next(1, "invalid_blocks")
    result = alerts.deliver(SAMPLES["iam-user-created"])
    assert (result.outcome, result.reason) == (Outcome.FAILED, "invalid_blocks")


# Outage and recovery: exactly once --------------------------------------------------------


def test_an_outage_then_recovery_delivers_every_alert_exactly_once(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    findings = list(SAMPLES.values())
    slack.server_error_next(2, status=503)
    slack.rate_limit_next(1, retry_after=2)
    slack.drop_next(2)
    slack.server_error_next(1, status=500)
    slack.rate_limit_next(2, retry_after=1)
    summary = notifier(slack, sleeps, slack_max_retries=10).deliver_all(findings)
    assert summary.ok, summary.failures
    assert summary.counts[Outcome.POSTED] == len(findings)
    assert slack.pending_faults == 0
    assert len(sleeps) == 8
    assert_delivered_once_each(slack, findings)


def test_alerts_that_failed_during_a_long_outage_are_delivered_once_on_redelivery(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    findings = list(SAMPLES.values())[:6]
    store = SQLiteDedupStore()
    alerts = notifier(slack, sleeps, store=store, slack_max_retries=2)
    # The outage outlasts the retries of the first two alerts, then Slack recovers.
    slack.server_error_next(6, status=503)
    first = alerts.deliver_all(findings)
    failed = [r.finding_id for r in first.failures]
    assert failed == [findings[0].finding_id, findings[1].finding_id]
    assert all(r.retryable for r in first.failures)
    # A redelivery of the whole batch (an SQS retry, a re-run) posts only what is missing.
    second = alerts.deliver_all(findings)
    assert [r.outcome for r in second.results] == [Outcome.POSTED] * 2 + [
        Outcome.ALREADY_DELIVERED
    ] * 4
    assert_delivered_once_each(slack, findings)
    # And a third time, nothing at all is sent.
    before = len(slack.requests)
    third = alerts.deliver_all(findings)
    assert {r.outcome for r in third.results} == {Outcome.ALREADY_DELIVERED}
    assert len(slack.requests) == before


# Dedup ------------------------------------------------------------------------------------


def test_the_same_finding_id_never_posts_twice(slack: SlackServer, sleeps: Sleeps) -> None:
    alerts = notifier(slack, sleeps)
    finding = SAMPLES["iam-user-created"]
    results = [alerts.deliver(finding) for _ in range(3)]
    assert [r.outcome for r in results] == [
        Outcome.POSTED,
        Outcome.ALREADY_DELIVERED,
        Outcome.ALREADY_DELIVERED,
    ]
    assert len(slack.requests) == 1


def test_repeats_within_the_window_become_thread_replies(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    alerts = notifier(slack, sleeps, slack_repeats="thread")
    first = SAMPLES["root-account-used"]
    repeats = [repeat_of(first, minutes=10 * n, number=n) for n in (1, 2)]
    # One at a time, as the Lambda notifier delivers (deliver_all folds them: test_slack_folding).
    results = [alerts.deliver(finding) for finding in [first, *repeats]]
    assert [r.outcome for r in results] == [
        Outcome.POSTED,
        Outcome.DEDUPLICATED,
        Outcome.DEDUPLICATED,
    ]
    assert [r.repeat_count for r in results[1:]] == [2, 3]
    (parent,) = slack.top_level()
    replies = slack.replies(parent.ts)
    assert [reply.blocks[0]["text"]["text"].split(":", 1)[0] for reply in replies] == [
        "\U0001f501 *Repeat* #2",
        "\U0001f501 *Repeat* #3",
    ]
    assert [finding_id_in(reply) for reply in replies] == [r.finding_id for r in repeats]


def test_repeats_within_the_window_update_the_count_on_the_first_message(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    alerts = notifier(slack, sleeps, slack_repeats="update")
    first = SAMPLES["root-account-used"]
    # One at a time, as the Lambda notifier delivers (deliver_all folds them: test_slack_folding).
    results = [alerts.deliver(f) for f in [first, repeat_of(first, 5, 1), repeat_of(first, 30, 2)]]
    assert [r.outcome for r in results][1:] == [Outcome.DEDUPLICATED] * 2
    (message,) = slack.messages
    assert message.updates == 2
    assert finding_id_in(message) == first.finding_id
    texts = [t for t, _ in message_texts({"blocks": message.blocks})]
    assert any(
        "*Repeats:* seen 3 times, first 2026-11-05 11:02:29 UTC, latest 2026-11-05 11:32:29 UTC"
        in t
        for t in texts
    )
    updates = slack.requests_for("chat.update")
    assert [r.body["ts"] for r in updates] == [message.ts, message.ts]
    assert all(payload_problems(r.body) == [] for r in updates)


def test_a_failed_repeat_is_reported_against_the_first_alerts_channel_and_retried(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    store = SQLiteDedupStore()
    first = SAMPLES["root-account-used"]
    notifier(slack, sleeps, store=store, slack_channel_critical="#critical").deliver(first)
    # Routing changed since; repeats still belong under the first alert, in #critical.
    rerouted = notifier(slack, sleeps, store=store)
    slack.fail_channel("#critical", "is_archived", times=1)
    again = repeat_of(first, 5)
    failed = rerouted.deliver(again)
    assert (failed.outcome, failed.channel, failed.reason) == (
        Outcome.FAILED,
        "#critical",
        "is_archived",
    )
    # Not counted as delivered: a later attempt threads it under the first alert.
    retried = notifier(slack, sleeps, store=store).deliver(again)
    assert (retried.outcome, retried.repeat_count) == (Outcome.DEDUPLICATED, 2)
    (parent,) = slack.top_level("#critical")
    assert [finding_id_in(m) for m in slack.replies(parent.ts)] == [again.finding_id]


def test_a_deleted_first_message_gets_a_fresh_alert(slack: SlackServer, sleeps: Sleeps) -> None:
    alerts = notifier(slack, sleeps, slack_repeats="update")
    first = SAMPLES["root-account-used"]
    alerts.deliver(first)
    slack.messages.clear()
    again = repeat_of(first, 5)
    result = alerts.deliver(again)
    assert result.outcome is Outcome.POSTED
    assert [finding_id_in(m) for m in slack.top_level()] == [again.finding_id]


def test_a_repeat_outside_the_window_is_a_new_alert(slack: SlackServer, sleeps: Sleeps) -> None:
    alerts = notifier(slack, sleeps, slack_dedup_window_seconds=3600)
    first = SAMPLES["root-account-used"]
    later = repeat_of(first, minutes=61)
    summary = alerts.deliver_all([first, later])
    assert [r.outcome for r in summary.results] == [Outcome.POSTED, Outcome.POSTED]
    # The window restarts from the new alert.
    third = alerts.deliver(repeat_of(first, minutes=90, number=2))
    assert third.outcome is Outcome.DEDUPLICATED
    assert third.ts == summary.results[1].ts


def test_a_zero_window_turns_dedup_off(slack: SlackServer, sleeps: Sleeps) -> None:
    alerts = notifier(slack, sleeps, slack_dedup_window_seconds=0)
    first = SAMPLES["root-account-used"]
    summary = alerts.deliver_all([first, repeat_of(first, 1)])
    assert summary.counts[Outcome.POSTED] == 2


def test_dedup_state_survives_a_restart_in_a_sqlite_file(
    slack: SlackServer, sleeps: Sleeps, tmp_path: Any
) -> None:
    path = tmp_path / "state" / "iamwatch.db"
    first = SAMPLES["root-account-used"]
    notifier(slack, sleeps, store=SQLiteDedupStore(path)).deliver(first)
    restarted = notifier(slack, sleeps, store=SQLiteDedupStore(path))
    assert restarted.deliver(first).outcome is Outcome.ALREADY_DELIVERED
    assert restarted.deliver(repeat_of(first, 3)).outcome is Outcome.DEDUPLICATED
    assert len(slack.top_level()) == 1


# Webhooks ---------------------------------------------------------------------------------


def test_webhook_delivery_posts_and_counts_repeats_without_posting_them(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    alerts = webhook_notifier(slack, sleeps)
    first = SAMPLES["root-account-used"]
    summary = alerts.deliver_all([first, repeat_of(first, 5), SAMPLES["iam-user-created"]])
    assert [r.outcome for r in summary.results] == [
        Outcome.POSTED,
        Outcome.DEDUPLICATED,
        Outcome.POSTED,
    ]
    assert summary.results[1].reason == (
        "repeat counted; incoming webhooks cannot thread or update messages"
    )
    assert summary.results[1].repeat_count == 2
    assert [m.via for m in slack.messages] == ["webhook", "webhook"]
    (request, *_) = slack.requests_for("webhook")
    assert "authorization" not in request.headers
    assert payload_problems(request.body) == []


def test_webhook_retries_rate_limits_and_records_permanent_errors(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    alerts = webhook_notifier(slack, sleeps)
    slack.rate_limit_next(1, retry_after=3)
    assert alerts.deliver(SAMPLES["iam-user-created"]).outcome is Outcome.POSTED
    assert sleeps == [3.0]
    slack.fail_channel("incoming-webhook", "channel_is_archived")
    failed = alerts.deliver(SAMPLES["root-account-used"])
    assert (failed.outcome, failed.reason, failed.retryable) == (
        Outcome.FAILED,
        "channel_is_archived",
        False,
    )


# Suppression settings (what suppression does is tested in tests/unit/test_detection.py) -------


def test_suppressions_load_from_the_toml_config_file(tmp_path: Any) -> None:
    config = tmp_path / "iamwatch.toml"
    config.write_text(
        'slack_channel = "#alerts"\n'
        "[[suppressions]]\n"
        'actor = "arn:aws:iam::123456789012:user/helpdesk-*"\n'
        'owner = "platform-team"\n'
        'reason = "the helpdesk creates keys for service users"\n'
        "expires = 2024-12-31\n"
    )
    settings = load_settings(config)
    (rule,) = settings.suppressions
    assert (rule.owner, rule.expires) == ("platform-team", date(2024, 12, 31))
    assert rule.matches(SAMPLES["access-key-created"])


def test_delivered_messages_contain_no_live_tokens(slack: SlackServer, sleeps: Sleeps) -> None:
    notifier(slack, sleeps).deliver_all(list(SAMPLES.values()))
    for request in slack.requests_for("chat.postMessage"):
        for text, _ in message_texts(request.body):
            assert live_tokens(text) == []


# Sequences: one alert, and its thread names the alerts of the events it links ----------------


def _sequence_case_findings() -> list[Any]:
    case = load_case(
        EVENTS_DIR / "iam-user-backdoor-sequence" / "positive_created_key_then_admin_in_order.json"
    )
    return run_records(case.records)


def test_a_sequence_alert_threads_the_alerts_it_links(slack: SlackServer, sleeps: Sleeps) -> None:
    findings = _sequence_case_findings()
    sequence = findings[-1]
    assert sequence.detector == "iam-user-backdoor-sequence" and len(sequence.links) == 3
    summary = notifier(slack, sleeps).deliver_all(findings)
    assert {r.outcome for r in summary.results} == {Outcome.POSTED}
    assert len(slack.top_level()) == len(findings)
    (alert,) = [m for m in slack.top_level() if finding_id_in(m) == sequence.finding_id]
    (reply,) = slack.replies(alert.ts)
    assert reply.text.startswith("Linked alerts:")
    listed = reply.blocks[1]["text"]["text"]
    for link, member in zip(sequence.links, findings[:3], strict=True):
        assert link.finding_id == member.finding_id
        assert f"finding {member.finding_id} (alerted)" in listed
    # Single-event alerts get no such reply.
    assert all(slack.replies(m.ts) == [] for m in slack.top_level() if m.ts != alert.ts)


def test_a_linked_alerts_reply_that_fails_leaves_the_alert_delivered(
    slack: SlackServer, sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    """The alert already lists the linked events; a reply Slack refuses is logged and the
    alert is not posted again."""
    alerts = notifier(slack, sleeps)
    real = alerts.transport

    class RefusingReplies:
        supports_threads = True
        fixed_channel = real.fixed_channel
        breaker = real.breaker

        def post(self, channel: str, message: SlackMessage, thread_ts: str | None = None) -> Any:
            if thread_ts is not None and message.text.startswith("Linked alerts:"):
                raise DeliveryError("msg_too_long", retryable=False)
            return real.post(channel, message, thread_ts)

        def update(self, channel: str, ts: str, message: SlackMessage) -> None:
            real.update(channel, ts, message)

    alerts.transport = RefusingReplies()
    sequence = _sequence_case_findings()[-1]
    assert alerts.deliver(sequence).outcome is Outcome.POSTED
    assert alerts.deliver(sequence).outcome is Outcome.ALREADY_DELIVERED
    assert len(slack.top_level()) == 1 and slack.replies(slack.top_level()[0].ts) == []
    assert "slack linked alerts reply failed" in caplog.text


def test_webhooks_cannot_thread_so_the_alert_alone_lists_the_events(
    slack: SlackServer, sleeps: Sleeps
) -> None:
    sequence = _sequence_case_findings()[-1]
    result = webhook_notifier(slack, sleeps).deliver(sequence)
    assert result.outcome is Outcome.POSTED
    (message,) = slack.messages
    assert any("*Sequence*" in b.get("text", {}).get("text", "") for b in message.blocks)
