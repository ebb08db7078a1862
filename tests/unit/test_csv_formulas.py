"""No cell of a CSV export is a formula in any spreadsheet, whatever it splits columns on
(issue 12, defect 10).

A spreadsheet in a locale whose list separator is ``;`` (most of Europe) splits an unquoted
comma-separated cell at every ``;``; LibreOffice lets the user pick tab or ``|`` as well. So a
user agent like ``Mozilla/5.0;=cmd|' /C calc'!A0`` became a cell starting with ``=`` there.
"""

from __future__ import annotations

import csv
import io

import pytest

from iamwatch.export.csv import FORMULA_PREFIXES, neutralise

SEPARATORS = (",", ";", "\t", "|")
HOSTILE = [
    "Mozilla/5.0;=cmd|' /C calc'!A0",
    'Mozilla/5.0,=HYPERLINK("http://evil.example")',
    "a|+1+1",
    "a\t-2+3",
    "a; @SUM(A1)",
    'a;"=1+1',
    "a\n=1+1",
    "a\r\n+1",
    "=1;=2;=3",
    ";;=x",
]


def cells(line: str, separator: str) -> list[str]:
    """How a spreadsheet splitting on ``separator`` reads one written cell."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([line])
    written = buffer.getvalue()
    return [
        cell.strip(" ")
        for row in csv.reader(io.StringIO(written, newline=""), delimiter=separator)
        for cell in row
    ]


@pytest.mark.parametrize("separator", SEPARATORS, ids=repr)
@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_no_cell_starts_a_formula_whatever_the_separator(value: str, separator: str) -> None:
    for cell in cells(neutralise(value), separator):
        assert not cell.lstrip('"').startswith(FORMULA_PREFIXES), (separator, cell)


def test_the_reported_user_agent_reads_as_text_in_a_semicolon_locale() -> None:
    value = "Mozilla/5.0;=cmd|' /C calc'!A0"
    assert cells(neutralise(value), ";") == ["Mozilla/5.0", "'=cmd|' /C calc'!A0"]


@pytest.mark.parametrize(
    "value",
    ["Mozilla/5.0 (X11; Linux x86_64)", "aws-cli/2.15.30 md/arch#x86_64", "a=b;c", "2026-11-03"],
)
def test_ordinary_text_is_left_alone(value: str) -> None:
    assert neutralise(value) == value
