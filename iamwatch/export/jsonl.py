"""JSON Lines export: one finding per line, the ``scan --format jsonl`` fields plus delivery."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from iamwatch.export import ExportedFinding


def render_jsonl(rows: Iterable[ExportedFinding]) -> bytes:
    return b"".join(orjson.dumps(row.as_json()) + b"\n" for row in rows)
