"""The ``iamwatch`` command line.

Exit codes of ``iamwatch scan``: 0 the scan completed (malformed input is reported on stderr
but does not fail it); 1 a finding at or above ``--fail-on`` was raised; 2 usage error (bad
option, missing path, invalid setting); 3 a detector raised an error, so findings may be
missing.
"""

from __future__ import annotations

import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from iamwatch.severity import Severity

EXIT_OK = 0
EXIT_FAIL_ON = 1
EXIT_USAGE = 2
EXIT_DETECTOR_ERROR = 3

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


def _stderr_console():  # type: ignore[no-untyped-def]
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
) -> None:
    """Scan CloudTrail logs with the same detectors the Lambda functions run."""
    from iamwatch.composition import build_engine
    from iamwatch.output import findings_table, print_summary, write_jsonl
    from iamwatch.scan import FailedDetection, Scanner
    from iamwatch.settings import SettingsError, load_settings
    from iamwatch.sources import InputError, Problem, check_paths, expand
    from iamwatch.terminal import printable

    try:
        settings = load_settings(config, state_path=state)
        check_paths(paths)
    except (SettingsError, InputError) as error:
        raise _fail(str(error)) from None

    chosen = output_format or (OutputFormat.TABLE if sys.stdout.isatty() else OutputFormat.JSONL)
    errors = _stderr_console()
    engine = build_engine(settings)
    scanner = Scanner(engine, min_severity=min_severity)
    collected = []
    worst: Severity | None = None
    started = time.perf_counter()
    out = sys.stdout.buffer
    try:
        sources = list(expand(paths))
    except InputError as error:
        raise _fail(str(error)) from None
    with _progress(errors, sources, scanner, enabled=progress) as advance:
        for item in scanner.scan(advance(sources)):
            if isinstance(item, Problem):
                errors.print(
                    f"warning: {printable(str(item.location))}: {item.reason}; skipped",
                    markup=False,
                )
            elif isinstance(item, FailedDetection):
                errors.print(
                    f"error: detector {item.failure.detector} failed on "
                    f"{printable(str(item.location))} (event {printable(item.failure.event_id)}): "
                    f"{printable(item.failure.error)}",
                    markup=False,
                )
            else:
                if worst is None or item.severity > worst:
                    worst = item.severity
                if chosen is OutputFormat.JSONL:
                    write_jsonl(item, out)
                else:
                    collected.append(item)
    out.flush()
    elapsed = time.perf_counter() - started
    if chosen is OutputFormat.TABLE:
        from rich.console import Console

        console = Console()
        if collected:
            console.print(findings_table(collected))
        else:
            console.print("No findings.")
    print_summary(errors, scanner.stats, elapsed, engine.registry)
    if scanner.stats.detector_failures:
        raise typer.Exit(EXIT_DETECTOR_ERROR)
    if fail_on is not None and worst is not None and worst >= fail_on:
        raise typer.Exit(EXIT_FAIL_ON)


class _progress:
    """A byte-based progress bar on stderr for long scans; silent when not on a terminal."""

    def __init__(self, console, sources, scanner, enabled: bool) -> None:  # type: ignore[no-untyped-def]
        self._console = console
        self._sources = sources
        self._scanner = scanner
        self._enabled = enabled and console.is_terminal
        self._progress = None

    def __enter__(self):  # type: ignore[no-untyped-def]
        if not self._enabled:
            return lambda sources: sources
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        total = sum(source.size or 0 for source in self._sources) or None
        self._progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=self._console,
            transient=True,
        )
        self._progress.start()
        task = self._progress.add_task("scanning", total=total)
        counter = self._scanner.stats.bytes_read
        progress = self._progress

        def advance(sources):  # type: ignore[no-untyped-def]
            for source in sources:
                yield source
                progress.update(task, completed=counter.total)

        return advance

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()


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


def main() -> None:
    app()
