"""The doctor's report for people (a table) and for programs (JSON)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from iamwatch.doctor.model import Report, Status
from iamwatch.terminal import printable

_STYLES = {
    Status.PASS: "green",
    Status.FAIL: "bold red",
    Status.ERROR: "yellow",
    Status.SKIP: "dim",
}


def table(report: Report, console: Console) -> None:
    grid = Table(title="iamwatch doctor", show_lines=False)
    grid.add_column("check")
    grid.add_column("status")
    grid.add_column("detail", overflow="fold")
    for check in report.checks:
        style = _STYLES[check.status]
        grid.add_row(
            printable(check.name),
            f"[{style}]{check.status.value}[/{style}]",
            printable(check.detail),
        )
    console.print(grid)
    if report.failed:
        console.print(f"[bold red]{len(report.failed)} check(s) failed[/bold red]")
    elif report.unreadable:
        console.print(f"[yellow]{len(report.unreadable)} check(s) could not be read[/yellow]")
    else:
        console.print("[green]iamwatch is watching[/green]")
