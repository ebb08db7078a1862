"""``iamwatch scan --slack``, ``iamwatch slack test`` and ``iamwatch slack preview``, run as a user
runs them (``python -m iamwatch`` in a subprocess) against the loopback Slack server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from detectors import REGISTRY
from tests.conftest import EXAMPLES_DIR, ROOT, Ran, detector_cases, run_iamwatch
from tests.slack_server import (
    Message,
    SlackServer,
    button_urls,
    live_tokens,
    message_texts,
    payload_problems,
)

RUNBOOKS = "https://github.com/iamwatch/iamwatch/blob/main/runbooks"
RECORDS: list[dict[str, Any]] = [r for case in detector_cases() for r in case.records]
SUMMARY = re.compile(r"Slack: (\d+) posted, (\d+) deduplicated, (\d+) suppressed, (\d+) failed\.")


def iamwatch(*args: str, env: dict[str, str]) -> Ran:
    return run_iamwatch(*args, env=env)


def slack_env(server: SlackServer, **extra: str) -> dict[str, str]:
    return {
        "IAMWATCH_SLACK_TOKEN": SlackServer.TOKEN,
        "IAMWATCH_SLACK_CHANNEL": "#security-alerts",
        "IAMWATCH_SLACK_API_URL": server.api_url,
        "IAMWATCH_RUNBOOK_BASE_URL": RUNBOOKS,
        **extra,
    }


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    path = tmp_path / "trail.json"
    path.write_bytes(orjson.dumps({"Records": RECORDS}))
    return path


def finding_id_in(message: Message) -> str:
    footer = message.blocks[-1]["elements"][0]["text"]
    match = re.match(r"Finding ([0-9a-f-]{36}) ", footer)
    assert match is not None, footer
    return match.group(1)


def summary_counts(stderr: bytes) -> tuple[int, ...]:
    match = SUMMARY.search(stderr.decode())
    assert match is not None, stderr.decode()
    return tuple(int(group) for group in match.groups())


def assert_one_valid_message_per_finding(
    server: SlackServer, findings: list[dict[str, Any]]
) -> None:
    by_id = {finding_id_in(m): m for m in server.top_level()}
    assert len(by_id) == len(server.top_level()) == len(findings)
    for finding in findings:
        message = by_id[finding["finding_id"]]
        body = {"text": message.text, "blocks": message.blocks}
        assert payload_problems(body) == []
        assert all(live_tokens(text) == [] for text, _ in message_texts(body))
        runbook = f"{RUNBOOKS}/{finding['detector']}.md"
        assert runbook in button_urls(body)
        # The link works: it names a runbook that exists under the base URL's directory.
        assert (ROOT / "runbooks" / runbook.rsplit("/", 1)[-1]).is_file()


def test_scan_slack_posts_one_valid_message_per_finding(slack: SlackServer, trail: Path) -> None:
    env = slack_env(slack, IAMWATCH_SLACK_DEDUP_WINDOW_SECONDS="0")
    result = iamwatch("scan", str(trail), "--format", "jsonl", "--slack", env=env)
    assert result.returncode == 0, result.stderr.decode()
    findings = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert len(findings) > 15
    assert {f["detector"] for f in findings} == set(REGISTRY.ids)
    assert_one_valid_message_per_finding(slack, findings)
    assert summary_counts(result.stderr) == (len(findings), 0, 0, 0)
    assert SlackServer.TOKEN not in result.stderr.decode() + result.stdout.decode()


def test_scan_examples_slack_delivers_every_finding(slack: SlackServer) -> None:
    env = slack_env(slack, IAMWATCH_SLACK_DEDUP_WINDOW_SECONDS="0")
    result = iamwatch("scan", str(EXAMPLES_DIR), "--format", "jsonl", "--slack", env=env)
    assert result.returncode == 0, result.stderr.decode()
    findings = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert findings
    assert_one_valid_message_per_finding(slack, findings)


def test_scan_slack_dedups_within_the_window_and_across_runs(
    slack: SlackServer, trail: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state.db"
    args = ("scan", str(trail), "--format", "jsonl", "--slack", "--state", str(state))
    first = iamwatch(*args, env=slack_env(slack))
    assert first.returncode == 0, first.stderr.decode()
    total = len(first.stdout.splitlines())
    posted, deduplicated, suppressed, failed = summary_counts(first.stderr)
    assert posted + deduplicated == total and (suppressed, failed) == (0, 0)
    assert posted == len(slack.top_level())
    # Repeats are thread replies; so is each sequence alert's list of the alerts it links.
    repeats = [
        reply
        for m in slack.top_level()
        for reply in slack.replies(m.ts)
        if not reply.text.startswith("Linked alerts:")
    ]
    assert deduplicated == len(repeats)
    # A second run with the same state file: what was delivered is not delivered again. (Detector
    # state carries over too, so a stateful detector may raise a finding the first run could not.)
    first_ids = {orjson.loads(line)["finding_id"] for line in first.stdout.splitlines()}
    before = len(slack.messages)
    again = iamwatch(*args, env=slack_env(slack))
    again_ids = [orjson.loads(line)["finding_id"] for line in again.stdout.splitlines()]
    new = {finding_id for finding_id in again_ids if finding_id not in first_ids}
    posted, deduplicated, suppressed, failed = summary_counts(again.stderr)
    assert posted + deduplicated == len(again_ids) and (suppressed, failed) == (0, 0)
    assert deduplicated >= len(first_ids & set(again_ids))
    assert all(finding_id_in(m) in new for m in slack.messages[before:])


def test_undeliverable_alerts_exit_4_with_reasons(slack: SlackServer, trail: Path) -> None:
    slack.fail_channel("#critical", "channel_not_found")
    env = slack_env(slack, IAMWATCH_SLACK_CHANNEL_CRITICAL="#critical")
    result = iamwatch("scan", str(trail), "--format", "jsonl", "--slack", env=env)
    assert result.returncode == 4
    stderr = result.stderr.decode()
    _, _, _, failed = summary_counts(result.stderr)
    critical = [
        f for f in map(orjson.loads, result.stdout.splitlines()) if f["severity"] == "critical"
    ]
    assert failed >= 1 and critical
    assert re.search(r"failed: \S+ [0-9a-f-]{36} to #critical: channel_not_found", stderr)
    assert slack.top_level("#security-alerts")


def test_suppressed_and_expired_rules_are_reported(slack: SlackServer, trail: Path) -> None:
    rules = [
        {
            "detector": "iam-user-created",
            "owner": "iam-team",
            "reason": "onboarding",
            "expires": "2999-01-01",
        },
        {
            "detector": "root-account-used",
            "owner": "sre",
            "reason": "migration",
            "expires": "2000-01-01",
        },
    ]
    env = slack_env(slack, IAMWATCH_SUPPRESSIONS=orjson.dumps(rules).decode())
    result = iamwatch("scan", str(trail), "--format", "jsonl", "--slack", env=env)
    assert result.returncode == 0, result.stderr.decode()
    stderr = result.stderr.decode()
    findings = [orjson.loads(line) for line in result.stdout.splitlines()]
    created = [f for f in findings if f["detector"] == "iam-user-created"]
    _, _, suppressed, _ = summary_counts(result.stderr)
    assert suppressed == len(created) > 0
    assert "suppressed: iam-user-created" in stderr and "owner iam-team: onboarding" in stderr
    assert "warning: suppression rule [detector=root-account-used] owner sre" in stderr
    assert "has expired and no longer suppresses" in stderr
    delivered = {finding_id_in(m) for m in slack.messages}
    assert not delivered & {f["finding_id"] for f in created}


def test_scan_slack_without_slack_settings_is_a_usage_error(trail: Path) -> None:
    result = iamwatch("scan", str(trail), "--slack", env={})
    assert result.returncode == 2
    assert b"IAMWATCH_SLACK_TOKEN: Slack is not configured" in result.stderr


def test_an_invalid_slack_setting_fails_before_scanning(trail: Path) -> None:
    env = {"IAMWATCH_SLACK_WEBHOOK_URL": "http://hooks.example/services/x"}
    result = iamwatch("scan", str(trail), "--slack", "--format", "jsonl", env=env)
    assert result.returncode == 2
    assert result.stdout == b""
    assert b"IAMWATCH_SLACK_WEBHOOK_URL: must use https" in result.stderr


def test_slack_test_posts_a_marked_sample_alert(slack: SlackServer) -> None:
    result = iamwatch("slack", "test", "--detector", "root-account-used", env=slack_env(slack))
    assert result.returncode == 0, result.stderr.decode()
    (message,) = slack.top_level("#security-alerts")
    texts = " ".join(text for text, _ in message_texts({"blocks": message.blocks}))
    assert "*Note:* Test alert sent by iamwatch slack test" in texts
    assert "Root user activity" in message.blocks[0]["text"]["text"]
    assert f"Posted a test root-account-used alert to #security-alerts (ts {message.ts})" in (
        result.stderr.decode()
    )


def test_slack_test_through_a_webhook(slack: SlackServer) -> None:
    env = {"IAMWATCH_SLACK_WEBHOOK_URL": slack.webhook_url}
    result = iamwatch("slack", "test", env=env)
    assert result.returncode == 0, result.stderr.decode()
    assert [m.via for m in slack.messages] == ["webhook"]
    assert SlackServer.WEBHOOK_PATH.encode() not in result.stderr
    # Without --detector, the sample of the catalogue's first detector.
    assert f"Posted a test {REGISTRY.ids[0]} alert".encode() in result.stderr


def test_slack_test_exits_4_when_slack_refuses(slack: SlackServer) -> None:
    env = slack_env(slack, IAMWATCH_SLACK_TOKEN="xoxb-revoked")
    result = iamwatch("slack", "test", env=env)
    assert result.returncode == 4
    assert b"failed: invalid_auth" in result.stderr
    assert b"xoxb-revoked" not in result.stderr


@pytest.mark.parametrize("detector_id", REGISTRY.ids)
def test_slack_preview_prints_block_kit_builder_json(detector_id: str) -> None:
    result = iamwatch("slack", "preview", detector_id, env={"IAMWATCH_RUNBOOK_BASE_URL": RUNBOOKS})
    assert result.returncode == 0, result.stderr.decode()
    document = orjson.loads(result.stdout)
    assert list(document) == ["blocks"]
    assert payload_problems(document) == []
    assert document["blocks"][0]["type"] == "header"
    assert f"{RUNBOOKS}/{detector_id}.md" in button_urls(document)


def test_slack_preview_shows_the_buttons_when_interactivity_is_on() -> None:
    result = iamwatch(
        "slack", "preview", "access-key-created", env={"IAMWATCH_SLACK_INTERACTIVITY": "true"}
    )
    assert result.returncode == 0, result.stderr.decode()
    blocks = orjson.loads(result.stdout)["blocks"]
    ids = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert ids[-2:] == ["iamwatch.acknowledge", "iamwatch.remediate"]


def test_slack_preview_of_an_unknown_detector_lists_the_ids() -> None:
    result = iamwatch("slack", "preview", "no-such-detector", env={})
    assert result.returncode == 2
    assert b"no detector 'no-such-detector'; known ids: iam-user-created" in result.stderr
