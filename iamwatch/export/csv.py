"""CSV export for spreadsheets: a header row, RFC 4180 quoting, UTF-8 (with a BOM by default,
so Excel detects the encoding), and no formula injection.

Event data is attacker-controlled (a user name, a user agent, a policy name), and a spreadsheet
runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or tab, carriage return) as a
formula. Every such cell is prefixed with a single quote, as OWASP recommends, so it shows as
text. A spreadsheet may also split a cell where the file never meant a column to end: at
``;`` in locales whose list separator it is, at tab or ``|`` when the user picks them, at a
line break. So a formula character after any of those (and any spaces or quotes) gets the same
quote; the value is otherwise unchanged.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from iamwatch.export import ExportedFinding

COLUMNS = (
    "finding_id",
    "event_time",
    "raised_at",
    "detector",
    "severity",
    "title",
    "summary",
    "account",
    "region",
    "actor",
    "actor_kind",
    "actor_name",
    "target",
    "target_type",
    "source_ip",
    "user_agent",
    "event_name",
    "event_source",
    "event_id",
    "dedup_key",
    "runbook_url",
    "recommendation",
    "next_step",
    "details",
    "enrichment",
    "observations",
    "delivery_status",
    "delivery_channel",
    "delivery_reason",
    "delivery_at",
    # A sequence's linked events (JSON), empty for single-event findings.
    "links",
)

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Where some spreadsheet starts a new cell inside ours: a separator of some locale or choice,
# or a line break; then any spaces or quotes, then a formula character.
_SPLIT_FORMULA = re.compile(r"([,;\t|\r\n][ \"]*)(?=[=+\-@\t\r])")


def neutralise(value: str) -> str:
    """A cell a spreadsheet will not evaluate as a formula, however it splits columns."""
    value = _SPLIT_FORMULA.sub(r"\1'", value)
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode() if value else ""
    else:
        text = str(value)
    return neutralise(text)


def render_csv(rows: Iterable[ExportedFinding], bom: bool = True) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        data = row.as_json()
        writer.writerow([_cell(data.get(column)) for column in COLUMNS])
    text = buffer.getvalue()
    return ("\ufeff" + text if bom else text).encode("utf-8")
