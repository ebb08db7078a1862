"""The dedup stores behind one small interface: SQLite embedded, DynamoDB on a moto server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3

from iamwatch.aws.dedup import DynamoDBDedupStore
from iamwatch.aws.tables import create_table
from iamwatch.slack.dedup import AlertRecord, DedupStore, SQLiteDedupStore

FIRST = datetime(2024, 5, 14, 9, 30, tzinfo=UTC)


def _record(count: int = 1, ts: str | None = "1715000001.000001") -> AlertRecord:
    return AlertRecord(
        dedup_key="root-account-used:123456789012:203.0.113.24",
        channel="#alerts",
        ts=ts,
        first_seen=FIRST,
        last_seen=FIRST + timedelta(minutes=count),
        count=count,
        finding_json='{"finding_id": "x"}',
    )


def test_put_then_get_round_trips_and_put_replaces() -> None:
    store: DedupStore = SQLiteDedupStore()
    assert store.get("root-account-used:123456789012:203.0.113.24") is None
    store.put(_record())
    assert store.get(_record().dedup_key) == _record()
    store.put(_record(count=4))
    assert store.get(_record().dedup_key) == _record(count=4)


def test_webhook_records_have_no_ts() -> None:
    store = SQLiteDedupStore()
    store.put(_record(ts=None))
    stored = store.get(_record().dedup_key)
    assert stored is not None and stored.ts is None


def test_seen_finding_ids_are_remembered_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "state.db"
    store = SQLiteDedupStore(path)
    assert not store.seen("f-1")
    store.mark_seen("f-1", "key")
    store.mark_seen("f-1", "key")  # idempotent
    store.put(_record())
    store.close()
    reopened = SQLiteDedupStore(path)
    assert reopened.seen("f-1") and not reopened.seen("f-2")
    assert reopened.get(_record().dedup_key) == _record()


def test_dynamodb_store_behaves_like_sqlite(aws_env: dict[str, str]) -> None:
    client = boto3.client("dynamodb", endpoint_url=aws_env["AWS_ENDPOINT_URL"])
    name = f"state-{uuid.uuid4().hex[:8]}"
    create_table(client, "state", name)
    at = datetime(2026, 11, 3, 12, tzinfo=UTC)
    record = AlertRecord("k", "#sec", "1700000000.0001", at, at + timedelta(minutes=5), 2, "{}")
    for store in (DynamoDBDedupStore(client, name, timedelta(hours=1)), SQLiteDedupStore()):
        assert store.get("k") is None
        store.put(record)
        assert store.get("k") == record
        store.put(AlertRecord("w", "#sec", None, at, at, 1, "{}"))
        assert store.get("w") == AlertRecord("w", "#sec", None, at, at, 1, "{}")
        assert not store.seen("f1")
        store.mark_seen("f1", "k")
        assert store.seen("f1")
