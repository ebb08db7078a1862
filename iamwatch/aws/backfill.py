"""The backfill paths: CloudTrail log files announced by S3 notifications (SQS), and the item
batches of the Step Functions backfill state machine (``s3:listObjectsV2`` entries), both read
by the detection service's own record reader and detected once per eventID like the real-time
path, so an event seen several ways alerts once."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import orjson

from iamwatch.backfill_plan import RUN_ID
from iamwatch.detection import (
    DetectionService,
    DetectorErrors,
    Enricher,
    LocatedRecord,
    UnreadableSource,
)
from iamwatch.engine import DetectorFailure
from iamwatch.events import CloudTrailRecord
from iamwatch.sources import Source

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from iamwatch.aws.container import Container
    from iamwatch.aws.idempotency import DetectOnce
    from iamwatch.finding import Finding

logger = logging.getLogger("iamwatch.backfill")


def announced_log_files(notification: str) -> list[Source]:
    """The CloudTrail log files an S3 event notification announces (none for s3:TestEvent);
    digests, Insights and anything else in the bucket are not log files."""
    body = orjson.loads(notification)
    sources = []
    for entry in body.get("Records", []):
        bucket = entry["s3"]["bucket"]["name"]
        key = unquote_plus(entry["s3"]["object"]["key"])
        if not is_log_file(key):
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


# --- The Step Functions path: one Distributed Map item batch of S3 objects ------------------

LOG_SUFFIXES = (".json.gz", ".json")


def is_log_file(key: str) -> bool:
    """A CloudTrail log file (digests, Insights and anything else in the bucket are not)."""
    return "/CloudTrail/" in f"/{key}" and key.endswith(LOG_SUFFIXES)


class BatchInputError(ValueError):
    """The invocation is not a Distributed Map item batch of this state machine."""


@dataclass(frozen=True, slots=True)
class ItemBatch:
    """What a Distributed Map item batch delivers: ``{"Items": [...], "BatchInput": {...}}``;
    the items are ``s3:listObjectsV2`` entries (``Key``, ``Size``, ``Etag``, ...), the batch
    input says which run and bucket they belong to."""

    run_id: str
    bucket: str
    prefix: str
    keys: tuple[str, ...]

    @classmethod
    def parse(cls, event: Mapping[str, Any]) -> ItemBatch:
        batch_input = event.get("BatchInput")
        items = event.get("Items")
        if not isinstance(batch_input, Mapping) or not isinstance(items, list):
            raise BatchInputError("expected a Distributed Map item batch (Items, BatchInput)")
        values = {name: batch_input.get(name) for name in ("run_id", "bucket", "prefix")}
        missing = [name for name, value in values.items() if not isinstance(value, str)]
        if missing or not RUN_ID.match(str(values["run_id"])):
            raise BatchInputError(
                f"BatchInput: missing or invalid {', '.join(missing) or 'run_id'}"
            )
        keys = []
        for index, item in enumerate(items):
            key = item.get("Key") if isinstance(item, Mapping) else None
            if not isinstance(key, str) or not key:
                raise BatchInputError(f"Items[{index}]: no Key")
            keys.append(key)
        return cls(str(values["run_id"]), str(values["bucket"]), str(values["prefix"]), tuple(keys))


@dataclass(slots=True)
class BatchResult:
    """What one batch did: the state machine's ResultWriter keeps it, the run's progress
    counters add it up, ``iamwatch backfill --status`` shows it."""

    run_id: str
    prefix: str
    objects: int = 0
    skipped_objects: int = 0
    records: int = 0
    examined: int = 0
    findings: Counter[str] = field(default_factory=Counter)
    suppressed: int = 0
    malformed: int = 0
    detector_failures: int = 0
    # Objects that could not be read (S3 or I/O errors): the batch fails, so it is retried.
    unreadable: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.unreadable or self.detector_failures)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "prefix": self.prefix,
            "objects": self.objects,
            "skipped_objects": self.skipped_objects,
            "records": self.records,
            "examined": self.examined,
            "findings": sum(self.findings.values()),
            "findings_by_detector": dict(sorted(self.findings.items())),
            "suppressed": self.suppressed,
            "malformed": self.malformed,
            "detector_failures": self.detector_failures,
            "unreadable": list(self.unreadable),
        }


class BatchFailed(RuntimeError):
    """Some objects of the batch could not be read, or a detector raised: the batch fails
    (after the rest of it was scanned), so Step Functions retries it and counts it against
    the run's tolerated failure percentage, and the function's error alarm sees it."""


# Detect one located record; raises ``DetectorErrors`` when a detector failed.
Detect = Callable[[CloudTrailRecord, str], object]


def scan_batch(detection: DetectionService, detect: Detect, batch: ItemBatch) -> BatchResult:
    """Scan every log file of the batch with the detection service's own reader, handing each
    record a detector wants to ``detect`` (the Lambda's: idempotent on eventID). The counts
    are this batch's alone (the service's statistics live as long as its container)."""
    from botocore.exceptions import BotoCoreError, ClientError

    stats = detection.stats
    before = (stats.records, stats.examined, stats.malformed, stats.total_suppressed)
    found_before = Counter(stats.findings)
    result = BatchResult(run_id=batch.run_id, prefix=batch.prefix)
    for key in batch.keys:
        if not is_log_file(key):
            result.skipped_objects += 1
            continue
        source = Source(
            name=f"s3://{batch.bucket}/{key}", size=None, kind="s3", bucket=batch.bucket, key=key
        )
        try:
            with detection.telemetry.span("backfill", object=source.name):
                for item in detection.records([source], retry_unreadable=True):
                    if not isinstance(item, LocatedRecord):
                        continue  # audited as malformed by the reader
                    try:
                        detect(item.record, str(item.location))
                    except DetectorErrors as error:
                        result.detector_failures += len(error.failures)
        except (UnreadableSource, BotoCoreError, ClientError) as error:
            logger.warning("backfill object unreadable", extra={"object": key, "error": str(error)})
            result.unreadable.append(key)
            continue
        result.objects += 1
    result.records = stats.records - before[0]
    result.examined = stats.examined - before[1]
    result.malformed = stats.malformed - before[2]
    result.suppressed = stats.total_suppressed - before[3]
    result.findings = Counter(stats.findings) - found_before
    return result


class RunTagger:
    """The enricher of the backfill batches' detection service: the finding is enriched as on
    the real-time path, then marked with the run that raised it (``backfill_run``), which is
    what the Slack notifier folds a run's findings by. ``run_id`` is set per invocation."""

    def __init__(self, inner: Enricher | None) -> None:
        self.inner = inner
        self.run_id: str | None = None

    def enrich(self, finding: Finding) -> Finding:
        enriched = self.inner.enrich(finding) if self.inner is not None else finding
        if self.run_id is None:
            return enriched
        return enriched.model_copy(update={"backfill_run": self.run_id})


def run_batch(app: Container, batch: ItemBatch, context: LambdaContext | None) -> dict[str, Any]:
    """One invocation of the backfill function by the state machine: scan the batch, add it
    to the run's progress, and fail the invocation if any of it failed."""
    app.run_tagger.run_id = batch.run_id
    try:
        result = scan_batch(
            app.backfill_detection,
            lambda record, where: app.backfill_detect_once(record, where, context),
            batch,
        )
    finally:
        app.run_tagger.run_id = None
    app.run_progress.add(result)
    if result.failed:
        raise BatchFailed(
            f"{len(result.unreadable)} object(s) unreadable, "
            f"{result.detector_failures} detector failure(s) in {batch.prefix}"
        )
    return result.as_dict()
