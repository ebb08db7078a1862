"""The DynamoDB audit store: one partition per UTC day and writer, so a day's export is a query
per writer.

Two sparse global secondary indexes answer the other questions: ``by_record`` (one record by id,
e.g. a remediation to undo) and ``by_finding`` (everything that happened to one finding).

Who wrote a record matters. The interactions function answers the internet; what it writes
(acknowledgements, approvals, refused clicks) goes to partitions of its own, ``slack#day#...``,
which its role may not leave (an IAM ``dynamodb:LeadingKeys`` condition in serverless.yml).
Detection, delivery, export and remediation write ``day#...``. A record of a kind only they
write (a raised finding, a delivery, an applied remediation) found in the interactions'
partitions is not read back at all: it can only be forged, and is logged as such. So the
remediate function never acts on a finding, nor undoes a step, that the internet-facing
function made up.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import orjson

from iamwatch.audit import AuditKind, AuditRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

# Auditors commonly ask for a year; keep two, then let TTL expire records.
RETENTION = timedelta(days=730)
BY_RECORD = "by_record"
BY_FINDING = "by_finding"
# The partition-key prefix of everything the interactions function writes (its role's
# dynamodb:LeadingKeys condition is this followed by *).
UNTRUSTED_PREFIX = "slack#"

logger = logging.getLogger("iamwatch.audit")


class Writer(StrEnum):
    """Who appends: iamwatch's core functions, or the internet-facing interactions function."""

    CORE = "core"
    INTERACTIONS = "interactions"


# What the interactions function writes; any other kind in its partitions is forged.
INTERACTION_KINDS = frozenset(
    {
        AuditKind.FINDING_ACKNOWLEDGED,
        AuditKind.REMEDIATION_REQUESTED,
        AuditKind.REMEDIATION_APPROVED,
        AuditKind.REMEDIATION_FAILED,
        AuditKind.INTERACTION_REFUSED,
    }
)
_PREFIXES = {Writer.CORE: "", Writer.INTERACTIONS: UNTRUSTED_PREFIX}


def _partition(writer: Writer, at: datetime) -> str:
    return f"{_PREFIXES[writer]}day#{at:%Y-%m-%d}"


def _parse(item: Mapping[str, Any]) -> AuditRecord | None:
    """The record in an item, or None when its partition says it cannot be of its kind."""
    record = AuditRecord.model_validate(orjson.loads(item["body"]["S"]))
    partition = str(item.get("pk", {}).get("S", ""))
    if partition.startswith(UNTRUSTED_PREFIX) and record.kind not in INTERACTION_KINDS:
        logger.error(
            "audit record ignored: written by the interactions function, of a kind it never writes",
            extra={"record_id": record.record_id, "kind": record.kind.value},
        )
        return None
    return record


def _records(items: Iterable[Mapping[str, Any]]) -> Iterator[AuditRecord]:
    for item in items:
        record = _parse(item)
        if record is not None:
            yield record


class DynamoDBAuditLog:
    def __init__(
        self, client: DynamoDBClient, table_name: str, *, writer: Writer = Writer.CORE
    ) -> None:
        self._client = client
        self._table = table_name
        self._writer = writer

    def append(self, record: AuditRecord) -> None:
        if self._writer is Writer.INTERACTIONS and record.kind not in INTERACTION_KINDS:
            raise ValueError(f"the interactions function does not write {record.kind.value}")
        sort_key = f"{record.at.isoformat()}#{record.record_id}"
        item: dict[str, AttributeValueTypeDef] = {
            "pk": {"S": _partition(self._writer, record.at)},
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
        # Another item may claim the same id (ids are shown in Slack): the one from the
        # core's partitions wins, and one of a kind its partition cannot hold never counts.
        items = sorted(
            response.get("Items", []),
            key=lambda item: str(item.get("pk", {}).get("S", "")).startswith(UNTRUSTED_PREFIX),
        )
        return next(_records(items), None)

    def for_finding(self, finding_id: str) -> Iterator[AuditRecord]:
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            IndexName=BY_FINDING,
            KeyConditionExpression="finding_id = :id",
            ExpressionAttributeValues={":id": {"S": finding_id}},
        ):
            yield from _records(page.get("Items", []))

    def read(self, since: datetime, until: datetime) -> Iterator[AuditRecord]:
        day = since.replace(hour=0, minute=0, second=0, microsecond=0)
        # One query per day and writer: an open-ended window ("every delivery since") must
        # stop at the present, not walk day partitions to the year 9999. Records are stamped
        # when appended.
        last_day = min(until, datetime.now(UTC) + timedelta(days=1))
        while day < last_day:
            items = [
                item
                for writer in Writer
                for item in self._day(_partition(writer, day), since, until)
            ]
            items.sort(key=lambda item: str(item["sk"]["S"]))
            for record in _records(items):
                if since <= record.at < until:
                    yield record
            day += timedelta(days=1)

    def _day(self, partition: str, since: datetime, until: datetime) -> Iterator[dict[str, Any]]:
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
            ExpressionAttributeValues={
                ":pk": {"S": partition},
                ":low": {"S": since.isoformat()},
                ":high": {"S": until.isoformat()},
            },
        ):
            yield from page.get("Items", [])
