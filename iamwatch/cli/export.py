"""``iamwatch export``: the findings of a window (by event time, or by when they were raised),
from the SQLite audit trail, to stdout, a file or S3 (docs/export.md; exit codes in
``iamwatch.cli``)."""

from __future__ import annotations

import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from iamwatch.cli import (
    EXIT_CODES_HELP,
    EXIT_OUTPUT_FAILED,
    AuditTrailOption,
    ConfigOption,
    ProfileOption,
    RegionOption,
    _existing_audit_trail,
    _fail,
    _info,
    _stderr_console,
    app,
    use_aws,
)

if TYPE_CHECKING:
    from rich.console import Console

    from iamwatch.export import ExportedFinding, ExportFormat


class ExportFormatOption(StrEnum):
    JSONL = "jsonl"
    # The same rows as one JSON document (an array).
    JSON = "json"
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


@app.command(epilog=EXIT_CODES_HELP)
def export(
    since: Annotated[
        str | None,
        typer.Option(
            help="Findings whose event happened at or after this (ISO 8601; UTC unless an "
            "offset is given). Default: 24 hours before --until.",
            show_default=False,
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="Findings whose event happened before this. Default: now.", show_default=False
        ),
    ] = None,
    raised_since: Annotated[
        str | None,
        typer.Option(
            help="Select by when findings were raised (scanned) instead: from this time...",
            show_default=False,
        ),
    ] = None,
    raised_until: Annotated[
        str | None,
        typer.Option(help="...to this time (default: now).", show_default=False),
    ] = None,
    finding: Annotated[
        list[str] | None,
        typer.Option(
            "--finding",
            help="Only this finding: its id or the start of it, as scan's table shows "
            "(repeatable).",
            show_default=False,
        ),
    ] = None,
    export_format: Annotated[
        ExportFormatOption,
        typer.Option(
            "--format",
            "-f",
            case_sensitive=False,
            help="jsonl, json (one array), csv, ocsf or asff.",
        ),
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
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Export findings from the audit trail, with their latest delivery outcome, selected by
    when their events happened (docs/export.md)."""
    import sqlite3
    from datetime import UTC, datetime, timedelta

    from iamwatch.audit import FindingIdError, SQLiteAuditLog, resolve_finding_id
    from iamwatch.export import ExportFormat, collect, render
    from iamwatch.terminal import printable

    use_aws(profile, region)
    as_document = export_format is ExportFormatOption.JSON
    chosen = ExportFormat.JSONL if as_document else ExportFormat(export_format)
    by_raise = raised_since is not None or raised_until is not None
    if by_raise and (since is not None or until is not None):
        raise _fail("select by event time (--since/--until) or by raise time, not both")
    first, last = ("--raised-since", "--raised-until") if by_raise else ("--since", "--until")
    end_text, start_text = (raised_until, raised_since) if by_raise else (until, since)
    end = _parse_moment(last, end_text) if end_text else datetime.now(UTC)
    start = _parse_moment(first, start_text) if start_text else end - timedelta(hours=24)
    if start >= end:
        raise _fail(f"{first} must be before {last}")
    if to_securityhub and output is not None:
        raise _fail("--to-securityhub sends the findings to Security Hub; drop --output")
    path = _existing_audit_trail(config, audit)
    try:
        log = SQLiteAuditLog(path)
        try:
            wanted = {resolve_finding_id(log, text) for text in finding or ()}
            rows = collect(log, start, end, by_event_time=not by_raise)
        finally:
            log.close()
    except FindingIdError as error:
        raise _fail(str(error)) from None
    except sqlite3.Error as error:
        raise _fail(f"audit trail {path}: {error}") from None
    if wanted:
        rows = [row for row in rows if row.finding.finding_id in wanted]
    errors = _stderr_console()
    if to_securityhub:
        _to_securityhub(rows, errors)
        return
    body = render(rows, chosen, bom=bom)
    if as_document:
        import orjson

        items = [orjson.loads(line) for line in body.splitlines()]
        body = orjson.dumps(items, option=orjson.OPT_INDENT_2) + b"\n"
    try:
        where = _write_export(body, output, chosen, start, end)
    except (OSError, ExportOutputError) as error:
        errors.print(f"error: could not write the export: {printable(str(error))}", markup=False)
        raise typer.Exit(EXIT_OUTPUT_FAILED) from None
    selected = "raised" if by_raise else "with events"
    _info(
        f"Exported {len(rows):,} finding(s) {selected} from {start.isoformat()} to "
        f"{end.isoformat()} as {export_format.value}"
        + (f" to {printable(where)}." if where else ".")
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
