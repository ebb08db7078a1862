"""``iamwatch inventory``: every IAM user and root, what each really is and where it belongs
(README, Inventory). Live with read-only AWS credentials, or offline from two files.

Exit codes: 0 done; 1 an identity fails a check named by ``--fail-on`` (or one at or above
the severity named); 2 usage error; 5 an input could not be read (the file and line, or the
missing IAM action, are on stderr).
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from iamwatch.cli import EXIT_FAIL_ON, EXIT_OUTPUT_FAILED, ConfigOption, _fail, _stderr_console, app

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from rich.console import Console

    from iamwatch.inventory.model import Inventory
    from iamwatch.inventory.output import InventoryFormat
    from iamwatch.settings import Settings


def _read_error(errors: Console, message: str) -> typer.Exit:
    from iamwatch.terminal import printable

    errors.print(f"error: {printable(message)}", markup=False)
    return typer.Exit(EXIT_OUTPUT_FAILED)


@app.command()
def inventory(
    credential_report: Annotated[
        Path | None,
        typer.Option(
            help="Offline: the credential report CSV (aws iam get-credential-report, decoded; "
            "or its JSON). Without it, iamwatch reads the account live.",
            show_default=False,
        ),
    ] = None,
    authorization_details: Annotated[
        Path | None,
        typer.Option(
            help="Offline: the JSON of aws iam get-account-authorization-details.",
            show_default=False,
        ),
    ] = None,
    cloudtrail: Annotated[
        list[str] | None,
        typer.Option(
            help="CloudTrail logs (as for scan; repeatable): user agents, addresses, console "
            "and API use as evidence.",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="table (default on a terminal), jsonl (default otherwise), csv, ocsf or html.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write to this file (default: stdout).", show_default=False
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Reference time for ages (ISO 8601). Default: now when live; offline, the "
            "newest time in the files.",
            show_default=False,
        ),
    ] = None,
    fail_on: Annotated[
        list[str] | None,
        typer.Option(
            help="Exit 1 when an identity fails this check (id), or a check at or above this "
            "severity (repeatable, or comma-separated).",
            show_default=False,
        ),
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(
            help="Store this snapshot in the SQLite state file, so scans with the same --state "
            "know each user's kind and keep it current from events.",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
    progress: Annotated[
        bool, typer.Option(help="Show progress on stderr (only on a terminal).")
    ] = True,
) -> None:
    """Every IAM user and root: human, workload, mixed or dormant, where each belongs
    (Identity Center, a role, removal) and which posture checks it fails."""
    from iamwatch.settings import SettingsError, load_settings

    try:
        settings = load_settings(config, state_path=state)
    except SettingsError as error:
        raise _fail(str(error)) from None
    chosen = _format(output_format)
    failing = _fail_on(fail_on or [])
    moment = _moment(as_of) if as_of else None
    if authorization_details is not None and credential_report is None:
        raise _fail("--authorization-details needs --credential-report (offline reads both)")
    for path in (credential_report, authorization_details):
        if path is not None and not path.is_file():
            raise _fail(f"{path}: no such file")
    if cloudtrail:
        from iamwatch.sources import InputError, check_paths

        try:
            check_paths(cloudtrail)
        except InputError as error:
            raise _fail(str(error)) from None
    errors = _stderr_console()
    with _steps(errors, progress) as step:
        report = _take(settings, credential_report, authorization_details, cloudtrail, moment,
                       step, errors)  # fmt: skip
    _write(report, chosen or _default_format(), output, errors)
    if failing and _fails(report, failing):
        raise typer.Exit(EXIT_FAIL_ON)


def _default_format() -> InventoryFormat:
    from iamwatch.inventory.output import InventoryFormat

    return InventoryFormat.TABLE if sys.stdout.isatty() else InventoryFormat.JSONL


def _format(value: str | None) -> InventoryFormat | None:
    from iamwatch.inventory.output import InventoryFormat

    if value is None:
        return None
    try:
        return InventoryFormat(value)
    except ValueError:
        choices = ", ".join(item.value for item in InventoryFormat)
        raise _fail(f"--format: {value!r} is not one of {choices}") from None


def _moment(value: str) -> datetime:
    from datetime import UTC

    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _fail(f"--as-of: {value!r} is not an ISO 8601 time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _fail_on(values: list[str]) -> set[str]:
    """Check ids and severities, checked now so a typo is a usage error, not a silent pass."""
    from iamwatch.inventory.checks import CHECKS
    from iamwatch.severity import Severity

    wanted = {part.strip() for value in values for part in value.split(",") if part.strip()}
    known = set(CHECKS) | {severity.value for severity in Severity}
    unknown = sorted(wanted - known)
    if unknown:
        raise _fail(
            f"--fail-on: {', '.join(unknown)} is not a check id or severity "
            f"(checks: {', '.join(CHECKS)})"
        )
    return wanted


def _fails(report: Inventory, wanted: set[str]) -> bool:
    from iamwatch.severity import Severity

    levels = [Severity(value) for value in wanted if value in Severity._value2member_map_]
    floor = min(levels, key=lambda level: level.rank) if levels else None
    for row in report.rows:
        for result in row.check_details:
            if result.id in wanted or (floor is not None and Severity(result.severity) >= floor):
                return True
    return False


@contextmanager
def _steps(console: Console, enabled: bool) -> Iterator[Callable[[str], None]]:
    """A spinner naming what is being read, on stderr when it is a terminal."""
    if not (enabled and console.is_terminal):
        yield lambda _: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn

    bar = Progress(SpinnerColumn(), TextColumn("reading {task.description}"), console=console,
                   transient=True)  # fmt: skip
    task = bar.add_task("", total=None)
    with bar:
        yield lambda what: bar.update(task, description=what)


def _take(
    settings: Settings,
    credential_report: Path | None,
    authorization_details: Path | None,
    cloudtrail: list[str] | None,
    moment: datetime | None,
    step: Callable[[str], None],
    errors: Console,
) -> Inventory:
    from iamwatch.inventory.authorization import parse_authorization_details
    from iamwatch.inventory.credential_report import InputFileError, parse_credential_report
    from iamwatch.inventory.report import assess, build_identities, newest_time

    activity = None
    if cloudtrail:
        from iamwatch.inventory.activity import read_activity
        from iamwatch.sources import Problem, expand
        from iamwatch.terminal import printable

        step("CloudTrail")

        def warn(problem: Problem) -> None:
            where, why = printable(str(problem.location)), printable(problem.reason)
            errors.print(f"warning: {where}: {why}; skipped", markup=False)

        activity = read_activity(expand(cloudtrail), warn)
    notes: list[str] = []
    if credential_report is not None:
        step("credential report")
        try:
            report = parse_credential_report(credential_report.read_bytes(), str(credential_report))
            details = None
            if authorization_details is not None:
                step("authorization details")
                details = parse_authorization_details(
                    authorization_details.read_bytes(), str(authorization_details)
                )
        except InputFileError as error:
            raise _read_error(errors, str(error)) from None
        except OSError as error:
            raise _read_error(errors, f"{error.filename}: {error.strerror}") from None
        if details is None:
            notes.append("no authorization details: groups, policies and tags unknown")
        identities = build_identities(report, details, activity=activity)
        if moment is None:
            source = "offline: the newest time in the input files; --as-of to change"
            moment = newest_time(identities, report.generated)
        else:
            source = "--as-of"
    else:
        from iamwatch.aws.inventory import InventoryReadError, LiveInventory

        live = LiveInventory(_caller_clients())
        try:
            read = live.read(step)
        except InventoryReadError as error:
            raise _read_error(errors, str(error)) from None
        report = read.report
        notes += read.notes
        identities = build_identities(
            report, read.details, activity=activity, services=read.services,
            identity_center=read.identity_center, key_ids=read.key_ids,
        )  # fmt: skip
        source = "--as-of" if moment is not None else "now, read live"
        from datetime import UTC

        moment = moment or datetime.now(UTC)
    result = assess(
        identities, settings.inventory_thresholds, moment, settings.protected,
        as_of_source=source, report_generated=report.generated, notes=notes,
    )  # fmt: skip
    if settings.state_path is not None:
        from iamwatch.inventory.tracker import StateInventory
        from iamwatch.state import SQLiteStateStore

        store = SQLiteStateStore(settings.state_path)
        try:
            StateInventory(store).take(identities, result.rows, moment)
        finally:
            store.close()
    return result


def _caller_clients() -> Callable[[str], object]:
    import boto3

    session = boto3.session.Session()
    made: dict[str, object] = {}

    def client(service: str) -> object:
        if service not in made:
            made[service] = session.client(service)  # type: ignore[call-overload]
        return made[service]

    return client


def _write(
    report: Inventory, chosen: InventoryFormat, output: Path | None, errors: Console
) -> None:
    from iamwatch.inventory.output import InventoryFormat, render
    from iamwatch.inventory.output.table import inventory_table, summary_lines

    if chosen is InventoryFormat.TABLE:
        from rich.console import Console

        if output is not None:
            with output.open("w", encoding="utf-8") as handle:
                Console(file=handle, width=160).print(inventory_table(report))
        else:
            Console().print(inventory_table(report))
    else:
        body = render(report, chosen)
        if output is None:
            sys.stdout.buffer.write(body)
            sys.stdout.buffer.flush()
        else:
            try:
                output.parent.mkdir(parents=True, exist_ok=True)
                output.write_bytes(body)
            except OSError as error:
                raise _read_error(errors, f"{output}: {error.strerror}") from None
    for line in summary_lines(report):
        errors.print(line, markup=False, highlight=False)
