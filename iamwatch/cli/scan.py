"""``iamwatch scan``: CloudTrail logs through the detectors, to the terminal, Slack and the
audit trail (exit codes in ``iamwatch.cli``)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from iamwatch.cli import (
    EXIT_CODES_HELP,
    EXIT_DELIVERY_FAILED,
    EXIT_DETECTOR_ERROR,
    EXIT_FAIL_ON,
    EXIT_INPUT_FAILED,
    OUTPUT,
    ConfigOption,
    ProfileOption,
    RegionOption,
    _fail,
    _stderr_console,
    _stdout_console,
    app,
    use_aws,
)
from iamwatch.severity import Severity

if TYPE_CHECKING:
    from rich.console import Console

    from iamwatch.audit import BufferedAuditLog
    from iamwatch.aws.enrichment import IamEnricher
    from iamwatch.detection import DetectionStats
    from iamwatch.finding import Finding
    from iamwatch.settings import Settings
    from iamwatch.slack.notifier import SlackNotifier
    from iamwatch.slack.suppress import SuppressionRule
    from iamwatch.sources import Source
    from iamwatch.state import MemoryEventLedger, SQLiteEventLedger


class OutputFormat(StrEnum):
    TABLE = "table"
    JSONL = "jsonl"
    # One JSON document (an array of findings) rather than a stream.
    JSON = "json"


@app.command(epilog=EXIT_CODES_HELP)
def scan(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="CloudTrail log files (plain or gzip), directories in the AWSLogs/ layout, "
            "JSON Lines of records or EventBridge events, s3://bucket/prefix, or - for stdin; "
            "what a file holds is sniffed from its content.",
            show_default=False,
        ),
    ],
    output_format: Annotated[
        OutputFormat | None,
        typer.Option(
            "--format",
            "-f",
            case_sensitive=False,
            help="table (default on a terminal), jsonl (default otherwise) or json (one array).",
        ),
    ] = None,
    min_severity: Annotated[
        Severity,
        typer.Option(case_sensitive=False, help="Only report findings at or above this severity."),
    ] = Severity.INFO,
    fail_on: Annotated[
        Severity | None,
        typer.Option(
            case_sensitive=False,
            help="Exit 1 when a reported (not suppressed) finding is at or above this severity.",
        ),
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(
            help="SQLite file carrying detector state, and the events already scanned, across "
            "scans (default: memory, for this scan only)."
        ),
    ] = None,
    config: ConfigOption = None,
    progress: Annotated[
        bool, typer.Option(help="Show progress on stderr (only on a terminal).")
    ] = True,
    slack: Annotated[
        bool,
        typer.Option(
            "--slack",
            help="Also post the reported findings to Slack (IAMWATCH_SLACK_* settings), "
            "with dedup; exit 4 if any alert could not be delivered.",
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
    enrich: Annotated[
        bool,
        typer.Option(
            "--enrich",
            help="Add read-only IAM context (tags, MFA, keys, groups) to findings about IAM "
            "users, with your AWS credentials; only for the credentials' own account.",
        ),
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Exit 5 when no CloudTrail record was found in the input at all."
        ),
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Worker processes reading the input (default: one per core; 1 reads in this "
            "process). Findings, their ids and their order are the same whatever the number.",
            show_default=False,
        ),
    ] = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Scan CloudTrail logs with the same detectors the Lambda functions run."""
    import sqlite3

    from iamwatch import audit as trail
    from iamwatch.composition import build_notifier
    from iamwatch.settings import SettingsError, load_settings
    from iamwatch.sources import InputError, check_paths

    use_aws(profile, region)
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
            Choices(min_severity, fail_on, output_format, progress, enrich, strict, jobs),
            notifier=notifier,
            audit_log=audit_log,
        )
    finally:
        audit_log.close()


@dataclass(frozen=True)
class Choices:
    min_severity: Severity
    fail_on: Severity | None
    output_format: OutputFormat | None
    progress: bool
    enrich: bool
    strict: bool
    jobs: int | None


def _scan(
    paths: list[str],
    settings: Settings,
    choices: Choices,
    *,
    notifier: SlackNotifier | None,
    audit_log: BufferedAuditLog,
) -> None:
    from iamwatch.cli.scan_report import ScanReport
    from iamwatch.composition import build_detection
    from iamwatch.delivery import BufferedDelivery, DeliveryService
    from iamwatch.detection import LocatedRecord
    from iamwatch.output import findings_table, write_jsonl
    from iamwatch.settings import SettingsError
    from iamwatch.sources import InputError, SourceUnreadable, expand

    chosen = choices.output_format or (
        OutputFormat.TABLE if sys.stdout.isatty() else OutputFormat.JSONL
    )
    errors = _stderr_console()
    report = ScanReport(errors, quiet=OUTPUT.quiet)
    sink = (
        BufferedDelivery(DeliveryService(notifier, audit_log, telemetry=report))
        if notifier is not None
        else None
    )
    ledger = _ledger(settings)
    try:
        detection = build_detection(
            settings,
            audit_log,
            sink=sink,
            enricher=_caller_enricher(errors) if choices.enrich else None,
            min_severity=choices.min_severity,
            ledger=ledger,
        )
        sources = list(expand(paths))
    except (SettingsError, InputError) as error:
        raise _fail(str(error)) from None
    except SourceUnreadable as error:
        errors.print(f"error: {error}", markup=False)
        raise typer.Exit(EXIT_INPUT_FAILED) from None
    stats = detection.stats
    shown: list[Finding] = []
    muted: list[tuple[Finding, SuppressionRule]] = []
    worst: Severity | None = None
    started = time.perf_counter()
    out = sys.stdout.buffer
    streaming = chosen is OutputFormat.JSONL
    try:
        with _progress(errors, sources, stats, enabled=choices.progress and not OUTPUT.quiet):
            for item in detection.records(sources, jobs=_jobs(choices.jobs, sources)):
                if not isinstance(item, LocatedRecord):
                    report.problem(item)
                    continue
                outcome = detection.process(item.record, str(item.location))
                for failure in outcome.failures:
                    report.detector_failure(item.location, failure)
                for rule in outcome.expired_rules:
                    report.rule_expired(rule)
                for finding in outcome.raised:
                    if worst is None or finding.severity > worst:
                        worst = finding.severity
                    if streaming:
                        write_jsonl(finding, out)
                    else:
                        shown.append(finding)
                for suppressed in outcome.suppressed:
                    report.suppressed(suppressed.finding, suppressed.rule)
                    if streaming:
                        write_jsonl(suppressed.finding, out, suppressed_by=suppressed.rule)
                    else:
                        muted.append((suppressed.finding, suppressed.rule))
        out.flush()
        if sink is not None:
            sink.flush()
    finally:
        ledger.close()
        audit_log.flush()
    elapsed = time.perf_counter() - started
    if chosen is OutputFormat.TABLE:
        console = _stdout_console()
        if shown or muted:
            console.print(findings_table(shown, muted))
        else:
            console.print("No findings.")
    elif chosen is OutputFormat.JSON:
        _write_document(shown, muted, out)
    report.summary(stats, elapsed, detection.engine.registry)
    if sink is not None:
        from iamwatch.slack.report import print_delivery_summary

        if not OUTPUT.quiet or not sink.summary.ok:
            print_delivery_summary(errors, sink.summary, stats.total_suppressed)
    if stats.unreadable or (choices.strict and stats.cloudtrail_records == 0):
        raise typer.Exit(EXIT_INPUT_FAILED)
    if stats.detector_failures:
        raise typer.Exit(EXIT_DETECTOR_ERROR)
    if sink is not None and not sink.summary.ok:
        raise typer.Exit(EXIT_DELIVERY_FAILED)
    if choices.fail_on is not None and worst is not None and worst >= choices.fail_on:
        raise typer.Exit(EXIT_FAIL_ON)


def _jobs(asked: int | None, sources: list[Source]) -> int:
    """Worker processes worth starting: no more than files to read (standard input is cut
    into pieces, so it can use them all)."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    wanted = asked if asked is not None else cores or 1
    if any(source.kind == "stdin" for source in sources):
        return wanted
    return max(1, min(wanted, len(sources)))


def _ledger(settings: Settings) -> MemoryEventLedger | SQLiteEventLedger:
    """Each event's findings are raised once per scan; with ``--state``, once across scans."""
    from iamwatch.state import MemoryEventLedger, SQLiteEventLedger

    if settings.state_path is None:
        return MemoryEventLedger()
    return SQLiteEventLedger(settings.state_path)


def _write_document(
    shown: list[Finding], muted: list[tuple[Finding, SuppressionRule]], out: IO[bytes]
) -> None:
    import orjson

    from iamwatch.output import finding_document

    documents = [finding_document(finding) for finding in shown]
    documents += [finding_document(finding, rule) for finding, rule in muted]
    out.write(orjson.dumps(documents, option=orjson.OPT_INDENT_2) + b"\n")
    out.flush()


def _caller_enricher(errors: Console) -> IamEnricher:
    """Enrichment with the caller's own AWS credentials, read-only, for their own account."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from iamwatch.aws.enrichment import IamEnricher
    from iamwatch.settings import SettingsError
    from iamwatch.terminal import printable

    session = boto3.session.Session()
    try:
        account = session.client("sts").get_caller_identity()["Account"]
    except (BotoCoreError, ClientError) as error:
        raise SettingsError(f"--enrich: cannot identify your AWS account: {error}") from None

    def warn(message: str, keys: dict[str, object]) -> None:
        details = ", ".join(f"{key}={value}" for key, value in keys.items())
        errors.print(f"warning: {message} ({printable(details)})", markup=False)

    return IamEnricher(session.client("iam"), log=warn, account_id=str(account))


@contextmanager
def _progress(
    console: Console, sources: list[Source], stats: DetectionStats, enabled: bool
) -> Iterator[None]:
    """Progress on stderr while the scan runs, moving within a file as its bytes are read: a
    bar when the size of the input is known, a spinner with records and records/s when it is
    not (stdin). Silent when stderr is not a terminal."""
    if not (enabled and console.is_terminal):
        yield
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    sizes = [source.size for source in sources]
    total = sum(size or 0 for size in sizes) if None not in sizes else None
    records = TextColumn("{task.fields[records]:,} records ({task.fields[rate]:,.0f}/s)")
    columns = (
        [BarColumn(), DownloadColumn(), TransferSpeedColumn(), records, TimeRemainingColumn()]
        if total
        else [SpinnerColumn(), DownloadColumn(), records]
    )
    bar = Progress(*columns, console=console, transient=True)
    task = bar.add_task("scanning", total=total or None, records=0, rate=0.0)
    started = time.perf_counter()

    def advance(read: int) -> None:
        elapsed = time.perf_counter() - started
        rate = stats.records / elapsed if elapsed > 0 else 0.0
        bar.update(task, completed=read, records=stats.records, rate=rate)

    stats.bytes_read.watcher = advance
    try:
        with bar:
            yield
    finally:
        stats.bytes_read.watcher = None
