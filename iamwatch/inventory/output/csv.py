"""The inventory as CSV: one row per identity, every cell safe from formula injection
(``iamwatch.export.csv.neutralise``), UTF-8 with a byte order mark for Excel."""

from __future__ import annotations

import csv
import io

import orjson

from iamwatch.export.csv import neutralise
from iamwatch.inventory.model import Inventory

COLUMNS = (
    "account",
    "user",
    "arn",
    "kind",
    "recommendation",
    "reason",
    "checks",
    "mfa",
    "console_last_used",
    "access_keys",
    "groups",
    "admin",
    "protected",
    "next_steps",
    "evidence",
)


def render_csv(inventory: Inventory, bom: bool = True) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in inventory.rows:
        evidence = row.evidence
        keys = "; ".join(
            f"{key['id'] or 'key ' + str(key['slot'])} "
            f"{'active' if key['active'] else 'inactive'} {key['age_days']}d"
            for key in evidence["access_keys"]
        )
        cells = (
            row.account or "",
            row.user,
            row.arn,
            row.kind.value,
            row.recommendation.value,
            row.reason,
            " ".join(row.checks),
            "yes" if evidence["mfa"] else "no",
            evidence["console"]["last_used"] or "",
            keys,
            " ".join(evidence["groups"]),
            "yes" if evidence["admin"] else "no",
            evidence["protected"] or "",
            "\n".join(row.next_steps),
            orjson.dumps(evidence, option=orjson.OPT_SORT_KEYS).decode(),
        )
        writer.writerow([neutralise(str(cell)) for cell in cells])
    text = buffer.getvalue()
    return ("\ufeff" + text if bom else text).encode("utf-8")
