"""Approval rounds in the state table: one item per finding (``approval#<finding id>``), read
with ``ConsistentRead`` and written only if its version is still the one read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from iamwatch.slack.interactions.rounds import Round

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

# The interactions and remediate roles may write these keys only (dynamodb:LeadingKeys).
ROUND_PREFIX = "approval#"
# A round is decided within an hour; kept a week for whoever looks into it.
_LIFETIME = timedelta(days=7)


class DynamoDBApprovalRounds:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get(self, finding_id: str) -> Round | None:
        item = self._client.get_item(
            TableName=self._table,
            Key={"pk": {"S": f"{ROUND_PREFIX}{finding_id}"}, "sk": {"S": "round"}},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        return Round.from_json(item["body"]["S"])

    def put(self, round_: Round, *, read_version: int | None) -> bool:
        expires = datetime.now(UTC) + _LIFETIME
        item: dict[str, AttributeValueTypeDef] = {
            "pk": {"S": f"{ROUND_PREFIX}{round_.finding_id}"},
            "sk": {"S": "round"},
            "version": {"N": str(round_.version)},
            "body": {"S": round_.to_json().decode()},
            "expires_at": {"N": str(int(expires.timestamp()))},
        }
        try:
            if read_version is None:
                self._client.put_item(
                    TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
                )
            else:
                self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="version = :read",
                    ExpressionAttributeValues={":read": {"N": str(read_version)}},
                )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True
