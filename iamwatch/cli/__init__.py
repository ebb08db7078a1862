"""The ``iamwatch`` command line: the typer app, its exit codes and the helpers commands share.

Exit codes of ``iamwatch scan``: 0 the scan completed (malformed input is reported on stderr
but does not fail it); 1 a finding at or above ``--fail-on`` was raised; 2 usage error (bad
option, missing path, invalid setting); 3 a detector raised an error, so findings may be
missing; 4 with ``--slack``, some alert could not be delivered (the reasons are on stderr);
5 an input could not be read at all (S3 or network errors, a missing bucket, permission
denied), or, with ``--strict``, no CloudTrail record was found anywhere. When several apply,
the first of 2, 5, 3, 4, 1 in that order is the exit code. Every command: 130 when
interrupted (Ctrl-C); a closed stdout (``| head``) ends quietly with 0.
``iamwatch slack test`` exits 4 when the test alert could not be posted.

``iamwatch scan`` appends to an SQLite audit trail (``--audit``, ``IAMWATCH_AUDIT_PATH``; by
default the ``--state`` file, else ``~/.local/state/iamwatch/audit.db``): findings raised,
Slack deliveries and their outcomes, suppressions, malformed records and detector failures.
Exit codes of ``iamwatch export`` (docs/export.md): 0 written (an empty window is not an
error); 2 usage error (bad option or window, unreadable audit file); 5 the output could not
be written (file or S3), or with ``--to-securityhub`` some finding was not imported.
Exit codes of ``iamwatch inventory`` (README, Inventory): 0 done; 1 an identity fails a check
named by ``--fail-on`` (or one at or above the severity named); 2 usage error; 5 an input
could not be read (a malformed file, named with its line, or a missing IAM permission, named).
Exit codes of ``iamwatch remediate`` (docs/remediation.md): 0 the plan was shown, applied or
undone; 2 usage error (unknown finding or action id, bad option); 6 AWS refused or failed a
step, the credentials are for another account, or the step cannot be undone (what was done
before it stopped is printed and audited).
Exit codes of ``iamwatch doctor``: 0 every check passed; 1 a check failed; 2 usage error; 5 AWS
could not be read (the stack, or a check) and no check failed.

Each command lives in its own module of this package and registers itself on ``app`` when
imported; the imports at the end of this file are the list of commands.
"""

from __future__ import annotations

import errno
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK = 0
EXIT_FAIL_ON = 1
EXIT_USAGE = 2
EXIT_DETECTOR_ERROR = 3
EXIT_DELIVERY_FAILED = 4
EXIT_OUTPUT_FAILED = 5
# Input that could not be read at all (S3 or network errors, a missing bucket, permission
# denied) shares 5 with output that could not be written: either way, what should have been
# read or written was not, and a rerun may fix it.
EXIT_INPUT_FAILED = 5
EXIT_REMEDIATION_FAILED = 6
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 a finding at or above --fail-on (scan), a failing case (test);"
    " 2 usage error; 3 a detector failed; 4 a Slack alert was not delivered; 5 an input could"
    " not be read or an output not written; 6 a remediation step failed; 130 interrupted."
)

# Options several commands share, declared once so their names and help stay the same.
ConfigOption = Annotated[
    Path | None, typer.Option(help="TOML settings file (also IAMWATCH_CONFIG).")
]
AuditTrailOption = Annotated[
    Path | None,
    typer.Option(
        "--audit",
        help="The SQLite audit trail (also IAMWATCH_AUDIT_PATH; default as for scan).",
        show_default=False,
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile", help="AWS named profile (as the aws CLI's --profile).", show_default=False
    ),
]
RegionOption = Annotated[
    str | None,
    typer.Option("--region", help="AWS region (as the aws CLI's --region).", show_default=False),
]


@dataclass
class Output:
    """How the command line talks on stderr: -q keeps only errors, warnings and results; -v
    adds debug logs; --no-color (or NO_COLOR) turns colour off everywhere."""

    quiet: bool = False
    verbose: bool = False
    color: bool = True


OUTPUT = Output()


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"iamwatch {version('iamwatch')}")
        raise typer.Exit()


app = typer.Typer(
    name="iamwatch",
    help="Monitor AWS identity compliance: detect risky IAM and sign-in activity in CloudTrail.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Show the version and exit.", callback=_version, is_eager=True
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only results, warnings and errors.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also print debug logs on stderr.")
    ] = False,
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colour (also the NO_COLOR variable).")
    ] = False,
) -> None:
    OUTPUT.quiet, OUTPUT.verbose = quiet, verbose
    OUTPUT.color = not no_color and not os.environ.get("NO_COLOR")
    if verbose:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")


def _stderr_console() -> Console:
    from rich.console import Console

    # No colour means no escape codes at all: no bold or italic either.
    plain = {} if OUTPUT.color else {"color_system": None}
    return Console(stderr=True, highlight=False, soft_wrap=True, **plain)  # type: ignore[arg-type]


def _stdout_console() -> Console:
    from rich.console import Console

    plain = {} if OUTPUT.color else {"color_system": None}
    return Console(**plain)  # type: ignore[arg-type]


def _info(message: str) -> None:
    """A progress or summary line on stderr, which -q leaves out."""
    if not OUTPUT.quiet:
        _stderr_console().print(message, markup=False, highlight=False)


def _fail(message: str) -> typer.Exit:
    _stderr_console().print(f"error: {message}", markup=False)
    return typer.Exit(EXIT_USAGE)


def use_aws(profile: str | None, region: str | None) -> None:
    """Make ``--profile``/``--region`` the default boto3 session, which every AWS call the
    command makes goes through."""
    if profile is None and region is None:
        return
    import boto3
    from botocore.exceptions import ProfileNotFound

    try:
        boto3.setup_default_session(profile_name=profile, region_name=region)
    except ProfileNotFound as error:
        raise _fail(str(error)) from None


def _existing_audit_trail(config: Path | None, audit: Path | None) -> Path:
    """The audit trail a command reads (``--audit``, settings, or the default); it must exist."""
    from iamwatch.settings import SettingsError, load_settings

    try:
        settings = load_settings(config, audit_path=audit)
    except SettingsError as error:
        raise _fail(str(error)) from None
    path = settings.resolved_audit_path
    if not path.is_file():
        raise _fail(f"no audit trail at {path}; run iamwatch scan first, or pass --audit")
    return path


def main() -> None:
    """The ``iamwatch`` command. A closed stdout (``iamwatch scan ... | head``) ends quietly
    with 0, as a pipe's reader has all it wanted; Ctrl-C ends with 130."""
    # typer 0.26 (pinned) carries its own copy of Click and raises its exceptions, not those
    # of a Click that happens to be installed beside it (the runtime does not install one).
    from typer._click.exceptions import ClickException

    try:
        code = app(standalone_mode=False)
    except ClickException as error:  # usage errors, exit 2
        error.show()
        code = error.exit_code
    except typer.Abort:
        code = EXIT_INTERRUPTED
    except SystemExit as exit:
        # typer turns a write to a closed pipe into exit 1; the reader simply had enough.
        cause = exit.__context__
        if not (isinstance(cause, OSError) and cause.errno == errno.EPIPE):
            raise
        _quiet_closed_stdout()
        code = EXIT_OK
    except BrokenPipeError:
        _quiet_closed_stdout()
        code = EXIT_OK
    if code == EXIT_INTERRUPTED:
        _stderr_console().print("interrupted", markup=False)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_closed_stdout()
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _quiet_closed_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush does not complain about
    the pipe that closed."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


# The commands, registered on ``app`` as each module is imported; ``iamwatch --help`` lists
# them in this order (groups such as ``slack`` come after plain commands). A new command is a
# module here plus one line below. Imported last: the modules use ``app`` and the helpers above;
# not sorted, since the order is the help's.
# isort: off
from iamwatch.cli import scan  # noqa: E402
from iamwatch.cli import export  # noqa: E402
from iamwatch.cli import catalogue  # noqa: E402
from iamwatch.cli import inventory  # noqa: E402
from iamwatch.cli import remediate  # noqa: E402
from iamwatch.cli import slack  # noqa: E402
from iamwatch.cli import cases  # noqa: E402
from iamwatch.cli import doctor  # noqa: E402
from iamwatch.cli import backfill  # noqa: E402
# isort: on

__all__ = [
    "app",
    "backfill",
    "cases",
    "catalogue",
    "doctor",
    "export",
    "inventory",
    "main",
    "remediate",
    "scan",
    "slack",
]
