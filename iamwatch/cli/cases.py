"""``iamwatch test``: run detection test cases (iamwatch's own, or yours) and say which pass.

Like Panther's ``pat test``: one line per case, PASS or FAIL with why, then a count; exit 1 when
a case fails (layout and case formats in ``iamwatch.cases``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from iamwatch.cli import EXIT_FAIL_ON, OUTPUT, _fail, _info, _stdout_console, app


@app.command("test")
def run_test_cases(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="A folder of cases: <detector-id>/positive_*.json and negative_*.json "
            "(default: iamwatch's own fixtures).",
            show_default=False,
        ),
    ] = None,
    detector: Annotated[
        list[str] | None,
        typer.Option(
            "--detector", "-d", help="Only this detector's cases (repeatable).", show_default=False
        ),
    ] = None,
) -> None:
    """Run detection test cases against the installed detectors; exit 1 if any fails."""
    from rich.text import Text

    from detectors import REGISTRY
    from iamwatch.cases import builtin_cases, discover, run_case
    from iamwatch.terminal import printable

    if path is not None and not path.is_dir():
        raise _fail(f"{path}: not a folder of test cases")
    root = builtin_cases() if path is None else path
    found = [
        (detector_id, case)
        for detector_id, case in discover(root)
        if not detector or detector_id in detector
    ]
    if not found:
        raise _fail(f"no test cases under {path or 'the built-in fixtures'}")
    console = _stdout_console()
    failed = 0
    for detector_id, case in found:
        result = run_case(detector_id, case, REGISTRY)
        failed += not result.passed
        if result.passed and OUTPUT.quiet:
            continue
        line = Text(
            "PASS " if result.passed else "FAIL ", style="green" if result.passed else "bold red"
        )
        line.append(printable(result.name))
        line.append(f"  {printable(result.reason)}", style="dim" if result.passed else "")
        console.print(line, soft_wrap=True)
    _info(f"{len(found) - failed:,} passed, {failed:,} failed, of {len(found):,} case(s).")
    if failed:
        raise typer.Exit(EXIT_FAIL_ON)
