"""The SQLite dedup store behind the small interface the DynamoDB one will share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

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
