"""Tools a user might reach for instead of ``iamwatch scan``, doing the part of its work they can:
selecting the records whose eventName is one the detectors listen for (the names come from the
detector registry). Each runs as its own process, measured like the scan from outside.

    python -m bench.peers duckdb DIR...   # DuckDB read_json over the gzip log files
    python -m bench.peers names           # the event names, one per line (for jq)

DuckDB reads every file with ``read_json_auto`` (gzip detected from the name, the schema
inferred), unnests ``Records`` and counts those whose eventName is in the list, with as many
threads as DuckDB wants (all cores, its default: what a user
gets). Prints one JSON object: files, records selected, seconds after start-up. jq is run by
``bench.run`` as ``gzip -dc FILES | jq -c 'select-by-name'`` (see ``jq_script``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

import orjson

from bench.floor import log_files


def event_names() -> list[str]:
    """Every eventName some detector declares, sorted."""
    from detectors import REGISTRY

    return sorted(
        {name for item in REGISTRY for names in item.meta.events.values() for name in names}
    )


def duckdb_query(paths: Sequence[str], names: Sequence[str]) -> tuple[str, list[object]]:
    """The query a user would write first: ``read_json_auto`` infers the records' schema
    (fastest of the forms tried: also explicit JSON[] and STRUCT columns), then a filter."""
    files = [str(path) for path in log_files(paths)]
    placeholders = ", ".join("?" for _ in names)
    # Only "?" placeholders are formatted in; the names are bound as parameters.
    query = (
        "SELECT count(*) FROM (SELECT unnest(Records) AS r FROM "  # noqa: S608
        "read_json_auto(?, maximum_object_size = 268435456)) "
        f"WHERE r.eventName IN ({placeholders})"
    )
    return query, [files, *names]


def run_duckdb(paths: Sequence[str]) -> dict[str, object]:
    import duckdb

    names = event_names()
    query, parameters = duckdb_query(paths, names)
    started = time.perf_counter()
    connection = duckdb.connect()
    row = connection.execute(query, parameters).fetchone()
    seconds = time.perf_counter() - started
    files = parameters[0]
    assert isinstance(files, list)
    return {"files": len(files), "selected": row[0] if row else 0, "seconds": seconds}


def jq_script(names: Sequence[str]) -> str:
    """The jq program: every record of each log file whose eventName is one of ``names``."""
    wanted = orjson.dumps(dict.fromkeys(names, True)).decode()
    return f".Records[] | select({wanted}[.eventName] == true)"


def main(argv: Sequence[str]) -> int:
    if not argv:
        raise SystemExit("usage: python -m bench.peers {duckdb DIR...|names}")
    if argv[0] == "names":
        sys.stdout.write("\n".join(event_names()) + "\n")
        return 0
    if argv[0] == "duckdb":
        sys.stdout.write(orjson.dumps(run_duckdb(argv[1:])).decode() + "\n")
        return 0
    raise SystemExit(f"unknown peer {argv[0]!r}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
