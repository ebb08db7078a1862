"""``iamwatch detectors`` and ``iamwatch runbook``: the detector catalogue and its runbooks."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from iamwatch.cli import _fail, app
from iamwatch.runbooks import runbook_ids

# Help for a detector-id argument, with an example taken from the shipped runbooks (cheap: no
# detector is imported to show help).
DETECTOR_ID_HELP = (
    f"A detector id, e.g. {next(iter(runbook_ids()), 'one from iamwatch detectors')}."
)


@app.command()
def detectors() -> None:
    """List the detector catalogue."""
    from rich.console import Console
    from rich.markup import escape
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
            escape(meta.description) + "\n\n" + "\n".join(events),
            meta.severity_rules,
        )
    Console().print(table)


@app.command()
def runbook(
    detector_id: Annotated[str, typer.Argument(help=DETECTOR_ID_HELP)],
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
