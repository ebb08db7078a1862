"""``iamwatch remediate``: a finding's runbook steps and the exact plan for it, a dry run unless
``--apply``; ``--undo ACTION_ID`` reverses an applied step (docs/remediation.md).

It acts with the operator's own AWS credentials, only in the account they belong to, and writes
every change, with the state before and after, to the audit trail the finding came from.
"""

from __future__ import annotations

import getpass
import os
import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from iamwatch.cli import (
    EXIT_REMEDIATION_FAILED,
    ConfigOption,
    ProfileOption,
    RegionOption,
    _existing_audit_trail,
    _fail,
    _stderr_console,
    app,
    use_aws,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from iamwatch.audit import AuditLog
    from iamwatch.protected import ProtectedPrincipals
    from iamwatch.remediation import AppliedAction, Remediator


DYNAMODB_SCHEME = "dynamodb://"
_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")


@app.command()
def remediate(
    finding_id: Annotated[
        str | None,
        typer.Argument(
            help="The finding's id (finding_id in scan or export output), or its first "
            "characters as scan's table shows them.",
            show_default=False,
        ),
    ] = None,
    action: Annotated[
        list[str] | None,
        typer.Option(
            "--action",
            "-a",
            help="Only this runbook action (repeatable). Default: every action the runbook "
            "declares that applies to the finding.",
            show_default=False,
        ),
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Make the changes (default: show the plan only).")
    ] = False,
    undo: Annotated[
        str | None,
        typer.Option(
            help="Reverse an applied step by its action id (printed by --apply).",
            metavar="ACTION_ID",
            show_default=False,
        ),
    ] = None,
    audit: Annotated[
        str | None,
        typer.Option(
            "--audit",
            help="The audit trail: an SQLite file (also IAMWATCH_AUDIT_PATH; default as for "
            "scan), or dynamodb://TABLE, a deployment's audit table, read and written with your "
            "AWS credentials (remediations approved in Slack are recorded there).",
            metavar="PATH|dynamodb://TABLE",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
    profile: ProfileOption = None,
    region: RegionOption = None,
) -> None:
    """Show a finding's remediation plan; --apply it with your AWS credentials; --undo it."""
    from iamwatch.audit import FindingIdError, raised_finding, resolve_finding_id
    from iamwatch.remediation import PlanError, RemediationError, plan_remediation
    from iamwatch.settings import SettingsError, load_settings

    use_aws(profile, region)
    if finding_id is None and undo is None:
        raise _fail("give a FINDING_ID to plan or apply, or --undo ACTION_ID")
    if finding_id is not None and undo is not None:
        raise _fail("give a FINDING_ID to plan or apply, or --undo ACTION_ID, not both")
    if undo is not None and (apply or action):
        raise _fail("--undo takes no --apply or --action")
    try:
        protected = load_settings(config).protected
    except SettingsError as error:
        raise _fail(str(error)) from None
    log, path, close = _open_audit_trail(config, audit)
    try:
        if undo is not None:
            _undo(log, undo, protected)
            return
        assert finding_id is not None
        try:
            finding = raised_finding(log, resolve_finding_id(log, finding_id))
        except FindingIdError as error:
            raise _fail(f"{error} ({path})") from None
        if finding is None:
            raise _fail(f"no finding {finding_id!r} in the audit trail {path}")
        try:
            plan = plan_remediation(finding, action, protected=protected)
        except PlanError as error:
            raise _fail(str(error)) from None
        _show_plan(finding.summary, plan.runbook_steps, plan.lines())
        if not apply:
            typer.echo(
                "\nDry run: nothing was changed. Run again with --apply to make these changes."
                if plan.steps
                else "\nNothing to apply."
            )
            return
        if not plan.steps:
            return
        remediator, by = _remediator(log, protected)
        try:
            applied = remediator.apply(plan, finding, by=by, via="cli")
        except RemediationError as error:
            _show_applied(error.applied)
            _stderr_console().print(f"error: remediation stopped: {error}", markup=False)
            raise typer.Exit(EXIT_REMEDIATION_FAILED) from None
        _show_applied(applied)
    finally:
        close()


def _open_audit_trail(
    config: Path | None, audit: str | None
) -> tuple[AuditLog, str, Callable[[], None]]:
    """The audit trail to read and append to, what to call it in messages, and how to close
    it: a deployment's DynamoDB table (``dynamodb://TABLE``) or an SQLite file."""
    from iamwatch.audit import SQLiteAuditLog

    if audit is not None and audit.startswith(DYNAMODB_SCHEME):
        import boto3

        from iamwatch.aws.audit import DynamoDBAuditLog

        table = audit.removeprefix(DYNAMODB_SCHEME)
        if not _TABLE.match(table):
            raise _fail(f"--audit: {table!r} is not a DynamoDB table name")
        client = boto3.client("dynamodb", region_name=_region())
        return DynamoDBAuditLog(client, table), audit, lambda: None
    path = _existing_audit_trail(config, Path(audit) if audit is not None else None)
    try:
        log = SQLiteAuditLog(path)
    except sqlite3.Error as error:
        raise _fail(f"audit trail {path}: {error}") from None
    return log, str(path), log.close


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _show_plan(summary: str, runbook_steps: str, plan_lines: list[str]) -> None:
    from iamwatch.terminal import printable

    typer.echo(f"Finding: {printable(summary)}\n")
    if runbook_steps:
        typer.echo("Runbook, Remediation:")
        typer.echo("\n".join(f"  {line}" for line in runbook_steps.splitlines()))
        typer.echo("")
    typer.echo("\n".join(printable(line) for line in plan_lines))


def _show_applied(applied: tuple[AppliedAction, ...] | list[AppliedAction]) -> None:
    from iamwatch.terminal import printable

    for done in applied:
        if done.refused is not None:
            typer.echo(f"\n{printable(done.step.summary)}: refused")
            typer.echo(f"  {printable(done.refused)}")
            continue
        status = "applied" if done.changed else "already in place, nothing changed"
        typer.echo(f"\n{printable(done.step.summary)}: {status}")
        typer.echo(f"  before: {printable(_state(done.before))}")
        typer.echo(f"  after:  {printable(_state(done.after))}")
        typer.echo(f"  action id: {done.action_id}")
        if done.undo_command and done.changed:
            typer.echo(f"  undo: {done.undo_command}")
        elif not done.step.reversible:
            typer.echo(f"  cannot be undone: {printable(done.step.undo)}")


def _state(state: dict[str, object]) -> str:
    # An inline policy document is in the audit trail; here it would only bury the change.
    return ", ".join(
        f"{key}={'(saved in the audit trail)' if key == 'document' else value}"
        for key, value in state.items()
    )


def _undo(log: AuditLog, action_id: str, protected: ProtectedPrincipals) -> None:
    from iamwatch.remediation import RemediationError
    from iamwatch.terminal import printable

    remediator, by = _remediator(log, protected)
    try:
        undone = remediator.undo(action_id, by=by, via="cli")
    except RemediationError as error:
        _stderr_console().print(f"error: {error}", markup=False)
        raise typer.Exit(EXIT_REMEDIATION_FAILED) from None
    status = "undone" if undone.changed else "already back as it was, nothing changed"
    typer.echo(f"{printable(undone.step.summary)}: {status}")
    typer.echo(f"  before: {printable(_state(undone.before))}")
    typer.echo(f"  after:  {printable(_state(undone.after))}")
    typer.echo(f"  recorded as {undone.action_id}")


def _remediator(log: AuditLog, protected: ProtectedPrincipals) -> tuple[Remediator, str]:
    """A remediator acting with the operator's credentials, and who they are (for the audit
    trail): the caller's ARN and the local user name."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from iamwatch.remediation import Remediator
    from iamwatch.remediation.history import CloudTrailGrantHistory

    region = _region()
    try:
        identity = boto3.client("sts", region_name=region).get_caller_identity()
    except (BotoCoreError, ClientError) as error:
        _stderr_console().print(f"error: AWS credentials: {error}", markup=False)
        raise typer.Exit(EXIT_REMEDIATION_FAILED) from None
    iam = boto3.client("iam", region_name=region)
    # IAM's events are recorded in us-east-1, whatever the operator's region.
    history = CloudTrailGrantHistory(boto3.client("cloudtrail", region_name="us-east-1"))
    by = f"{identity['Arn']} ({getpass.getuser()})"

    def rolesanywhere(region: str) -> Any:
        return boto3.client("rolesanywhere", region_name=region)

    remediator = Remediator(
        iam,
        log,
        account=identity["Account"],
        history=history,
        protected=protected,
        rolesanywhere=rolesanywhere,
    )
    return remediator, by
