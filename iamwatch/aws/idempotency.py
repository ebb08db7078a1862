"""Detection at most once per CloudTrail eventID, across invocations and functions.

The detect and backfill functions share the key prefix, so an event seen both ways (EventBridge
and the S3 log file) alerts once. Powertools idempotency keeps the records in DynamoDB; a
repeat returns the first run's result. A run whose detectors raised is not saved, so a retry
runs the record again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from iamwatch.detection import DetectionService, DetectorErrors
from iamwatch.events import CloudTrailRecord

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient

IDEMPOTENCY_KEY_PREFIX = "iamwatch.detect"  # shared by every handler, so a record alerts once


class DetectOnce:
    def __init__(
        self,
        detection: DetectionService,
        client: DynamoDBClient,
        table_name: str,
        ttl_seconds: int,
        on_invocation: Callable[[], None] | None = None,
    ) -> None:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        self._config = IdempotencyConfig(
            event_key_jmespath="event_id",
            expires_after_seconds=ttl_seconds,
            raise_on_no_idempotency_key=True,
        )
        # Per-invocation caches (enrichment look-ups) start empty for each event.
        self._on_invocation = on_invocation

        def process(record: CloudTrailRecord, location: str) -> dict[str, object]:
            outcome = detection.process(record, location)
            if outcome.failures:
                raise DetectorErrors(outcome.failures)
            return outcome.as_dict()

        self._once: Callable[..., dict[str, object]] = idempotent_function(
            data_keyword_argument="record",
            config=self._config,
            persistence_store=DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client),
            key_prefix=IDEMPOTENCY_KEY_PREFIX,
        )(process)

    def __call__(
        self, record: CloudTrailRecord, location: str, context: LambdaContext | None
    ) -> dict[str, object]:
        """The record's outcome (``event_id``, ``queued``, ``suppressed`` finding ids), the
        first run's for a repeat; raises ``DetectorErrors`` when a detector failed."""
        if context is not None:
            # An in-progress record of an invocation that timed out expires with it.
            self._config.register_lambda_context(context)
        if self._on_invocation is not None:
            self._on_invocation()
        return self._once(record=record, location=location)
