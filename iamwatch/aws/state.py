"""The DynamoDB state store: the Lambda deployment's implementation of ``StateStore``.

One table, partition key ``pk`` and sort key ``sk`` (strings), TTL on ``expires_at``.
Window entries sort by zero-padded epoch milliseconds, so a window count is one key-range
query; a claim is one conditional write, so two concurrent invocations cannot both claim.
Unlike the SQLite store, which only looks back from the claiming event, a claim here is a
single lock per key: a later event that claimed first also blocks an earlier one arriving out
of order within the window, so an out-of-order burst still raises one finding, not two.
Notes (the steps of sequences) sort like window entries, so the steps of one key in a time
range are one key-range query, whatever order they were written in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from iamwatch.state import Note

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Window entries outlive their window by a day so late, out-of-order events still count.
_GRACE = timedelta(days=1)
_FACT_LIFETIME = timedelta(days=400)


def _millis(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class DynamoDBStateStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def count_in_window(self, key: str, event_id: str, at: datetime, window: timedelta) -> int:
        moment = _millis(at)
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"window#{key}"},
                "sk": {"S": f"{moment:015d}#{event_id}"},
                "expires_at": {"N": str(int((at + window + _GRACE).timestamp()))},
            },
        )
        low = moment - int(window.total_seconds() * 1000) + 1
        count = 0
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues={
                ":pk": {"S": f"window#{key}"},
                ":low": {"S": f"{low:015d}#"},
                ":high": {"S": f"{moment:015d}#\uffff"},
            },
            Select="COUNT",
            ConsistentRead=True,
        ):
            count += int(page.get("Count", 0))
        return count

    def claim(self, key: str, event_id: str, at: datetime, window: timedelta) -> bool:
        moment = _millis(at)
        cutoff = moment - int(window.total_seconds() * 1000)
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"claim#{key}"}, "sk": {"S": "claim"}},
                UpdateExpression="SET event_id = :event, claimed_at = :at, expires_at = :expires",
                ConditionExpression=(
                    "attribute_not_exists(pk) OR claimed_at <= :cutoff OR event_id = :event"
                ),
                ExpressionAttributeValues={
                    ":event": {"S": event_id},
                    ":at": {"N": str(moment)},
                    ":cutoff": {"N": str(cutoff)},
                    ":expires": {"N": str(int((at + window + _GRACE).timestamp()))},
                },
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def remember(self, key: str, value: str) -> None:
        expires = datetime.now(UTC) + _FACT_LIFETIME
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"fact#{key}"},
                "sk": {"S": "fact"},
                "value": {"S": value},
                "expires_at": {"N": str(int(expires.timestamp()))},
            },
        )

    def recall(self, key: str) -> str | None:
        item: dict[str, Any] = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"fact#{key}"}, "sk": {"S": "fact"}},
            ConsistentRead=True,
        ).get("Item", {})
        value = item.get("value", {}).get("S")
        return str(value) if value is not None else None

    def note(self, key: str, event_id: str, at: datetime, value: str, keep: timedelta) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"note#{key}"},
                "sk": {"S": f"{_millis(at):015d}#{event_id}"},
                "event_id": {"S": event_id},
                "value": {"S": value},
                # Late, out-of-order steps must still find it: kept a day past ``keep``.
                "expires_at": {"N": str(int((at + keep + _GRACE).timestamp()))},
            },
        )

    def notes(
        self,
        key: str,
        start: datetime,
        end: datetime,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Note]:
        found: list[Note] = []
        paginator = self._client.get_paginator("query")
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {
                ":pk": {"S": f"note#{key}"},
                ":low": {"S": f"{_millis(start):015d}#"},
                ":high": {"S": f"{_millis(end):015d}#\uffff"},
            },
            "ConsistentRead": True,
            # The sort key is the time then the event id: items come oldest first.
            "ScanIndexForward": not newest_first,
        }
        if limit is not None:
            query["PaginationConfig"] = {"MaxItems": limit, "PageSize": limit}
        for page in paginator.paginate(**query):
            for item in page.get("Items", []):
                moment = int(item["sk"]["S"].split("#", 1)[0])
                found.append(
                    Note(
                        event_id=item["event_id"]["S"],
                        at=datetime.fromtimestamp(moment / 1000, tz=UTC),
                        value=item["value"]["S"],
                    )
                )
        return sorted(found, key=lambda note: (note.at, note.event_id), reverse=newest_first)
