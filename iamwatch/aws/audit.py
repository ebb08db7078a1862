"""The DynamoDB audit store: one partition per UTC day, so a day's export is one query."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import orjson

from iamwatch.audit import AuditRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Auditors commonly ask for a year; keep two, then let TTL expire records.
RETENTION = timedelta(days=730)


class DynamoDBAuditLog:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def append(self, record: AuditRecord) -> None:
        # Append-only: a retried append of the same record never overwrites the first.
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": f"day#{record.at:%Y-%m-%d}"},
                    "sk": {"S": f"{record.at.isoformat()}#{record.record_id}"},
                    "kind": {"S": record.kind.value},
                    "body": {"S": record.model_dump_json()},
                    "expires_at": {"N": str(int((record.at + RETENTION).timestamp()))},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )

    def read(self, since: datetime, until: datetime) -> Iterator[AuditRecord]:
        day = since.replace(hour=0, minute=0, second=0, microsecond=0)
        while day < until:
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
                    record = AuditRecord.model_validate(orjson.loads(item["body"]["S"]))
                    if since <= record.at < until:
                        yield record
            day += timedelta(days=1)
