"""Both state stores (SQLite embedded, DynamoDB on a moto server): windows, claims and facts,
idempotent on event id."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from iamwatch.aws.state import DynamoDBStateStore
from iamwatch.aws.tables import create_table
from iamwatch.state import SQLiteStateStore, StateStore

T0 = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest) -> StateStore:
    if request.param == "sqlite":
        return SQLiteStateStore()
    env = request.getfixturevalue("aws_env")
    client = boto3.client("dynamodb", endpoint_url=env["AWS_ENDPOINT_URL"])
    name = f"state-{uuid.uuid4().hex[:8]}"
    create_table(client, "state", name)
    return DynamoDBStateStore(client, name)


def test_count_in_window_slides_and_ignores_replays(store: StateStore) -> None:
    assert store.count_in_window("k", "e1", T0, WINDOW) == 1
    assert store.count_in_window("k", "e2", T0 + timedelta(minutes=5), WINDOW) == 2
    assert store.count_in_window("k", "e2", T0 + timedelta(minutes=5), WINDOW) == 2
    assert store.count_in_window("k", "e3", T0 + timedelta(minutes=16), WINDOW) == 2
    assert store.count_in_window("other", "e4", T0, WINDOW) == 1
    assert store.count_in_window("k", "e0", T0 - timedelta(minutes=1), WINDOW) == 1


def test_facts(store: StateStore) -> None:
    assert store.recall("permission-set") is None
    store.remember("permission-set", "AdministratorAccess")
    store.remember("permission-set", "IAMFullAccess")
    assert store.recall("permission-set") == "IAMFullAccess"


def test_claim_once_per_window_but_replay_safe(store: StateStore) -> None:
    assert store.claim("k", "e1", T0, WINDOW)
    assert store.claim("k", "e1", T0, WINDOW), "the same event may re-claim on replay"
    assert not store.claim("k", "e2", T0 + timedelta(minutes=10), WINDOW)
    assert store.claim("k", "e3", T0 + timedelta(minutes=16), WINDOW)


def test_state_persists_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "state.db"
    store = SQLiteStateStore(path)
    store.remember("fact", "AdministratorAccess")
    store.count_in_window("k", "e1", T0, WINDOW)
    store.close()
    reopened = SQLiteStateStore(path)
    assert reopened.recall("fact") == "AdministratorAccess"
    assert reopened.recall("missing") is None
    assert reopened.count_in_window("k", "e2", T0, WINDOW) == 2


# --- notes: the steps of sequences, read both ways in time --------------------------------------

KEEP = timedelta(hours=30)


def test_notes_come_back_in_time_order_whatever_order_they_were_written(store: StateStore) -> None:
    store.note("user", "e3", T0 + timedelta(hours=2), "admin", KEEP)
    store.note("user", "e1", T0, "created", KEEP)
    store.note("user", "e2", T0 + timedelta(minutes=1), "key", KEEP)
    store.note("other", "e9", T0, "created", KEEP)
    found = store.notes("user", T0 - timedelta(hours=1), T0 + timedelta(hours=3))
    assert [(n.event_id, n.value) for n in found] == [
        ("e1", "created"),
        ("e2", "key"),
        ("e3", "admin"),
    ]
    assert found[0].at == T0 and found[2].at == T0 + timedelta(hours=2)


def test_notes_range_is_inclusive_and_bounded(store: StateStore) -> None:
    store.note("user", "early", T0 - timedelta(hours=31), "created", KEEP)
    store.note("user", "edge", T0, "key", KEEP)
    store.note("user", "late", T0 + timedelta(hours=1), "admin", KEEP)
    found = store.notes("user", T0, T0 + timedelta(hours=1))
    assert [n.event_id for n in found] == ["edge", "late"]
    assert store.notes("user", T0 + timedelta(hours=2), T0 + timedelta(hours=3)) == []


def test_noting_an_event_again_replaces_it(store: StateStore) -> None:
    store.note("user", "e1", T0, "first", KEEP)
    store.note("user", "e1", T0, "again", KEEP)
    (note,) = store.notes("user", T0, T0)
    assert (note.event_id, note.value) == ("e1", "again")


def test_same_second_notes_tie_on_event_id(store: StateStore) -> None:
    for event_id in ("b", "c", "a"):
        store.note("user", event_id, T0, event_id, KEEP)
    assert [n.event_id for n in store.notes("user", T0, T0)] == ["a", "b", "c"]


def test_a_limited_read_returns_the_oldest_or_the_newest_first(store: StateStore) -> None:
    """Sequence detectors read one or a few notes of a busy subject, never all of them."""
    for minute, event_id in [(30, "d"), (0, "a"), (10, "c"), (10, "b"), (50, "e")]:
        store.note("user", event_id, T0 + timedelta(minutes=minute), event_id, KEEP)
    within = (T0, T0 + timedelta(minutes=40))
    assert [n.event_id for n in store.notes("user", *within, 2)] == ["a", "b"]
    assert [n.event_id for n in store.notes("user", *within, 1, True)] == ["d"]
    assert [n.event_id for n in store.notes("user", *within, 3, True)] == ["d", "c", "b"]
    assert [n.event_id for n in store.notes("user", *within, None, True)] == ["d", "c", "b", "a"]
    assert store.notes("user", T0 + timedelta(hours=2), T0 + timedelta(hours=3), 1) == []


def test_a_claim_made_at_a_fixed_time_has_one_holder_whatever_the_claimants_times(
    store: StateStore,
) -> None:
    """Sequences claim at their first step's time: whichever event completes the sequence
    first holds it, a replay of that event succeeds again, any other event is refused."""
    assert store.claim("sequence", "completer", T0, KEEP)
    assert not store.claim("sequence", "other-step", T0, KEEP)
    assert store.claim("sequence", "completer", T0, KEEP)
    assert store.claim("another-sequence", "other-step", T0, KEEP)


def test_dynamodb_notes_expire_a_day_after_they_are_kept_for(aws_env: dict[str, str]) -> None:
    client = boto3.client("dynamodb", endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    name = f"state-{uuid.uuid4().hex[:8]}"
    create_table(client, "state", name)
    DynamoDBStateStore(client, name).note("user", "e1", T0, "created", KEEP)
    (item,) = client.scan(TableName=name)["Items"]
    assert item["pk"]["S"] == "note#user"
    assert int(item["expires_at"]["N"]) == int((T0 + KEEP + timedelta(days=1)).timestamp())
