"""The ``iamwatch`` command line: the typer app, its exit codes and the helpers commands share.

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
be written (file or S3), or with ``--to-securityhub`` some finding was not imported.
Exit codes of ``iamwatch remediate`` (docs/remediation.md): 0 the plan was shown, applied or
undone; 2 usage error (unknown finding or action id, bad option); 6 AWS refused or failed a
step, the credentials are for another account, or the step cannot be undone (what was done
before it stopped is printed and audited).

Each command lives in its own module of this package and registers itself on ``app`` when
imported; the imports at the end of this file are the list of commands.
"""

from __future__ import annotations

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
EXIT_REMEDIATION_FAILED = 6

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

app = typer.Typer(
    name="iamwatch",
    help="Monitor AWS identity compliance: detect risky IAM and sign-in activity in CloudTrail.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    _stderr_console().print(f"error: {message}", markup=False)
    return typer.Exit(EXIT_USAGE)


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
    app()


# The commands, registered on ``app`` as each module is imported; ``iamwatch --help`` lists
# them in this order (groups such as ``slack`` come after plain commands). A new command is a
# module here plus one line below. Imported last: the modules use ``app`` and the helpers above;
# not sorted, since the order is the help's.
# isort: off
from iamwatch.cli import scan  # noqa: E402
from iamwatch.cli import export  # noqa: E402
from iamwatch.cli import catalogue  # noqa: E402
from iamwatch.cli import remediate  # noqa: E402
from iamwatch.cli import slack  # noqa: E402
from iamwatch.cli import backfill  # noqa: E402, F401
# isort: on

__all__ = ["app", "catalogue", "export", "main", "remediate", "scan", "slack"]
