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
    from iamwatch.scan import ScanStats
    from iamwatch.settings import Settings
    from iamwatch.slack.notifier import SlackNotifier
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
