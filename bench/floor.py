"""The floor for a scan: gzip decompression plus orjson parsing of every record, and nothing else.

Run as its own process (``python -m bench.floor DIR...``) so it is measured the same way as
``iamwatch scan``: wall time, CPU time and peak RSS of a fresh interpreter. The floor is made
as fast as the standard library allows (one zlib call per gzip member, garbage collection
off, as nothing it builds outlives a file), so beating it means something. ``--isal`` inflates
with ISA-L instead, for comparison with a scan that does. ``--inflate-only`` is the limit of
any scan on one core: read each file and inflate it with ISA-L, nothing else (no parsing;
records are not counted). Prints one JSON object: files, records, compressed and inflated
bytes, and the seconds spent after start-up.
"""

from __future__ import annotations

import gc
import os
import sys
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import orjson

_GZIP_WBITS = 16 + zlib.MAX_WBITS


class Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, /) -> bytes: ...


NewDecompressor = Callable[[int], Decompressor]


def log_files(paths: Sequence[str]) -> Iterator[Path]:
    """The same files, in the same order, as ``iamwatch scan`` walks."""
    for given in paths:
        path = Path(given)
        if path.is_file():
            yield path
            continue
        for root, directories, files in os.walk(path):
            directories[:] = sorted(d for d in directories if not d.startswith("."))
            for name in sorted(files):
                if name.endswith((".json.gz", ".json")) and name != "manifest.json":
                    yield Path(root) / name


def gunzip(data: bytes, decompressobj: NewDecompressor = zlib.decompressobj) -> bytes:
    """Every gzip member of ``data``, each inflated in one call."""
    parts = []
    while data:
        decompressor = decompressobj(_GZIP_WBITS)
        parts.append(decompressor.decompress(data))
        if not decompressor.eof:
            raise EOFError("truncated gzip member")
        data = decompressor.unused_data.lstrip(b"\x00")
    return parts[0] if len(parts) == 1 else b"".join(parts)


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    decompressobj: NewDecompressor = zlib.decompressobj
    inflate_only = "--inflate-only" in args
    if inflate_only:
        args.remove("--inflate-only")
    if "--isal" in args or inflate_only:
        if "--isal" in args:
            args.remove("--isal")
        from isal import isal_zlib

        decompressobj = isal_zlib.decompressobj
    gc.disable()
    started = time.perf_counter()
    records = files = compressed = inflated = 0
    for path in log_files(args):
        data = path.read_bytes()
        compressed += len(data)
        text = gunzip(data, decompressobj) if data[:2] == b"\x1f\x8b" else data
        inflated += len(text)
        if not inflate_only:
            records += len(orjson.loads(text)["Records"])
        files += 1
    seconds = time.perf_counter() - started
    summary = {
        "files": files,
        "records": records,
        "bytes": compressed,
        "inflated_bytes": inflated,
        "seconds": seconds,
    }
    sys.stdout.write(orjson.dumps(summary).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
