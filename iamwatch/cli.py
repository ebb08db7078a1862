"""The ``iamwatch`` command line.

Exit codes of ``iamwatch scan``: 0 the scan completed (malformed input is reported on stderr
but does not fail it); 1 a finding at or above ``--fail-on`` was raised; 2 usage error (bad
option, missing path, invalid setting); 3 a detector raised an error, so findings may be
missing; 4 with ``--slack``, some alert could not be delivered (the reasons are on stderr).
When several apply, the first of 2, 3, 4, 1 in that order is the exit code.
``iamwatch slack test`` exits 4 when the test alert could not be posted.

``iamwatch scan`` appends to an SQLite audit trail (``--audit``, ``IAMWATCH_AUDIT_PATH``; by
default the ``--state`` file, else ``~/.local/state/iamwatch/audit.db``): findings raised,
Slack deliveries and their outcomes, suppressions, malformed records and detector failures.
Exit codes of ``iamwatch export`` (docs/export.md): 0 written (an empty window is not an
error); 2 usage error (bad option or window, unreadable audit file); 5 the output could not
be written (file or S3).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from iamwatch.severity import Severity

if TYPE_CHECKING:
    from rich.console import Console

    from iamwatch.audit import BufferedAuditLog
    from iamwatch.export import ExportFormat
    from iamwatch.finding import Finding
    from iamwatch.scan import ScanStats
    from iamwatch.settings import Settings
    from iamwatch.slack.notifier import SlackNotifier
    from iamwatch.sources import Source

EXIT_OK = 0
EXIT_FAIL_ON = 1
EXIT_USAGE = 2
EXIT_DETECTOR_ERROR = 3
EXIT_DELIVERY_FAILED = 4
EXIT_OUTPUT_FAILED = 5

app = typer.Typer(
    name="iamwatch",
    help="Monitor AWS identity compliance: detect risky IAM and sign-in activity in CloudTrail.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class OutputFormat(StrEnum):
    TABLE = "table"
    JSONL = "jsonl"


class ExportFormatOption(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    OCSF = "ocsf"


def _stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    _stderr_console().print(f"error: {message}", markup=False)
    return typer.Exit(EXIT_USAGE)


@app.command()
def scan(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="CloudTrail log files (.json/.json.gz), directories in the AWSLogs/ layout, "
            "JSON Lines of records or EventBridge events, s3://bucket/prefix, or - for stdin.",
            show_default=False,
        ),
    ],
    output_format: Annotated[
        OutputFormat | None,
        typer.Option(
            "--format", "-f", help="table (default on a terminal) or jsonl (default otherwise)."
        ),
    ] = None,
    min_severity: Annotated[
        Severity, typer.Option(help="Only report findings at or above this severity.")
    ] = Severity.INFO,
    fail_on: Annotated[
        Severity | None,
        typer.Option(help="Exit 1 when any reported finding is at or above this severity."),
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(help="SQLite file carrying detector state across scans (default: memory)."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML settings file (also IAMWATCH_CONFIG).")
    ] = None,
    progress: Annotated[
        bool, typer.Option(help="Show a progress bar on stderr (only on a terminal).")
    ] = True,
    slack: Annotated[
        bool,
        typer.Option(
            "--slack",
            help="Also post the reported findings to Slack (IAMWATCH_SLACK_* settings), "
            "with dedup and suppression; exit 4 if any alert could not be delivered.",
        ),
    ] = False,
    audit: Annotated[
        Path | None,
        typer.Option(
            help="SQLite audit trail to append to (also IAMWATCH_AUDIT_PATH; default: the "
            "--state file, else ~/.local/state/iamwatch/audit.db).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Scan CloudTrail logs with the same detectors the Lambda functions run."""
    import sqlite3

    from iamwatch import audit as trail
    from iamwatch.composition import build_notifier
    from iamwatch.settings import SettingsError, load_settings
    from iamwatch.sources import InputError, check_paths

    try:
        settings = load_settings(config, state_path=state, audit_path=audit)
        check_paths(paths)
        # Built before scanning, so a Slack misconfiguration fails fast rather than at the end.
        notifier = build_notifier(settings) if slack else None
        audit_log = trail.BufferedAuditLog(trail.SQLiteAuditLog(settings.resolved_audit_path))
    except (SettingsError, InputError) as error:
        raise _fail(str(error)) from None
    except sqlite3.Error as error:
        raise _fail(f"audit trail {settings.resolved_audit_path}: {error}") from None
    try:
        _scan(
            paths,
            settings,
            scanner_args=(min_severity, fail_on),
            notifier=notifier,
            output_format=output_format,
            progress=progress,
            audit_log=audit_log,
        )
    finally:
        audit_log.close()


def _scan(
    paths: list[str],
    settings: Settings,
    *,
    scanner_args: tuple[Severity, Severity | None],
    notifier: SlackNotifier | None,
    output_format: OutputFormat | None,
    progress: bool,
    audit_log: BufferedAuditLog,
) -> None:
    from iamwatch import audit as trail
    from iamwatch.composition import build_engine
    from iamwatch.output import findings_table, print_summary, write_jsonl
    from iamwatch.scan import FailedDetection, Scanner
    from iamwatch.sources import InputError, Problem, expand
    from iamwatch.terminal import printable

    min_severity, fail_on = scanner_args

    chosen = output_format or (OutputFormat.TABLE if sys.stdout.isatty() else OutputFormat.JSONL)
    errors = _stderr_console()
    engine = build_engine(settings)
    scanner = Scanner(engine, min_severity=min_severity)
    collected = []
    to_alert = []
    worst: Severity | None = None
    started = time.perf_counter()
    out = sys.stdout.buffer
    try:
        sources = list(expand(paths))
    except InputError as error:
        raise _fail(str(error)) from None
    with _progress(errors, sources, scanner.stats, enabled=progress) as advance:
        for item in scanner.scan(advance(sources)):
            if isinstance(item, Problem):
                audit_log.append(trail.malformed_event(str(item.location), item.reason))
                errors.print(
                    f"warning: {printable(str(item.location))}: {item.reason}; skipped",
                    markup=False,
                )
            elif isinstance(item, FailedDetection):
                failure = item.failure
                audit_log.append(
                    trail.detector_failed(
                        failure.detector, failure.event_id, str(item.location), failure.error
                    )
                )
                errors.print(
                    f"error: detector {item.failure.detector} failed on "
                    f"{printable(str(item.location))} (event {printable(item.failure.event_id)}): "
                    f"{printable(item.failure.error)}",
                    markup=False,
                )
            else:
                audit_log.append(trail.finding_raised(item))
                if worst is None or item.severity > worst:
                    worst = item.severity
                if notifier is not None:
                    to_alert.append(item)
                if chosen is OutputFormat.JSONL:
                    write_jsonl(item, out)
                else:
                    collected.append(item)
    out.flush()
    audit_log.flush()
    elapsed = time.perf_counter() - started
    if chosen is OutputFormat.TABLE:
        from rich.console import Console

        console = Console()
        if collected:
            console.print(findings_table(collected))
        else:
            console.print("No findings.")
    print_summary(errors, scanner.stats, elapsed, engine.registry)
    delivered = True
    if notifier is not None:
        from iamwatch.slack.report import print_delivery_summary

        summary = notifier.deliver_all(to_alert)
        by_id = {finding.finding_id: finding for finding in to_alert}
        for result in summary.results:
            audit_log.append(trail.delivery_outcome(by_id[result.finding_id], result))
        audit_log.flush()
        print_delivery_summary(errors, summary)
        delivered = summary.ok
    if scanner.stats.detector_failures:
        raise typer.Exit(EXIT_DETECTOR_ERROR)
    if not delivered:
        raise typer.Exit(EXIT_DELIVERY_FAILED)
    if fail_on is not None and worst is not None and worst >= fail_on:
        raise typer.Exit(EXIT_FAIL_ON)


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
        ExportFormatOption, typer.Option("--format", "-f", help="jsonl, csv or ocsf.")
    ] = ExportFormatOption.JSONL,
    audit: Annotated[
        Path | None,
        typer.Option(
            help="The SQLite audit trail (also IAMWATCH_AUDIT_PATH; default as for scan).",
            show_default=False,
        ),
    ] = None,
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
    config: Annotated[
        Path | None, typer.Option(help="TOML settings file (also IAMWATCH_CONFIG).")
    ] = None,
) -> None:
    """Export the findings raised in a time window, from the audit trail, with their latest
    delivery outcome (docs/export.md)."""
    import sqlite3
    from datetime import UTC, datetime, timedelta

    from iamwatch.audit import SQLiteAuditLog
    from iamwatch.export import ExportFormat, collect, render
    from iamwatch.settings import SettingsError, load_settings
    from iamwatch.terminal import printable

    chosen = ExportFormat(export_format)
    end = _parse_moment("--until", until) if until else datetime.now(UTC)
    start = _parse_moment("--since", since) if since else end - timedelta(hours=24)
    if start >= end:
        raise _fail("--since must be before --until")
    try:
        settings = load_settings(config, audit_path=audit)
    except SettingsError as error:
        raise _fail(str(error)) from None
    path = settings.resolved_audit_path
    if not path.is_file():
        raise _fail(f"no audit trail at {path}; run iamwatch scan first, or pass --audit")
    try:
        log = SQLiteAuditLog(path)
        try:
            rows = collect(log, start, end)
        finally:
            log.close()
    except sqlite3.Error as error:
        raise _fail(f"audit trail {path}: {error}") from None
    body = render(rows, chosen, bom=bom)
    errors = _stderr_console()
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


SourceFilter = Callable[[Iterable["Source"]], Iterable["Source"]]


@contextmanager
def _progress(
    console: Console, sources: list[Source], stats: ScanStats, enabled: bool
) -> Iterator[SourceFilter]:
    """A byte-based progress bar on stderr for long scans; silent when not on a terminal."""
    if not (enabled and console.is_terminal):
        yield lambda items: items
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    total = sum(source.size or 0 for source in sources) or None
    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = bar.add_task("scanning", total=total)

    def advance(items: Iterable[Source]) -> Iterator[Source]:
        for source in items:
            yield source
            bar.update(task, completed=stats.bytes_read.total)

    with bar:
        yield advance


@app.command()
def detectors() -> None:
    """List the detector catalogue."""
    from rich.console import Console
    from rich.table import Table

    from detectors import REGISTRY
    from iamwatch.output import SEVERITY_STYLES

    table = Table(title="iamwatch detectors", show_lines=True)
    table.add_column("id", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("title")
    table.add_column("fires on")
    table.add_column("severity rules")
    for item in REGISTRY:
        meta = item.meta
        events = [
            f"{source.split('.')[0]}:{name}"
            for source, names in meta.events.items()
            for name in sorted(names)
        ] + [f"any call by userIdentity.type {t}" for t in sorted(meta.identity_types)]
        table.add_row(
            meta.id,
            f"[{SEVERITY_STYLES[meta.severity]}]{meta.severity.value}[/]",
            meta.title,
            "\n".join(events),
            meta.severity_rules,
        )
    Console().print(table)


@app.command()
def runbook(
    detector_id: Annotated[str, typer.Argument(help="A detector id, e.g. access-key-created.")],
    raw: Annotated[bool, typer.Option(help="Print the Markdown source instead.")] = False,
) -> None:
    """Show the runbook for a detector."""
    from rich.console import Console
    from rich.markdown import Markdown

    from iamwatch.runbooks import RunbookError, load_runbook

    try:
        book = load_runbook(detector_id)
    except RunbookError as error:
        raise _fail(str(error)) from None
    if raw:
        sys.stdout.write(book.body)
        return
    Console().print(Markdown(book.body))


slack_app = typer.Typer(
    help="Slack alerts: preview the Block Kit message of a detector, or post a test alert.",
    no_args_is_help=True,
)
app.add_typer(slack_app, name="slack")


def _sample(detector_id: str, runbook_base_url: str) -> Finding:
    from detectors import REGISTRY
    from iamwatch.slack.samples import sample_finding

    if detector_id not in REGISTRY:
        raise _fail(f"no detector {detector_id!r}; known ids: {', '.join(REGISTRY.ids)}")
    return sample_finding(detector_id, runbook_base_url)


@slack_app.command("preview")
def slack_preview(
    detector_id: Annotated[str, typer.Argument(help="A detector id, e.g. access-key-created.")],
    config: Annotated[
        Path | None, typer.Option(help="TOML settings file (also IAMWATCH_CONFIG).")
    ] = None,
) -> None:
    """Print the Block Kit JSON of a sample alert (paste it into Slack's Block Kit Builder)."""
    import orjson

    from iamwatch.settings import SettingsError, load_settings
    from iamwatch.slack.render import render

    try:
        settings = load_settings(config)
    except SettingsError as error:
        raise _fail(str(error)) from None
    message = render(_sample(detector_id, settings.runbook_base_url))
    sys.stdout.buffer.write(orjson.dumps(message.builder_json(), option=orjson.OPT_INDENT_2))
    sys.stdout.buffer.write(b"\n")


@slack_app.command("test")
def slack_test(
    detector_id: Annotated[
        str, typer.Option("--detector", help="Which detector's sample alert to post.")
    ] = "iam-user-created",
    channel: Annotated[
        str | None,
        typer.Option(help="Post here instead of the channel routed for the sample's severity."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="TOML settings file (also IAMWATCH_CONFIG).")
    ] = None,
) -> None:
    """Post a sample alert, marked as a test, to check the Slack setup end to end."""
    from iamwatch.composition import build_slack_transport
    from iamwatch.settings import SettingsError, load_settings
    from iamwatch.slack.notifier import Routing
    from iamwatch.slack.render import render
    from iamwatch.slack.transport import DeliveryError
    from iamwatch.terminal import printable

    try:
        settings = load_settings(config)
        transport = build_slack_transport(settings)
    except SettingsError as error:
        raise _fail(str(error)) from None
    finding = _sample(detector_id, settings.runbook_base_url)
    routing = Routing(default=settings.slack_channel, by_severity=settings.slack_channels)
    target = transport.fixed_channel or channel or routing.channel_for(finding.severity)
    if target is None:
        raise _fail(f"no Slack channel for {finding.severity.value} findings; use --channel")
    message = render(
        finding,
        note="Test alert sent by iamwatch slack test to check the Slack setup; no action needed.",
    )
    errors = _stderr_console()
    try:
        posted = transport.post(target, message)
    except DeliveryError as error:
        errors.print(
            f"error: test alert to {printable(target)} failed: {printable(error.reason)}",
            markup=False,
        )
        raise typer.Exit(EXIT_DELIVERY_FAILED) from None
    errors.print(
        f"Posted a test {detector_id} alert to {printable(posted.channel)}"
        + (f" (ts {printable(posted.ts)})." if posted.ts else "."),
        markup=False,
        highlight=False,
    )


def main() -> None:
    app()
