"""Reading CloudTrail records from files, directories, stdin and S3, one record at a time.

Accepted shapes, sniffed from content rather than trusted from file names:
CloudTrail log files (``{"Records": [...]}``, plain or gzip), JSON Lines of records or of
EventBridge events, a single (possibly pretty-printed) record, event or array of them.
JSON Lines are streamed line by line so memory stays flat on inputs of any size; a CloudTrail
log file is parsed whole, as AWS keeps each one small. Anything unreadable becomes a
``Problem`` naming the place, and reading goes on.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

_GZIP_MAGIC = b"\x1f\x8b"
_LOG_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
# Digest and Insights files live beside the logs in the S3 layout but are not API records.
_SKIPPED_DIRECTORIES = frozenset({"CloudTrail-Digest", "CloudTrail-Insight"})


class InputError(Exception):
    """A path given on the command line cannot be used at all."""


@dataclass(frozen=True, slots=True)
class Location:
    source: str
    position: str = ""

    def __str__(self) -> str:
        return f"{self.source}: {self.position}" if self.position else self.source


@dataclass(frozen=True, slots=True)
class RawRecord:
    location: Location
    data: Any


@dataclass(frozen=True, slots=True)
class Problem:
    location: Location
    reason: str


@dataclass(frozen=True, slots=True)
class Source:
    """One readable input: a local file, stdin or an S3 object."""

    name: str
    size: int | None
    kind: str  # "file", "stdin" or "s3"
    bucket: str | None = None
    key: str | None = None

    def open(self) -> IO[bytes]:
        if self.kind == "stdin":
            return sys.stdin.buffer
        if self.kind == "s3":
            return _open_s3_object(self.bucket or "", self.key or "")
        return Path(self.name).open("rb")


class ByteCounter:
    """Counts the raw (compressed) bytes read, for progress and throughput figures."""

    def __init__(self) -> None:
        self.total = 0


class _CountingReader(io.RawIOBase):
    def __init__(self, inner: IO[bytes], counter: ByteCounter) -> None:
        self._inner = inner
        self._counter = counter

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self._counter.total += size
        return size


def expand(paths: Sequence[str]) -> Iterator[Source]:
    """Turn command-line paths into sources; directories are walked in sorted order."""
    for path in paths:
        if path == "-":
            yield Source(name="<stdin>", size=None, kind="stdin")
        elif path.startswith("s3://"):
            yield from _expand_s3(path)
        else:
            yield from _expand_local(Path(path))


def check_paths(paths: Sequence[str]) -> None:
    for path in paths:
        if path == "-" or path.startswith("s3://"):
            continue
        if not Path(path).exists():
            raise InputError(f"{path}: no such file or directory")


def _expand_local(path: Path) -> Iterator[Source]:
    if path.is_file():
        yield Source(name=str(path), size=path.stat().st_size, kind="file")
        return
    if not path.is_dir():
        raise InputError(f"{path}: no such file or directory")
    for root, directories, files in os.walk(path):
        directories[:] = sorted(
            d for d in directories if d not in _SKIPPED_DIRECTORIES and not d.startswith(".")
        )
        for name in sorted(files):
            if name.endswith(_LOG_SUFFIXES):
                file_path = Path(root) / name
                yield Source(name=str(file_path), size=file_path.stat().st_size, kind="file")


def _expand_s3(url: str) -> Iterator[Source]:
    import boto3  # only S3 scans pay for importing boto3

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise InputError(f"{url}: expected s3://bucket/prefix")
    client = boto3.client("s3")
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if any(f"/{skipped}/" in f"/{key}" for skipped in _SKIPPED_DIRECTORIES):
                continue
            if key.endswith(_LOG_SUFFIXES):
                yield Source(
                    name=f"s3://{bucket}/{key}",
                    size=item.get("Size"),
                    kind="s3",
                    bucket=bucket,
                    key=key,
                )


def _open_s3_object(bucket: str, key: str) -> IO[bytes]:
    import boto3

    body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    return io.BufferedReader(_StreamingBodyReader(body))


class _StreamingBodyReader(io.RawIOBase):
    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def read_source(
    source: Source, counter: ByteCounter | None = None
) -> Iterator[RawRecord | Problem]:
    """Every record in one source, or a ``Problem`` for what cannot be read."""
    try:
        raw = source.open()
    except OSError as error:
        yield Problem(Location(source.name), f"cannot open: {error.strerror or error}")
        return
    try:
        yield from _read_stream(source.name, raw, counter)
    finally:
        if source.kind != "stdin":
            raw.close()


def _read_stream(
    name: str, raw: IO[bytes], counter: ByteCounter | None
) -> Iterator[RawRecord | Problem]:
    buffered = io.BufferedReader(_CountingReader(raw, counter or ByteCounter()))
    text: io.BufferedIOBase = buffered
    if buffered.peek(2)[:2] == _GZIP_MAGIC:
        text = gzip.GzipFile(fileobj=buffered, mode="rb")
    line_number = 0
    try:
        for line in text:
            line_number += 1
            stripped = line.strip()
            if not stripped:
                continue
            try:
                document = orjson.loads(stripped)
            except orjson.JSONDecodeError as error:
                if line_number == 1 and stripped[:1] in (b"{", b"["):
                    # Not JSON Lines: a pretty-printed document spread over many lines.
                    yield from _read_whole_document(name, stripped + b"\n" + text.read())
                    return
                yield Problem(Location(name, f"line {line_number}"), _json_reason(error))
                continue
            yield from _records_in(name, document, line_number)
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as error:
        yield Problem(
            Location(name, f"after line {line_number}"),
            f"unreadable compressed data ({type(error).__name__}: {error}); rest of file skipped",
        )


def _read_whole_document(name: str, data: bytes) -> Iterator[RawRecord | Problem]:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        yield Problem(Location(name), _json_reason(error))
        return
    yield from _records_in(name, document, None)


def _json_reason(error: orjson.JSONDecodeError) -> str:
    message = str(error).split(":", 1)[0]
    return f"not valid JSON ({message})"


def _records_in(name: str, document: Any, line: int | None) -> Iterator[RawRecord | Problem]:
    prefix = f"line {line}, " if line is not None and line > 1 else ""
    if isinstance(document, dict) and "Records" in document:
        records = document["Records"]
        if not isinstance(records, list):
            yield Problem(Location(name, f"{prefix}Records"), "Records is not a list")
            return
        yield from _each(name, records, prefix)
    elif isinstance(document, list):
        yield from _each(name, document, prefix)
    else:
        where = Location(name, f"line {line}" if line is not None else "")
        yield _unwrap(where, document)


def _each(name: str, records: Iterable[Any], prefix: str) -> Iterator[RawRecord | Problem]:
    for index, item in enumerate(records, start=1):
        yield _unwrap(Location(name, f"{prefix}record {index}"), item)


def _unwrap(location: Location, item: Any) -> RawRecord | Problem:
    if not isinstance(item, dict):
        return Problem(location, f"expected a JSON object, got {_json_type(item)}")
    if "detail" in item and "detail-type" in item:
        detail = item["detail"]
        if not isinstance(detail, dict):
            return Problem(location, "EventBridge event without an object detail")
        return RawRecord(location, detail)
    return RawRecord(location, item)


def _json_type(value: Any) -> str:
    names = {
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
        list: "an array",
    }
    if value is None:
        return "null"
    return names.get(type(value), type(value).__name__)
