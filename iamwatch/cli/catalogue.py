"""``iamwatch detectors`` and ``iamwatch runbook``: the detector catalogue and its runbooks."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from iamwatch.cli import _fail, app
from iamwatch.runbooks import runbook_ids

if TYPE_CHECKING:
    from iamwatch.registry import DetectorMeta

# Help for a detector-id argument, with an example taken from the shipped runbooks (cheap: no
# detector is imported to show help).
DETECTOR_ID_HELP = (
    f"A detector id, e.g. {next(iter(runbook_ids()), 'one from iamwatch detectors')}."
)


class CatalogueFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


@app.command()
def detectors(
    output_format: Annotated[
        CatalogueFormat | None,
        typer.Option(
            "--format",
            "-f",
            case_sensitive=False,
            help="table (default on a terminal) or json (default otherwise).",
        ),
    ] = None,
) -> None:
    """List the detector catalogue."""
    from detectors import REGISTRY

    chosen = output_format or (
        CatalogueFormat.TABLE if sys.stdout.isatty() else CatalogueFormat.JSON
    )
    if chosen is CatalogueFormat.JSON:
        import orjson

        documents = [_describe(item.meta) for item in REGISTRY]
        sys.stdout.buffer.write(orjson.dumps(documents, option=orjson.OPT_INDENT_2) + b"\n")
        return
    _catalogue_table([item.meta for item in REGISTRY])


def _describe(meta: DetectorMeta) -> dict[str, object]:
    """A detector as ``detectors --format json`` shows it."""
    return {
        "id": meta.id,
        "title": meta.title,
        "severity": meta.severity.value,
        "fires_on": meta.description,
        "severity_rules": meta.severity_rules,
        "events": {source: sorted(names) for source, names in sorted(meta.events.items())},
        "identity_types": sorted(meta.identity_types),
        "stateful": meta.stateful,
        "remediation_actions": list(meta.remediation_actions),
        "enrichment_permissions": list(meta.enrichment_permissions),
        "asff_type": meta.asff_type,
        "attack_techniques": list(meta.attack_techniques),
        "next_step": meta.next_step,
    }


def _catalogue_table(metas: list[DetectorMeta]) -> None:
    """One detector per block of lines, so the catalogue reads at 80 columns: the id and
    severity, the title, what it fires on, its severity rules."""
    from rich.markup import escape
    from rich.table import Table

    from iamwatch.cli import _stdout_console
    from iamwatch.output import SEVERITY_STYLES

    table = Table(title="iamwatch detectors", show_lines=True, expand=True)
    table.add_column("id / severity", no_wrap=True)
    table.add_column("what it detects", ratio=1, overflow="fold")
    for meta in metas:
        events = [
            f"{source.split('.')[0]}:{name}"
            for source, names in meta.events.items()
            for name in sorted(names)
        ] + [f"any call by userIdentity.type {t}" for t in sorted(meta.identity_types)]
        table.add_row(
            f"{meta.id}\n[{SEVERITY_STYLES[meta.severity]}]{meta.severity.value}[/]",
            f"[bold]{escape(meta.title)}[/]\n{escape(meta.description)}\n"
            f"[dim]{escape(', '.join(events))}\n{escape(meta.severity_rules)}[/]",
        )
    _stdout_console().print(table)


@app.command()
def runbook(
    detector_id: Annotated[str, typer.Argument(help=DETECTOR_ID_HELP)],
    raw: Annotated[bool, typer.Option(help="Print the Markdown source instead.")] = False,
) -> None:
    """Show the runbook for a detector."""
    from iamwatch.runbooks import RunbookError, load_runbook

    try:
        book = load_runbook(detector_id)
    except RunbookError as error:
        raise _fail(str(error)) from None
    if raw:
        sys.stdout.write(book.body)
        return
    render_runbook(book.body)


def render_runbook(markdown: str) -> None:
    """Prose through rich's Markdown; code blocks printed as they are, never wrapped or
    padded, so a command copied from the terminal is the command the runbook holds."""
    from rich.markdown import Markdown
    from rich.text import Text

    from iamwatch.cli import _stdout_console

    console = _stdout_console()
    for kind, text in _fenced_parts(markdown):
        if kind == "code":
            console.print(Text(text, style="cyan"), soft_wrap=True, crop=False)
        elif text.strip():
            console.print(Markdown(text))


def _fenced_parts(markdown: str) -> list[tuple[str, str]]:
    """The runbook as ("prose", text) and ("code", text) parts, in order; indentation of a
    fenced block (inside a numbered step) is removed from its lines."""
    parts: list[tuple[str, str]] = []
    prose: list[str] = []
    code: list[str] | None = None
    indent = ""
    for line in markdown.splitlines():
        stripped = line.lstrip()
        if code is None and stripped.startswith("```"):
            parts.append(("prose", "\n".join(prose)))
            prose, code = [], []
            indent = line[: len(line) - len(stripped)]
        elif code is not None and stripped.startswith("```"):
            parts.append(("code", "\n".join(code)))
            code = None
        elif code is not None:
            code.append(line.removeprefix(indent))
        else:
            prose.append(line)
    if code is not None:  # an unclosed fence: what follows is code
        parts.append(("code", "\n".join(code)))
    parts.append(("prose", "\n".join(prose)))
    return parts
