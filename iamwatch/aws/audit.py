"""The DynamoDB audit store: one partition per UTC day, so a day's export is one query.

Two sparse global secondary indexes answer the other questions: ``by_record`` (one record by id,
e.g. a remediation to undo) and ``by_finding`` (everything that happened to one finding).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from iamwatch.audit import AuditRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

# Auditors commonly ask for a year; keep two, then let TTL expire records.
RETENTION = timedelta(days=730)
BY_RECORD = "by_record"
BY_FINDING = "by_finding"


def _parse(item: Mapping[str, Any]) -> AuditRecord:
    return AuditRecord.model_validate(orjson.loads(item["body"]["S"]))


class DynamoDBAuditLog:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def append(self, record: AuditRecord) -> None:
        sort_key = f"{record.at.isoformat()}#{record.record_id}"
        item: dict[str, AttributeValueTypeDef] = {
            "pk": {"S": f"day#{record.at:%Y-%m-%d}"},
            "sk": {"S": sort_key},
            "record_id": {"S": record.record_id},
            "kind": {"S": record.kind.value},
            "body": {"S": record.model_dump_json()},
            "expires_at": {"N": str(int((record.at + RETENTION).timestamp()))},
        }
        if record.finding_id is not None:
            item["finding_id"] = {"S": record.finding_id}
        # Append-only: a retried append of the same record never overwrites the first.
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )

    def get(self, record_id: str) -> AuditRecord | None:
        response = self._client.query(
            TableName=self._table,
            IndexName=BY_RECORD,
            KeyConditionExpression="record_id = :id",
            ExpressionAttributeValues={":id": {"S": record_id}},
        )
        items = response.get("Items", [])
        return _parse(items[0]) if items else None

    def for_finding(self, finding_id: str) -> Iterator[AuditRecord]:
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            IndexName=BY_FINDING,
            KeyConditionExpression="finding_id = :id",
            ExpressionAttributeValues={":id": {"S": finding_id}},
        ):
            for item in page.get("Items", []):
                yield _parse(item)

    def read(self, since: datetime, until: datetime) -> Iterator[AuditRecord]:
        day = since.replace(hour=0, minute=0, second=0, microsecond=0)
        # One query per day: an open-ended window ("every delivery since") must stop at the
        # present, not walk day partitions to the year 9999. Records are stamped when appended.
        last_day = min(until, datetime.now(UTC) + timedelta(days=1))
        while day < last_day:
            paginator = self._client.get_paginator("query")
            for page in paginator.paginate(
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
                ExpressionAttributeValues={
                    ":pk": {"S": f"day#{day:%Y-%m-%d}"},
                    ":low": {"S": since.isoformat()},
                    ":high": {"S": until.isoformat()},
                },
            ):
                for item in page.get("Items", []):
                    record = _parse(item)
                    if since <= record.at < until:
                        yield record
            day += timedelta(days=1)
