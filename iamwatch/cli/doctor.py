"""``iamwatch doctor``: is iamwatch watching? Read-only checks of a deployment, with the
caller's AWS credentials: a multi-region trail logging management events; the deployment's
EventBridge rules enabled here and its forwarders' in every sign-in region and the Identity
Center home region; the Slack token valid and the bot in each routed channel; the dead-letter
queues empty; the alarm topic with a subscriber; the tables present with TTL on.

Exit codes: 0 every check passed; 1 a check failed; 2 usage error (bad option or setting);
5 AWS could not be read (the stack, or some check: access denied, unreachable) and no check
failed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from iamwatch.cli import EXIT_OUTPUT_FAILED, ConfigOption, _fail, _stderr_console, app

if TYPE_CHECKING:
    from iamwatch.doctor.slack_checks import SlackChecks
    from iamwatch.settings import Settings


class DoctorFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


@app.command()
def doctor(
    stack: Annotated[
        str | None,
        typer.Option(
            help="The deployed stack (default: iamwatch-<stage>, the stage from "
            "IAMWATCH_SELF_PREFIX, else iamwatch-prod).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        DoctorFormat, typer.Option("--format", help="table for people, json for programs.")
    ] = DoctorFormat.TABLE,
    config: ConfigOption = None,
) -> None:
    """Check that the deployed iamwatch can see and tell: trail, rules, Slack, queues, alarms,
    tables (read-only, your AWS credentials)."""
    import orjson

    from iamwatch.doctor import Doctor, TargetsError
    from iamwatch.doctor.targets import HOME_REGION, from_stack
    from iamwatch.settings import SettingsError, load_settings

    try:
        settings = load_settings(config)
    except SettingsError as error:
        raise _fail(str(error)) from None
    name = stack or _default_stack(settings.self_prefix)
    try:
        targets = from_stack(_client("cloudformation", HOME_REGION), name, settings)
    except TargetsError as error:
        _stderr_console().print(f"error: {error}", markup=False)
        raise typer.Exit(EXIT_OUTPUT_FAILED) from None
    report = Doctor(_client, _slack_checks(settings)).examine(targets)
    if output is DoctorFormat.JSON:
        typer.echo(orjson.dumps(report.as_json()).decode())
    else:
        from rich.console import Console

        from iamwatch.doctor.render import table

        table(report, Console(highlight=False, soft_wrap=False))
    raise typer.Exit(report.exit_code)


def _default_stack(prefix: str) -> str:
    stage = prefix.removeprefix("iamwatch-").strip("-_")
    return f"iamwatch-{stage or 'prod'}"


def _client(service: str, region: str) -> Any:
    import boto3

    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


def _slack_checks(settings: Settings) -> SlackChecks | None:
    """Slack as configured here (the deployment's token parameter and channels, in a config
    file or the environment); None for a webhook, which cannot be checked."""
    from iamwatch.composition import slack_token_source
    from iamwatch.doctor.slack_checks import SlackChecks

    if not settings.slack_token_configured:
        return None
    return SlackChecks(slack_token_source(settings), settings.slack_api_url)
