"""Item batches of the backfill state machine's Distributed Map in (``s3:listObjectsV2``
entries of one account/region/date prefix); the same detection, idempotency and audit as the
real-time path, the findings marked with the run. Returns the batch's counts (kept by the
map's ResultWriter); a batch with unreadable objects or failed detectors fails after the rest
was scanned, so Step Functions retries it and the error alarm sees it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iamwatch.aws.container import container
from iamwatch.observability import lambda_handler

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@lambda_handler()
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # The reader, models and detectors load on the first batch, not at import.
    from iamwatch.aws.backfill import ItemBatch, run_batch

    return run_batch(container(), ItemBatch.parse(event), context)
