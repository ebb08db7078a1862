"""Key schemas of iamwatch's DynamoDB tables; serverless.yml declares the same (a test checks)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# logical name -> (partition key, sort key or None, TTL attribute)
TABLES: dict[str, tuple[str, str | None, str]] = {
    "idempotency": ("id", None, "expiration"),
    "state": ("pk", "sk", "expires_at"),
    "audit": ("pk", "sk", "expires_at"),
}


def create_table(client: DynamoDBClient, logical_name: str, table_name: str) -> None:
    """Create a table as the deployment does; used by tests and local set-ups."""
    partition, sort, ttl = TABLES[logical_name]
    keys: list[Any] = [{"AttributeName": partition, "KeyType": "HASH"}]
    attributes: list[Any] = [{"AttributeName": partition, "AttributeType": "S"}]
    if sort is not None:
        keys.append({"AttributeName": sort, "KeyType": "RANGE"})
        attributes.append({"AttributeName": sort, "AttributeType": "S"})
    client.create_table(
        TableName=table_name,
        KeySchema=keys,
        AttributeDefinitions=attributes,
        BillingMode="PAY_PER_REQUEST",
    )
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl},
    )
