"""``iamwatch scan``: CloudTrail logs through the detectors, to the terminal, Slack and the
audit trail (exit codes in ``iamwatch.cli``)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from iamwatch.cli import (
    EXIT_DELIVERY_FAILED,
    EXIT_DETECTOR_ERROR,
    EXIT_FAIL_ON,
    ConfigOption,
    _fail,
    _stderr_console,
    app,
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


class OutputFormat(StrEnum):
    TABLE = "table"
    JSONL = "jsonl"


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
    config: ConfigOption = None,
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
    enrich: Annotated[
        bool,
        typer.Option(
            "--enrich",
            help="Add read-only IAM context (tags, MFA, keys, groups) to findings about IAM "
            "users, with your AWS credentials; only for the credentials' own account.",
        ),
    ] = False,
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
            thresholds=(min_severity, fail_on),
            notifier=notifier,
            enrich=enrich,
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
    thresholds: tuple[Severity, Severity | None],
    notifier: SlackNotifier | None,
    enrich: bool,
    output_format: OutputFormat | None,
    progress: bool,
    audit_log: BufferedAuditLog,
) -> None:
    from collections import Counter

    from iamwatch.composition import build_detection
    from iamwatch.delivery import BufferedDelivery, DeliveryService
    from iamwatch.detection import LocatedRecord
    from iamwatch.output import (
        findings_table,
        print_summary,
        print_suppression_summary,
        write_jsonl,
    )
    from iamwatch.settings import SettingsError
    from iamwatch.sources import InputError, expand
    from iamwatch.terminal import printable

    min_severity, fail_on = thresholds
    chosen = output_format or (OutputFormat.TABLE if sys.stdout.isatty() else OutputFormat.JSONL)
    errors = _stderr_console()
    sink = BufferedDelivery(DeliveryService(notifier, audit_log)) if notifier else None
    try:
        detection = build_detection(
            settings,
            audit_log,
            sink=sink,
            enricher=_caller_enricher(errors) if enrich else None,
            min_severity=min_severity,
        )
        sources = list(expand(paths))
    except (SettingsError, InputError) as error:
        raise _fail(str(error)) from None
    stats = detection.stats
    collected: list[Finding] = []
    muted: list[tuple[Finding, SuppressionRule]] = []
    muted_by: Counter[SuppressionRule] = Counter()
    muted_detectors: dict[SuppressionRule, set[str]] = {}
    expired: dict[SuppressionRule, None] = {}
    worst: Severity | None = None
    started = time.perf_counter()
    out = sys.stdout.buffer
    with _progress(errors, sources, stats, enabled=progress) as advance:
        for item in detection.records(advance(sources)):
            if not isinstance(item, LocatedRecord):
                errors.print(
                    f"warning: {printable(str(item.location))}: {item.reason}; skipped",
                    markup=False,
                )
                continue
            outcome = detection.process(item.record, str(item.location))
            for failure in outcome.failures:
                errors.print(
                    f"error: detector {failure.detector} failed on "
                    f"{printable(str(item.location))} (event {printable(failure.event_id)}): "
                    f"{printable(failure.error)}",
                    markup=False,
                )
            for rule in outcome.expired_rules:
                expired.setdefault(rule, None)
            for finding in outcome.raised:
                if worst is None or finding.severity > worst:
                    worst = finding.severity
                if chosen is OutputFormat.JSONL:
                    write_jsonl(finding, out)
                else:
                    collected.append(finding)
            for suppressed in outcome.suppressed:
                muted_by[suppressed.rule] += 1
                muted_detectors.setdefault(suppressed.rule, set()).add(suppressed.finding.detector)
                if chosen is OutputFormat.JSONL:
                    write_jsonl(suppressed.finding, out, suppressed_by=suppressed.rule)
                else:
                    muted.append((suppressed.finding, suppressed.rule))
    out.flush()
    if sink is not None:
        sink.flush()
    audit_log.flush()
    elapsed = time.perf_counter() - started
    if chosen is OutputFormat.TABLE:
        from rich.console import Console

        console = Console()
        if collected or muted:
            console.print(findings_table(collected, muted))
        else:
            console.print("No findings.")
    print_summary(errors, stats, elapsed, detection.engine.registry)
    print_suppression_summary(errors, muted_by, muted_detectors, expired)
    if sink is not None:
        from iamwatch.slack.report import print_delivery_summary

        print_delivery_summary(errors, sink.summary, stats.total_suppressed)
    if stats.detector_failures:
        raise typer.Exit(EXIT_DETECTOR_ERROR)
    if sink is not None and not sink.summary.ok:
        raise typer.Exit(EXIT_DELIVERY_FAILED)
    if fail_on is not None and worst is not None and worst >= fail_on:
        raise typer.Exit(EXIT_FAIL_ON)


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


SourceFilter = Callable[[Iterable["Source"]], Iterable["Source"]]


@contextmanager
def _progress(
    console: Console, sources: list[Source], stats: DetectionStats, enabled: bool
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
