"""A backfill run's progress, and its Slack summary's counts (``DynamoDBRunSummaries``).

Progress: counters in the state table that every batch adds to atomically
(``UpdateItem ADD``), read back by ``iamwatch backfill --status``.

One item per run, ``pk = backfill-run#<run id>``, ``sk = progress``. A batch that succeeded adds
its objects, records and findings; one that failed adds only a failed attempt and its
unreadable objects (its retry adds the rest), so nothing is counted twice. The item expires
with the state table's TTL 90 days after its last update.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from iamwatch.aws.backfill import BatchResult
    from iamwatch.finding import Finding
    from iamwatch.slack.runs import RunSummary

_LIFETIME = timedelta(days=90)
COUNTERS = (
    "batches",
    "objects",
    "skipped_objects",
    "records",
    "examined",
    "findings",
    "suppressed",
    "malformed",
    "failed_attempts",
    "unreadable_objects",
    "detector_failures",
)
_DETECTOR = "detector:"


def _key(run_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"backfill-run#{run_id}"}, "sk": {"S": "progress"}}


class RunProgress:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def add(self, result: BatchResult, now: datetime | None = None) -> None:
        moment = now or datetime.now(UTC)
        if result.failed:
            counts = {
                "failed_attempts": 1,
                "unreadable_objects": len(result.unreadable),
                "detector_failures": result.detector_failures,
            }
        else:
            counts = {
                "batches": 1,
                "objects": result.objects,
                "skipped_objects": result.skipped_objects,
                "records": result.records,
                "examined": result.examined,
                "findings": sum(result.findings.values()),
                "suppressed": result.suppressed,
                "malformed": result.malformed,
            }
            counts |= {f"{_DETECTOR}{name}": n for name, n in result.findings.items()}
        names = {f"#c{index}": name for index, name in enumerate(counts)}
        values: dict[str, Any] = {
            f":c{index}": {"N": str(value)} for index, value in enumerate(counts.values())
        }
        values[":now"] = {"S": moment.isoformat()}
        values[":expires"] = {"N": str(int((moment + _LIFETIME).timestamp()))}
        adds = ", ".join(f"#c{index} :c{index}" for index in range(len(counts)))
        self._client.update_item(
            TableName=self._table,
            Key=_key(result.run_id),
            UpdateExpression=f"ADD {adds} SET updated_at = :now, expires_at = :expires",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The counters (absent ones are 0), ``findings_by_detector`` and ``updated_at``; None
        before any batch finished."""
        item = self._client.get_item(
            TableName=self._table, Key=_key(run_id), ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        progress: dict[str, Any] = {
            name: int(item[name]["N"]) if name in item else 0 for name in COUNTERS
        }
        progress["findings_by_detector"] = {
            name.removeprefix(_DETECTOR): int(value["N"])
            for name, value in sorted(item.items())
            if name.startswith(_DETECTOR)
        }
        progress["updated_at"] = item.get("updated_at", {}).get("S")
        return progress


class DynamoDBRunSummaries:
    """The Slack summaries of backfill runs (``iamwatch.slack.runs``), in the state table:
    ``pk = backfill-run#<run id>``, ``sk = slack-summary``; counts are ``ADD``-ed, the claim and
    the shown total are conditional writes, so concurrent notifiers stay consistent."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _key(self, run_id: str) -> dict[str, Any]:
        return {"pk": {"S": f"backfill-run#{run_id}"}, "sk": {"S": "slack-summary"}}

    def add(self, run_id: str, findings: Sequence[Finding]) -> RunSummary:
        from iamwatch.slack.runs import counts

        severities, detectors = counts(findings)
        named = {"total": len(findings)}
        named |= {f"severity:{name}": n for name, n in severities.items()}
        named |= {f"{_DETECTOR}{name}": n for name, n in detectors.items()}
        names = {f"#c{index}": name for index, name in enumerate(named)}
        values: dict[str, Any] = {
            f":c{index}": {"N": str(value)} for index, value in enumerate(named.values())
        }
        values[":expires"] = {"N": str(int((datetime.now(UTC) + _LIFETIME).timestamp()))}
        adds = ", ".join(f"#c{index} :c{index}" for index in range(len(named)))
        item = self._client.update_item(
            TableName=self._table,
            Key=self._key(run_id),
            UpdateExpression=f"ADD {adds} SET expires_at = :expires",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )["Attributes"]
        return _summary(run_id, item)

    def get(self, run_id: str) -> RunSummary:
        item = self._client.get_item(
            TableName=self._table, Key=self._key(run_id), ConsistentRead=True
        ).get("Item", {})
        return _summary(run_id, item)

    def claim(self, run_id: str) -> bool:
        from iamwatch.slack.runs import CLAIM_TIMEOUT

        now = datetime.now(UTC)
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(run_id),
                UpdateExpression="SET claimed_at = :now",
                ConditionExpression="attribute_not_exists(ts) AND "
                "(attribute_not_exists(claimed_at) OR claimed_at < :stale)",
                ExpressionAttributeValues={
                    ":now": {"N": str(now.timestamp())},
                    ":stale": {"N": str((now - CLAIM_TIMEOUT).timestamp())},
                },
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def release(self, run_id: str) -> None:
        self._client.update_item(
            TableName=self._table, Key=self._key(run_id), UpdateExpression="REMOVE claimed_at"
        )

    def posted(self, run_id: str, channel: str, ts: str, rendered: int) -> RunSummary:
        item = self._client.update_item(
            TableName=self._table,
            Key=self._key(run_id),
            UpdateExpression="SET channel = :channel, ts = :ts, rendered = :rendered",
            ExpressionAttributeValues={
                ":channel": {"S": channel},
                ":ts": {"S": ts},
                ":rendered": {"N": str(rendered)},
            },
            ReturnValues="ALL_NEW",
        )["Attributes"]
        return _summary(run_id, item)

    def shown(self, run_id: str, rendered: int) -> None:
        # A failed condition: another notifier already showed as many or more.
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.update_item(
                TableName=self._table,
                Key=self._key(run_id),
                UpdateExpression="SET rendered = :rendered",
                ConditionExpression="attribute_not_exists(rendered) OR rendered < :rendered",
                ExpressionAttributeValues={":rendered": {"N": str(rendered)}},
            )


def _summary(run_id: str, item: dict[str, Any]) -> RunSummary:
    from iamwatch.slack.runs import RunSummary

    def numbers(prefix: str) -> dict[str, int]:
        return {
            name.removeprefix(prefix): int(value["N"])
            for name, value in sorted(item.items())
            if name.startswith(prefix)
        }

    return RunSummary(
        run_id=run_id,
        total=int(item.get("total", {}).get("N", 0)),
        by_severity=numbers("severity:"),
        by_detector=numbers(_DETECTOR),
        channel=item.get("channel", {}).get("S"),
        ts=item.get("ts", {}).get("S"),
        rendered=int(item.get("rendered", {}).get("N", 0)),
    )
