"""Rendering the inventory: a rich table for people, JSON Lines (the contract), CSV for
spreadsheets, OCSF Compliance Findings, and one self-contained HTML page. Each renderer is
imported only when its format is asked for."""

from __future__ import annotations

from collections import Counter
from enum import StrEnum
from typing import Any

import orjson

from iamwatch.inventory.model import Inventory, Kind, Recommendation


class InventoryFormat(StrEnum):
    TABLE = "table"
    JSONL = "jsonl"
    CSV = "csv"
    OCSF = "ocsf"
    HTML = "html"


def render_jsonl(inventory: Inventory) -> bytes:
    return b"".join(orjson.dumps(row.as_json()) + b"\n" for row in inventory.rows)


def figures(inventory: Inventory) -> dict[str, Any]:
    """The account at a glance: identities by kind and by recommendation, and checks failed.
    The HTML page shows exactly these numbers (and a test compares them with the jsonl)."""
    kinds = Counter(row.kind.value for row in inventory.rows)
    moves = Counter(row.recommendation.value for row in inventory.rows)
    checks = Counter(check for row in inventory.rows for check in row.checks)
    return {
        "identities": len(inventory.rows),
        "kind": {kind.value: kinds.get(kind.value, 0) for kind in Kind},
        "recommendation": {item.value: moves.get(item.value, 0) for item in Recommendation},
        "checks": dict(sorted(checks.items())),
        "failing": sum(1 for row in inventory.rows if row.checks),
    }


def render(inventory: Inventory, chosen: InventoryFormat) -> bytes:
    if chosen is InventoryFormat.CSV:
        from iamwatch.inventory.output.csv import render_csv

        return render_csv(inventory)
    if chosen is InventoryFormat.OCSF:
        from iamwatch.inventory.output.ocsf import render_ocsf

        return render_ocsf(inventory)
    if chosen is InventoryFormat.HTML:
        from iamwatch.inventory.output.html import render_html

        return render_html(inventory)
    return render_jsonl(inventory)
