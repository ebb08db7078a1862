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
