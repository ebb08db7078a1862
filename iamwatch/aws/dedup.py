"""The DynamoDB implementation of the Slack ``DedupStore``, in the state table.

Alert records live under ``slack-alert#<dedup key>`` and delivered-finding marks under
``slack-finding#<finding id>``; both expire by TTL once no retry or repeat can need them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from iamwatch.slack.dedup import AlertRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Longer than SQS keeps a message (14 days): a redelivered finding still finds its mark.
_SEEN_LIFETIME = timedelta(days=15)


def _expires(after: timedelta) -> dict[str, str]:
    return {"N": str(int((datetime.now(UTC) + after).timestamp()))}


class DynamoDBDedupStore:
    def __init__(self, client: DynamoDBClient, table_name: str, window: timedelta) -> None:
        self._client = client
        self._table = table_name
        self._alert_lifetime = window + timedelta(days=1)

    def get(self, dedup_key: str) -> AlertRecord | None:
        item: dict[str, Any] = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"slack-alert#{dedup_key}"}, "sk": {"S": "alert"}},
            ConsistentRead=True,
        ).get("Item", {})
        if not item:
            return None
        return AlertRecord(
            dedup_key=dedup_key,
            channel=item["channel"]["S"],
            ts=item["ts"]["S"] if "ts" in item else None,
            first_seen=datetime.fromtimestamp(float(item["first_seen"]["N"]), tz=UTC),
            last_seen=datetime.fromtimestamp(float(item["last_seen"]["N"]), tz=UTC),
            count=int(item["count"]["N"]),
            finding_json=item["finding_json"]["S"],
        )

    def put(self, record: AlertRecord) -> None:
        item: dict[str, Any] = {
            "pk": {"S": f"slack-alert#{record.dedup_key}"},
            "sk": {"S": "alert"},
            "channel": {"S": record.channel},
            "first_seen": {"N": str(record.first_seen.timestamp())},
            "last_seen": {"N": str(record.last_seen.timestamp())},
            "count": {"N": str(record.count)},
            "finding_json": {"S": record.finding_json},
            "expires_at": _expires(self._alert_lifetime),
        }
        if record.ts is not None:
            item["ts"] = {"S": record.ts}
        self._client.put_item(TableName=self._table, Item=item)

    def seen(self, finding_id: str) -> bool:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"slack-finding#{finding_id}"}, "sk": {"S": "seen"}},
            ConsistentRead=True,
        ).get("Item")
        return bool(item)

    def mark_seen(self, finding_id: str, dedup_key: str) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"slack-finding#{finding_id}"},
                "sk": {"S": "seen"},
                "dedup_key": {"S": dedup_key},
                "expires_at": _expires(_SEEN_LIFETIME),
            },
        )
