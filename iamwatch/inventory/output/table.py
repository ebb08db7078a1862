"""The inventory as a rich table, every IAM-derived string made printable (no escapes from a
user name or tag reach the terminal)."""

from __future__ import annotations

from iamwatch.inventory.model import Inventory, Kind, Recommendation
from iamwatch.inventory.output import figures
from iamwatch.terminal import printable

KIND_STYLES = {
    Kind.HUMAN: "cyan",
    Kind.WORKLOAD: "magenta",
    Kind.MIXED: "bold yellow",
    Kind.DORMANT: "dim",
    Kind.ROOT: "bold red",
}
MOVE_STYLES = {
    Recommendation.IDENTITY_CENTER: "cyan",
    Recommendation.ROLE: "magenta",
    Recommendation.SPLIT: "bold yellow",
    Recommendation.REMOVE: "red",
    Recommendation.KEEP: "green",
    Recommendation.SECURE_ROOT: "bold white on red",
}


def inventory_table(inventory: Inventory) -> object:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    title = f"iamwatch inventory: account {printable(inventory.account or 'several')}"
    table = Table(title=title, box=box.SIMPLE_HEAD, show_lines=True, expand=True)
    # Names and check ids fold rather than being cut: they are what the reader acts on.
    table.add_column("User", ratio=2, min_width=12, overflow="fold")
    table.add_column("Kind / move to", no_wrap=True, min_width=15)
    table.add_column("Checks failed", ratio=3, min_width=18, overflow="fold")
    table.add_column("Why", ratio=4)
    for row in inventory.rows:
        user = Text(printable(row.user), style="bold")
        if row.evidence.get("protected"):
            user.append("\nbreak-glass", style="green")
        kind = Text(row.kind.value, style=KIND_STYLES[row.kind])
        kind.append("\n-> ")
        kind.append(row.recommendation.value, style=MOVE_STYLES[row.recommendation])
        table.add_row(
            user,
            kind,
            Text("\n".join(row.checks) or "-", style="yellow" if row.checks else "dim"),
            Text(printable(row.reason)),
        )
    return table


def summary_lines(inventory: Inventory) -> list[str]:
    numbers = figures(inventory)
    kinds = ", ".join(f"{count} {kind}" for kind, count in numbers["kind"].items() if count)
    moves = ", ".join(
        f"{count} to {move}" for move, count in numbers["recommendation"].items() if count
    )
    lines = [
        f"{numbers['identities']} identities: {kinds or 'none'}.",
        f"Recommended: {moves or 'nothing'}.",
        f"{numbers['failing']} identities fail at least one check.",
        f"As of {inventory.as_of.isoformat()} ({printable(inventory.as_of_source)}).",
    ]
    if inventory.report_age_seconds is not None:
        minutes = int(inventory.report_age_seconds // 60)
        lines.append(f"The credential report is {minutes // 60} h {minutes % 60} min old.")
    for check in inventory.account_checks:
        lines.append(f"Account: {check.id}: {check.detail}.")
    lines += [printable(note) for note in inventory.notes]
    return lines
