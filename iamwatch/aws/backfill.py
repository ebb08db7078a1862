"""The backfill path: CloudTrail log files announced by S3 notifications, read by the detection
service's own record reader and detected once per eventID like the real-time path."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

import orjson

from iamwatch.detection import DetectionService, DetectorErrors, LocatedRecord
from iamwatch.engine import DetectorFailure
from iamwatch.sources import Source

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from iamwatch.aws.idempotency import DetectOnce


def announced_log_files(notification: str) -> list[Source]:
    """The CloudTrail log files an S3 event notification announces (none for s3:TestEvent);
    digests, Insights and anything else in the bucket are not log files."""
    body = orjson.loads(notification)
    sources = []
    for entry in body.get("Records", []):
        bucket = entry["s3"]["bucket"]["name"]
        key = unquote_plus(entry["s3"]["object"]["key"])
        if "/CloudTrail/" not in f"/{key}" or not key.endswith((".json.gz", ".json")):
            continue
        sources.append(
            Source(name=f"s3://{bucket}/{key}", size=None, kind="s3", bucket=bucket, key=key)
        )
    return sources


def backfill(
    detection: DetectionService,
    detect_once: DetectOnce,
    notification: str,
    context: LambdaContext | None,
) -> int:
    """Detect on every record of the announced files; returns the records examined.

    A file that cannot be read (an S3 or I/O error) raises, so SQS retries it and then
    dead-letters it; what a file holds that cannot be read (a malformed record, a corrupt or
    non-JSON file) is audited with its place and skipped, as reading it again would not
    change it. Detector failures raise after every record was tried."""
    examined = 0
    failures: list[DetectorFailure] = []
    for source in announced_log_files(notification):
        with detection.telemetry.span("backfill", object=source.name):
            for item in detection.records([source], retry_unreadable=True):
                if not isinstance(item, LocatedRecord):
                    continue  # audited as malformed by the reader
                examined += 1
                try:
                    detect_once(item.record, str(item.location), context)
                except DetectorErrors as error:
                    failures.extend(error.failures)
    if failures:
        raise DetectorErrors(failures)
    return examined
