"""``iamwatch export``: the findings raised in a window, from the SQLite audit trail, to stdout,
a file or S3 (docs/export.md; exit codes in ``iamwatch.cli``)."""

from __future__ import annotations

import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from iamwatch.cli import (
    EXIT_OUTPUT_FAILED,
    AuditTrailOption,
    ConfigOption,
    _existing_audit_trail,
    _fail,
    _stderr_console,
    app,
)

if TYPE_CHECKING:
    from rich.console import Console

    from iamwatch.export import ExportedFinding, ExportFormat


class ExportFormatOption(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    OCSF = "ocsf"
    ASFF = "asff"


def _parse_moment(option: str, value: str) -> datetime:
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(
            f"{option}: {value!r} is not an ISO 8601 date or time (e.g. 2026-11-03 or "
            "2026-11-03T14:00:00Z)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@app.command()
def export(
    since: Annotated[
        str | None,
        typer.Option(
            help="Start of the window (ISO 8601; UTC unless an offset is given), inclusive. "
            "Default: 24 hours before --until.",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="End of the window, exclusive. Default: now.", show_default=False),
    ] = None,
    export_format: Annotated[
        ExportFormatOption, typer.Option("--format", "-f", help="jsonl, csv, ocsf or asff.")
    ] = ExportFormatOption.JSONL,
    audit: AuditTrailOption = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help="A file, or s3://bucket/prefix (a dated object name is added). Default: stdout.",
            show_default=False,
        ),
    ] = None,
    bom: Annotated[
        bool, typer.Option(help="Start CSV output with a UTF-8 byte order mark (for Excel).")
    ] = True,
    config: ConfigOption = None,
    to_securityhub: Annotated[
        bool,
        typer.Option(
            "--to-securityhub",
            help="Import the findings into AWS Security Hub as ASFF (BatchImportFindings) "
            "for the calling account and region, instead of writing them.",
        ),
    ] = False,
) -> None:
    """Export the findings raised in a time window, from the audit trail, with their latest
    delivery outcome (docs/export.md)."""
    import sqlite3
    from datetime import UTC, datetime, timedelta

    from iamwatch.audit import SQLiteAuditLog
    from iamwatch.export import ExportFormat, collect, render
    from iamwatch.terminal import printable

    chosen = ExportFormat(export_format)
    end = _parse_moment("--until", until) if until else datetime.now(UTC)
    start = _parse_moment("--since", since) if since else end - timedelta(hours=24)
    if start >= end:
        raise _fail("--since must be before --until")
    if to_securityhub and output is not None:
        raise _fail("--to-securityhub sends the findings to Security Hub; drop --output")
    path = _existing_audit_trail(config, audit)
    try:
        log = SQLiteAuditLog(path)
        try:
            rows = collect(log, start, end)
        finally:
            log.close()
    except sqlite3.Error as error:
        raise _fail(f"audit trail {path}: {error}") from None
    errors = _stderr_console()
    if to_securityhub:
        _to_securityhub(rows, errors)
        return
    body = render(rows, chosen, bom=bom)
    try:
        where = _write_export(body, output, chosen, start, end)
    except (OSError, ExportOutputError) as error:
        errors.print(f"error: could not write the export: {printable(str(error))}", markup=False)
        raise typer.Exit(EXIT_OUTPUT_FAILED) from None
    errors.print(
        f"Exported {len(rows):,} finding(s) raised from {start.isoformat()} to "
        f"{end.isoformat()} as {chosen.value}" + (f" to {printable(where)}." if where else "."),
        markup=False,
        highlight=False,
    )


def _to_securityhub(rows: list[ExportedFinding], errors: Console) -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    from iamwatch.aws.securityhub import import_findings
    from iamwatch.terminal import printable

    try:
        session = boto3.session.Session()
        # Standard retries back off on BatchImportFindings' throttling (10 calls a second).
        client = session.client("securityhub", config=Config(retries={"mode": "standard"}))
        account = session.client("sts").get_caller_identity()["Account"]
        region = client.meta.region_name
        report = import_findings(client, rows, account, region)
    except (BotoCoreError, ClientError) as error:
        errors.print(
            f"error: could not import into Security Hub: {printable(str(error))}", markup=False
        )
        raise typer.Exit(EXIT_OUTPUT_FAILED) from None
    for finding_id, reason in report.failed:
        errors.print(f"error: {finding_id}: {printable(reason)}", markup=False)
    failed = f"; {len(report.failed):,} failed." if report.failed else "."
    errors.print(
        f"Imported {report.imported:,} finding(s) into Security Hub in account {account}, "
        f"{region}{failed}",
        markup=False,
        highlight=False,
    )
    if not report.ok:
        raise typer.Exit(EXIT_OUTPUT_FAILED)


class ExportOutputError(Exception):
    """The export could not be stored (S3 refused it, or the destination is invalid)."""


def _write_export(
    body: bytes, output: str | None, chosen: ExportFormat, start: datetime, end: datetime
) -> str | None:
    if output is None or output == "-":
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
        return None
    if not output.startswith("s3://"):
        target = Path(output)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
        return str(target)
    bucket, _, prefix = output.removeprefix("s3://").partition("/")
    if not bucket:
        raise ExportOutputError(f"{output}: no bucket name")
    name = f"iamwatch-findings-{start:%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}.{chosen.extension}"
    key = f"{prefix.rstrip('/')}/{name}" if prefix.strip("/") else name
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        boto3.client("s3").put_object(
            Bucket=bucket, Key=key, Body=body, ContentType=chosen.content_type
        )
    except (BotoCoreError, ClientError) as error:
        raise ExportOutputError(f"s3://{bucket}/{key}: {error}") from None
    return f"s3://{bucket}/{key}"
