"""The scheduled daily export: one UTC day's findings from the audit table to the export
bucket, one SSE-KMS object per format, then an ``export-written`` audit record.

Idempotent per day: the keys depend only on the day, the bytes only on the audit records up to
the day's delivery horizon, so a retry, re-run or backfill overwrites each object with the
same bytes (the bucket keeps the earlier versions).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from iamwatch import observability as obs
from iamwatch.audit import AuditKind, AuditLog, AuditRecord
from iamwatch.export import ExportFormat, collect
from iamwatch.export.daily import (
    FORMATS,
    PREFIX,
    DailyObject,
    ExportRequest,
    check_over,
    deliveries_until,
    inventory_key,
    inventory_rows,
    render_day,
    render_inventory,
    window,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class ExportDestination(BaseModel):
    model_config = ConfigDict(frozen=True)

    bucket: str = Field(min_length=3)
    kms_key_arn: str = Field(min_length=1)
    prefix: str = PREFIX


class WrittenObject(BaseModel):
    model_config = ConfigDict(frozen=True)

    format: ExportFormat
    key: str
    findings: int
    bytes: int
    sha256: str


class DailyExport(BaseModel):
    """What a run wrote; also the ``data`` of its ``export-written`` audit record."""

    model_config = ConfigDict(frozen=True)

    day: date
    bucket: str
    findings: int
    objects: list[WrittenObject]
    # Identities of the inventory taken that day (0: none was, and no object is written).
    inventory: int = 0


class ExportWriteError(RuntimeError):
    """S3 refused an object; the invocation fails, so Lambda retries and the alarm fires."""


class DailyExporter:
    def __init__(
        self,
        audit: AuditLog,
        s3: S3Client,
        destination: ExportDestination,
        formats: Sequence[ExportFormat] = FORMATS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._audit = audit
        self._s3 = s3
        self.destination = destination
        self._formats = formats
        self._clock = clock

    def run(self, event: Mapping[str, Any]) -> DailyExport:
        """Export the day a scheduled event or ``{"day": "YYYY-MM-DD"}`` asks for."""
        request = ExportRequest.model_validate(event)
        return self.export(request.day_to_export(self._clock()))

    def export(self, day: date) -> DailyExport:
        check_over(day, self._clock())
        since, until = window(day)
        rows = collect(self._audit, since, until, deliveries_until=deliveries_until(day))
        objects = render_day(rows, day, self._formats, self.destination.prefix)
        # The weekly inventory is exported on the day it was taken, beside the findings.
        identities = inventory_rows(self._audit, since, until)
        if identities:
            objects.append(
                DailyObject(
                    export_format=ExportFormat.JSONL,
                    key=inventory_key(day, self.destination.prefix),
                    body=render_inventory(identities),
                    findings=len(identities),
                )
            )
        written = DailyExport(
            day=day,
            bucket=self.destination.bucket,
            findings=len(rows),
            objects=[self._put(item) for item in objects],
            inventory=len(identities),
        )
        self._audit.append(
            AuditRecord(kind=AuditKind.EXPORT_WRITTEN, data=written.model_dump(mode="json"))
        )
        obs.logger.info(
            "daily export written",
            extra={"day": day.isoformat(), "findings": len(rows), "objects": len(objects)},
        )
        obs.count("ExportedFindings", len(rows))
        return written

    def _put(self, item: DailyObject) -> WrittenObject:
        from botocore.exceptions import BotoCoreError, ClientError

        bucket = self.destination.bucket
        try:
            # The key is named, not left to the bucket default, so the bucket policy can
            # refuse any object not encrypted with it.
            self._s3.put_object(
                Bucket=bucket,
                Key=item.key,
                Body=item.body,
                ContentType=item.export_format.content_type,
                ServerSideEncryption="aws:kms",
                SSEKMSKeyId=self.destination.kms_key_arn,
                BucketKeyEnabled=True,
            )
        except (BotoCoreError, ClientError) as error:
            # The error code and S3's message only: never the request, which is signed.
            reason = (
                f"{error.response.get('Error', {}).get('Code')}: {error}"
                if isinstance(error, ClientError)
                else str(error)
            )
            obs.logger.error(
                "daily export write failed",
                extra={"bucket": bucket, "key": item.key, "reason": reason},
            )
            obs.count("ExportFailures")
            raise ExportWriteError(f"s3://{bucket}/{item.key}: {reason}") from None
        obs.logger.info(
            "export object written",
            extra={"key": item.key, "findings": item.findings, "bytes": len(item.body)},
        )
        return WrittenObject(
            format=item.export_format,
            key=item.key,
            findings=item.findings,
            bytes=len(item.body),
            sha256=hashlib.sha256(item.body).hexdigest(),
        )
