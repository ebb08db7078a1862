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
# logical name -> global secondary indexes: (index name, partition key, sort key or None).
# Every index projects all attributes; all key attributes are strings.
INDEXES: dict[str, tuple[tuple[str, str, str | None], ...]] = {
    "audit": (("by_record", "record_id", None), ("by_finding", "finding_id", "sk")),
}


def create_table(client: DynamoDBClient, logical_name: str, table_name: str) -> None:
    """Create a table as the deployment does; used by tests and local set-ups."""
    partition, sort, ttl = TABLES[logical_name]
    keys: list[Any] = [{"AttributeName": partition, "KeyType": "HASH"}]
    attributes: list[Any] = [{"AttributeName": partition, "AttributeType": "S"}]
    if sort is not None:
        keys.append({"AttributeName": sort, "KeyType": "RANGE"})
        attributes.append({"AttributeName": sort, "AttributeType": "S"})
    indexes: list[Any] = []
    for index_name, index_partition, index_sort in INDEXES.get(logical_name, ()):
        index_keys = [{"AttributeName": index_partition, "KeyType": "HASH"}]
        if index_sort is not None:
            index_keys.append({"AttributeName": index_sort, "KeyType": "RANGE"})
        indexes.append(
            {
                "IndexName": index_name,
                "KeySchema": index_keys,
                "Projection": {"ProjectionType": "ALL"},
            }
        )
        for name in (index_partition, index_sort):
            if name is not None and all(a["AttributeName"] != name for a in attributes):
                attributes.append({"AttributeName": name, "AttributeType": "S"})
    optional: dict[str, Any] = {"GlobalSecondaryIndexes": indexes} if indexes else {}
    client.create_table(
        TableName=table_name,
        KeySchema=keys,
        AttributeDefinitions=attributes,
        BillingMode="PAY_PER_REQUEST",
        **optional,
    )
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl},
    )
