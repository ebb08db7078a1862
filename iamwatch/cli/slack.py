"""``iamwatch slack preview`` and ``iamwatch slack test``: check the Slack alerts and set-up."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer

from iamwatch.cli import EXIT_DELIVERY_FAILED, ConfigOption, _fail, _stderr_console, app
from iamwatch.cli.catalogue import DETECTOR_ID_HELP

if TYPE_CHECKING:
    from iamwatch.finding import Finding

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
    detector_id: Annotated[str, typer.Argument(help=DETECTOR_ID_HELP)],
    config: ConfigOption = None,
) -> None:
    """Print the Block Kit JSON of a sample alert (paste it into Slack's Block Kit Builder)."""
    import orjson

    from iamwatch.settings import SettingsError, load_settings
    from iamwatch.slack.render import render

    try:
        settings = load_settings(config)
    except SettingsError as error:
        raise _fail(str(error)) from None
    message = render(
        _sample(detector_id, settings.runbook_base_url), interactive=settings.slack_interactivity
    )
    sys.stdout.buffer.write(orjson.dumps(message.builder_json(), option=orjson.OPT_INDENT_2))
    sys.stdout.buffer.write(b"\n")


@slack_app.command("test")
def slack_test(
    detector_id: Annotated[
        str | None,
        typer.Option(
            "--detector",
            help="Which detector's sample alert to post (default: the first that `iamwatch "
            "detectors` lists).",
            show_default=False,
        ),
    ] = None,
    channel: Annotated[
        str | None,
        typer.Option(help="Post here instead of the channel routed for the sample's severity."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Post a sample alert, marked as a test, to check the Slack setup end to end."""
    from iamwatch.composition import build_slack_transport
    from iamwatch.settings import SettingsError, load_settings
    from iamwatch.slack.notifier import Routing
    from iamwatch.slack.render import render
    from iamwatch.slack.transport import DeliveryError
    from iamwatch.terminal import printable

    errors = _stderr_console()

    def waiting(seconds: float) -> None:
        # Retries are said out loud: a test that waits on Slack never looks hung.
        errors.print(f"  no answer yet; trying again in {seconds:.1f}s", markup=False)
        time.sleep(seconds)

    try:
        settings = load_settings(config)
        transport = build_slack_transport(settings, sleep=waiting)
    except SettingsError as error:
        raise _fail(str(error)) from None
    if detector_id is None:
        from detectors import REGISTRY

        detector_id = REGISTRY.ids[0]
    finding = _sample(detector_id, settings.runbook_base_url)
    routing = Routing(default=settings.slack_channel, by_severity=settings.slack_channels)
    target = transport.fixed_channel or channel or routing.channel_for(finding.severity)
    if target is None:
        raise _fail(f"no Slack channel for {finding.severity.value} findings; use --channel")
    message = render(
        finding,
        note="Test alert sent by iamwatch slack test to check the Slack setup; no action needed.",
        interactive=settings.slack_interactivity,
    )
    errors.print(f"Posting a test alert to {printable(target)}...", markup=False)
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
