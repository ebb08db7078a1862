"""``iamwatch scan`` and attack sequences: the same archive scanned twice with ``--state`` (as a
cron job re-scanning a bucket would) raises each sequence finding exactly once in all (the
second scan knows the events already scanned), whatever order the files are read in; with
``--slack``, each sequence alert is posted once and threads the alerts of the events it links."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES_DIR, detector_cases, findings_of, run_iamwatch, run_records
from tests.slack_server import SlackServer

SEQUENCES = ("iam-user-backdoor-sequence", "console-takeover-sequence", "mfa-removed-then-sign-in")
FILES = sorted((EXAMPLES_DIR / "AWSLogs").rglob("*.json.gz"))


def expected_sequences() -> set[str]:
    """The sequence findings the fixture cases raise, by id: one per positive case."""
    found = set()
    for case in detector_cases():
        if case.path.parent.name in SEQUENCES:
            found |= {f.finding_id for f in run_records(case.records) if f.detector in SEQUENCES}
    return found


def sequences_of(findings: list[dict[str, Any]]) -> Counter[str]:
    return Counter(f["finding_id"] for f in findings if f["detector"] in SEQUENCES)


def scan(*args: str, state: Path, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    result = run_iamwatch("scan", *args, "--format", "jsonl", "--state", str(state), env=env)
    assert result.returncode == 0, result.stderr.decode()
    return findings_of(result)


def test_the_same_archive_scanned_twice_raises_each_sequence_exactly_once(tmp_path: Path) -> None:
    expected = expected_sequences()
    assert len(expected) == 7
    state = tmp_path / "state.db"
    first = sequences_of(scan(str(EXAMPLES_DIR), state=state))
    second = sequences_of(scan(str(EXAMPLES_DIR), state=state))
    assert set(first) == expected and set(first.values()) == {1}
    assert second == Counter(), "the second scan of the same archive raises none again"
    # Read backwards (the sign-ins of one region before the IAM events of another, and so on),
    # on the same state: nothing new either.
    assert sequences_of(scan(*map(str, reversed(FILES)), state=state)) == Counter()


def test_reading_the_archive_backwards_on_fresh_state_finds_the_same_sequences(
    tmp_path: Path,
) -> None:
    forwards = scan(str(EXAMPLES_DIR), state=tmp_path / "forwards.db")
    backwards = scan(*map(str, reversed(FILES)), state=tmp_path / "backwards.db")

    def reported(findings: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
        return {
            f["finding_id"]: (f["event_id"], f["event_time"], f["actor"], f["summary"], f["links"])
            for f in findings
            if f["detector"] in SEQUENCES
        }

    assert reported(forwards) == reported(backwards)
    assert len(reported(forwards)) == 7


@pytest.fixture
def slack_env(slack: SlackServer) -> dict[str, str]:
    return {
        "IAMWATCH_SLACK_TOKEN": SlackServer.TOKEN,
        "IAMWATCH_SLACK_CHANNEL": "#security-alerts",
        "IAMWATCH_SLACK_API_URL": slack.api_url,
    }


def test_a_sequence_alert_is_posted_once_and_threads_its_linked_alerts(
    tmp_path: Path, slack: SlackServer, slack_env: dict[str, str]
) -> None:
    state = tmp_path / "state.db"
    findings = scan(str(EXAMPLES_DIR), "--slack", state=state, env=slack_env)
    scan(str(EXAMPLES_DIR), "--slack", state=state, env=slack_env)
    by_id = {f["finding_id"]: f for f in findings}
    posted: Counter[str] = Counter()
    for message in slack.top_level():
        footer = message.blocks[-1]["elements"][0]["text"]
        match = re.match(r"Finding ([0-9a-f-]{36}) ", footer)
        if match and by_id.get(match.group(1), {}).get("detector") in SEQUENCES:
            posted[match.group(1)] += 1
            (reply,) = [m for m in slack.replies(message.ts) if m.text.startswith("Linked")]
            listed = "\n".join(block["text"]["text"] for block in reply.blocks[:2])
            for link in by_id[match.group(1)]["links"]:
                assert link["event_id"] in listed
                if link["finding_id"]:
                    assert f"finding {link['finding_id']} (alerted)" in listed
            sections = [b["text"]["text"] for b in message.blocks if "text" in b]
            listing = next(text for text in sections if text.startswith("*Sequence*"))
            assert len(listing.splitlines()) == 1 + len(by_id[match.group(1)]["links"])
    assert set(posted) == expected_sequences()
    assert set(posted.values()) == {1}
