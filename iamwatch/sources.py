"""Reading CloudTrail records from files, directories, stdin and S3, one record at a time.

Accepted shapes, sniffed from content rather than trusted from file names:
CloudTrail log files (``{"Records": [...]}``, plain or gzip), JSON Lines of records or of
EventBridge events, a single (possibly pretty-printed) record, event or array of them.
JSON Lines are streamed line by line so memory stays flat on inputs of any size; a CloudTrail
log file is parsed whole, as AWS keeps each one small. Anything unreadable becomes a
``Problem`` naming the place, and reading goes on.

Given a prefilter (what ``Engine.wants`` tests), records no detector wants are rejected by a
fast path before they are built: see ``_fast_records``. The results are the same either way,
with one deliberate exception: a number too large for a double in a record no detector wants
is not reported, where the ordinary path rejects the whole line or file it is in.
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, cast, overload

import msgspec
import orjson

_GZIP_WBITS = 16 + zlib.MAX_WBITS


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    @property
    def unconsumed_tail(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = 0, /) -> bytes: ...


def _zlib_decompressor() -> _Decompressor:
    return zlib.decompressobj(_GZIP_WBITS)


_new_decompressor: Callable[[], _Decompressor] = _zlib_decompressor
_INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error,)
try:  # ISA-L inflates gzip 2-3x faster than zlib, with the same interface and checks.
    from isal import isal_zlib
except ImportError:  # pragma: no cover - isal is an optional accelerator
    pass
else:

    def _isal_decompressor() -> _Decompressor:
        return isal_zlib.decompressobj(_GZIP_WBITS)

    _new_decompressor = _isal_decompressor
    _INFLATE_ERRORS = (zlib.error, cast(type[Exception], isal_zlib.error))

# What ends reading a stream early: truncated or corrupt compressed data (for good), or an
# I/O error (perhaps for now).
_CORRUPT: tuple[type[Exception], ...] = (EOFError, gzip.BadGzipFile, *_INFLATE_ERRORS)
_STREAM_ERRORS: tuple[type[Exception], ...] = (*_CORRUPT, OSError)
_GZIP_MAGIC = b"\x1f\x8b"
_READ_SIZE = 1024 * 1024
# Decompressed bytes per step, so a small hostile gzip cannot inflate all at once; a whole
# CloudTrail log file (a few MB) still comes out in one piece.
_MAX_OUTPUT = 16 * 1024 * 1024
# Digest and Insights files live beside the logs in the S3 layout but are not API records.
_SKIPPED_DIRECTORIES = frozenset({"CloudTrail-Digest", "CloudTrail-Insight"})
# A JSON document holding none of these at its top is something else (an IAM authorization
# details file beside the logs, a manifest): skipped as not CloudTrail, not malformed.
_CLOUDTRAIL_KEYS = frozenset({"Records", "eventSource", "eventName", "eventTime", "detail"})


class InputError(Exception):
    """A path given on the command line cannot be used at all."""


class SourceUnreadable(Exception):
    """An input could not be read at all (S3 or network errors, a missing bucket, permission
    denied): the message names the source and the cause, in one line."""


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
    # The source could not be opened or read (an I/O error), rather than holding something
    # unreadable: reading it again may succeed.
    transient: bool = False
    # The whole source is not JSON (a text or binary file): not CloudTrail at all.
    not_json: bool = False


@dataclass(frozen=True, slots=True)
class Skipped:
    """Records the prefilter rejected: counted, never built."""

    count: int


_SKIPPED_ONE = Skipped(1)

# (event source, event name, userIdentity.type) -> does any detector want the record?
Prefilter = Callable[[str, str, str | None], bool]


@dataclass(frozen=True, slots=True)
class Source:
    """One readable input: a local file, stdin or an S3 object."""

    name: str
    size: int | None
    kind: str  # "file", "stdin" or "s3"
    bucket: str | None = None
    key: str | None = None
    # Why this part of a directory could not even be listed (permission denied).
    error: str | None = None

    def open(self) -> IO[bytes]:
        if self.error is not None:
            raise OSError(self.error)
        if self.kind == "stdin":
            return sys.stdin.buffer
        if self.kind == "s3":
            return _open_s3_object(self.bucket or "", self.key or "")
        return Path(self.name).open("rb")


class ByteCounter:
    """Counts the raw (compressed) bytes read, for progress and throughput figures; a
    ``watcher`` hears of every ``step`` bytes, so a progress bar moves within a large file."""

    def __init__(
        self, watcher: Callable[[int], None] | None = None, step: int = 1024 * 1024
    ) -> None:
        self.total = 0
        self.watcher = watcher
        self.step = step
        self._next = step

    def add(self, size: int) -> None:
        self.total += size
        if self.watcher is not None and self.total >= self._next:
            self._next = self.total + self.step
            self.watcher(self.total)


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
        self._counter.add(size)
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
    """A file, or every file under a directory in sorted order, whatever its name: what each
    holds is sniffed when it is read. Hidden files and folders, and the digest and Insights
    folders of the S3 layout, are left out; a folder that cannot be listed is a source that
    cannot be read."""
    if path.is_file():
        yield Source(name=str(path), size=path.stat().st_size, kind="file")
        return
    if not path.is_dir():
        raise InputError(f"{path}: no such file or directory")
    unlisted: list[OSError] = []
    for root, directories, files in os.walk(path, onerror=unlisted.append):
        while unlisted:
            error = unlisted.pop()
            name = str(error.filename or root)
            yield Source(name=name, size=None, kind="file", error=error.strerror or str(error))
        directories[:] = sorted(
            d for d in directories if d not in _SKIPPED_DIRECTORIES and not d.startswith(".")
        )
        for name in sorted(files):
            if name.startswith("."):
                continue
            file_path = Path(root) / name
            try:
                size = file_path.stat().st_size
            except OSError:
                size = None
            yield Source(name=str(file_path), size=size, kind="file")
    for error in unlisted:
        name = str(error.filename or path)
        yield Source(name=name, size=None, kind="file", error=error.strerror or str(error))


def _expand_s3(url: str) -> Iterator[Source]:
    """The objects under an S3 prefix; digests and Insights files are not API records. A
    listing that fails (no credentials, no network, no bucket, no permission) raises
    ``SourceUnreadable`` with the cause in one line."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise InputError(f"{url}: expected s3://bucket/prefix")
    try:
        client = s3_client()
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if any(f"/{skipped}/" in f"/{key}" for skipped in _SKIPPED_DIRECTORIES):
                    continue
                yield Source(
                    name=f"s3://{bucket}/{key}",
                    size=item.get("Size"),
                    kind="s3",
                    bucket=bucket,
                    key=key,
                )
    except (BotoCoreError, ClientError) as error:
        raise SourceUnreadable(f"{url}: {aws_error_reason(error, 's3:ListBucket')}") from None


def aws_error_reason(error: Exception, action: str) -> str:
    """What went wrong with an AWS call, in words a user can act on, without a traceback."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return "no AWS credentials (configure them, or pass --profile)"
    if isinstance(error, NoRegionError):
        return "no AWS region (set AWS_REGION, or pass --region)"
    if isinstance(error, EndpointConnectionError):
        return f"cannot reach AWS ({error})"
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", "error"))
        message = str(error.response.get("Error", {}).get("Message", "")).strip()
        if code in {"AccessDenied", "AccessDeniedException", "403", "Forbidden"}:
            return f"access denied ({action} not allowed)"
        if code in {"NoSuchBucket", "NoSuchKey", "404", "NotFound"}:
            return {"NoSuchKey": "no such object", "NoSuchBucket": "no such bucket"}.get(
                code, "not found"
            )
        return f"{code}: {message}" if message else code
    return f"{type(error).__name__}: {error}"


# What boto3 builds a client from, besides its default session: a client is reused only while
# these are unchanged (a CLI --profile, a test pointing at another endpoint).
_CLIENT_ENVIRONMENT = (
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SESSION_TOKEN",
)
_s3_clients: dict[tuple[object, ...], Any] = {}


def s3_client() -> Any:
    """One S3 client per process and configuration: making one costs tens of milliseconds (more
    than reading a typical log file), and a backfill or an S3 scan reads thousands of objects."""
    import boto3  # only S3 scans pay for importing boto3

    key = (id(boto3.DEFAULT_SESSION), *(os.environ.get(name) for name in _CLIENT_ENVIRONMENT))
    client = _s3_clients.get(key)
    if client is None:
        _s3_clients.clear()
        client = _s3_clients[key] = boto3.client("s3")
    return client


def _open_s3_object(bucket: str, key: str) -> IO[bytes]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        body = s3_client().get_object(Bucket=bucket, Key=key)["Body"]
    except (BotoCoreError, ClientError) as error:
        raise OSError(aws_error_reason(error, "s3:GetObject")) from None
    return io.BufferedReader(_StreamingBodyReader(body))


class _StreamingBodyReader(io.RawIOBase):
    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        from botocore.exceptions import BotoCoreError

        try:
            data = self._body.read(len(buffer))
        except BotoCoreError as error:  # a dropped connection or a read timeout mid-object
            raise OSError(f"{type(error).__name__}: {error}") from None
        buffer[: len(data)] = data
        return len(data)


@overload
def read_source(
    source: Source, counter: ByteCounter | None = None
) -> Iterator[RawRecord | Problem]: ...


@overload
def read_source(
    source: Source, counter: ByteCounter | None = None, *, prefilter: Prefilter
) -> Iterator[RawRecord | Problem | Skipped]: ...


def read_source(
    source: Source, counter: ByteCounter | None = None, *, prefilter: Prefilter | None = None
) -> Iterator[RawRecord | Problem | Skipped]:
    """Every record in one source, or a ``Problem`` for what cannot be read.

    With a ``prefilter``, plain records it rejects are counted in ``Skipped`` items instead of
    being built; everything else (wanted, odd or broken records) comes out exactly as without.
    """
    try:
        raw = source.open()
    except OSError as error:
        reason = f"cannot open: {error.strerror or error}"
        yield Problem(Location(source.name), reason, transient=True)
        return
    try:
        yield from _read_stream(source.name, raw, counter or ByteCounter(), prefilter)
    finally:
        if source.kind != "stdin":
            raw.close()


def _read_stream(
    name: str, raw: IO[bytes], counter: ByteCounter, prefilter: Prefilter | None
) -> Iterator[RawRecord | Problem | Skipped]:
    yield from _read_chunks(name, _sniffed(_decompressed(raw, counter)), prefilter)


def read_lines_from(
    name: str, data: bytes, first_line: int, prefilter: Prefilter | None
) -> Iterator[RawRecord | Problem | Skipped]:
    """The records of a piece of a JSON Lines stream (whole lines, the first being line
    ``first_line`` of the stream), for a worker reading part of standard input."""
    yield from _read_chunks(name, iter([data]), prefilter, first_line=first_line)


@dataclass(frozen=True, slots=True)
class LinesChunk:
    first_line: int
    data: bytes


class StdinSplitter:
    """Standard input for readers on several cores: when it is JSON Lines (its first line is a
    JSON value), it comes in chunks of whole lines that can be read apart; anything else (one
    document over many lines, or not JSON) is read in one piece, by ``items``."""

    def __init__(self, name: str, raw: IO[bytes], counter: ByteCounter) -> None:
        self.name = name
        self._chunks = _decompressed(raw, counter)
        self._head = b""
        try:
            for chunk in self._chunks:
                self._head += chunk
                if b"\n" in self._head.lstrip():
                    break
        except _STREAM_ERRORS:
            pass  # read again by ``items``, which reports it with its place
        first = self._head.lstrip().split(b"\n", 1)[0].strip()
        try:
            orjson.loads(first)
            self.json_lines = bool(first)
        except orjson.JSONDecodeError:
            self.json_lines = False

    def chunks(self, size: int) -> Iterator[LinesChunk]:
        lines = _Lines(itertools.chain([self._head], self._chunks))
        pending: list[bytes] = []
        start, held = 1, 0
        for line in lines:
            if not pending:
                start = lines.number
            pending.append(line)
            held += len(line) + 1
            if held >= size:
                yield LinesChunk(start, b"\n".join(pending))
                pending, held = [], 0
        if pending:
            yield LinesChunk(start, b"\n".join(pending))

    def items(self, prefilter: Prefilter | None) -> Iterator[RawRecord | Problem | Skipped]:
        chunks = _sniffed(itertools.chain([self._head], self._chunks))
        yield from _read_chunks(self.name, chunks, prefilter)


def _read_chunks(
    name: str, chunks: Iterator[bytes], prefilter: Prefilter | None, first_line: int = 1
) -> Iterator[RawRecord | Problem | Skipped]:
    lines = _Lines(chunks)
    lines.number = first_line - 1
    try:
        for line in lines:
            stripped = line.strip()
            if not stripped:
                continue
            if prefilter is not None:
                fast = _fast_records(name, stripped, lines.number, prefilter)
                if fast is not None:
                    yield from fast
                    continue
            try:
                document = orjson.loads(stripped)
            except orjson.JSONDecodeError as error:
                if lines.number == 1 and stripped[:1] in (b"{", b"["):
                    # Not JSON Lines: a pretty-printed document spread over many lines.
                    rest = lines.rest()
                    yield from _read_whole_document(name, stripped + b"\n" + rest, prefilter)
                    return
                yield Problem(Location(name, f"line {lines.number}"), _json_reason(error))
                continue
            yield from _records_in(name, document, lines.number)
    except NotJson as refusal:
        yield Problem(Location(name), str(refusal), not_json=True)
    except _CORRUPT as error:
        yield Problem(
            Location(name, f"after line {lines.number}"),
            f"unreadable compressed data ({type(error).__name__}: {error}); rest of file skipped",
        )
    except OSError as error:
        yield Problem(
            Location(name, f"after line {lines.number}"),
            f"read failed ({type(error).__name__}: {error}); rest of file skipped",
            transient=True,
        )


class NotJson(ValueError):
    """What a source holds is neither JSON nor gzip: not CloudTrail, so not read further."""


_UTF8_BOM = b"\xef\xbb\xbf"
_JSON_START = frozenset(b"{[")


def _sniffed(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The (decompressed) chunks of a stream whose content starts like JSON (``{`` or ``[``
    after blanks and a UTF-8 byte order mark); ``NotJson`` otherwise, so a binary or text file
    costs one line, not one per garbage line. An empty stream is empty, not an error."""
    head = b""
    for chunk in chunks:
        head += chunk
        body = head.lstrip()
        if body.startswith(_UTF8_BOM):
            body = body[len(_UTF8_BOM) :].lstrip()
        if not body:
            continue
        if body[0] not in _JSON_START:
            shown = body[:16].decode("ascii", "backslashreplace")
            raise NotJson(f"not JSON or gzip (starts with {shown!r})")
        yield body
        yield from chunks
        return


def _decompressed(raw: IO[bytes], counter: ByteCounter) -> Iterator[bytes]:
    """The content of a stream in chunks, gunzipped when it starts with the gzip magic.

    ``read1`` where there is one, so a pipe on stdin is processed as data arrives.
    """
    read = getattr(raw, "read1", raw.read)
    data = b""
    while len(data) < len(_GZIP_MAGIC):
        more = read(_READ_SIZE)
        if not more:
            break
        counter.add(len(more))
        data += more
    if data[:2] == _GZIP_MAGIC:
        yield from _gunzip(data, read, counter)
        return
    while data:
        yield data
        data = read(_READ_SIZE)
        counter.add(len(data))


def _gunzip(data: bytes, read: Callable[[int], bytes], counter: ByteCounter) -> Iterator[bytes]:
    """Decompress gzip members one after another (as ``gzip`` does, skipping zero padding
    between them), never more than ``_MAX_OUTPUT`` bytes at a time."""
    decompressor = _new_decompressor()
    fresh = True  # the current member has consumed no input yet
    while True:
        if fresh and data:
            data = data.lstrip(b"\x00")
            if data:
                if len(data) >= len(_GZIP_MAGIC) and data[:2] != _GZIP_MAGIC:
                    raise gzip.BadGzipFile(f"Not a gzipped file ({data[:2]!r})")
                fresh = False
        if data:
            out = decompressor.decompress(data, _MAX_OUTPUT)
            if out:
                yield out
            if decompressor.eof:
                data = decompressor.unused_data
                decompressor = _new_decompressor()
                fresh = True
                continue
            data = decompressor.unconsumed_tail
            if data:
                continue
        data = read(_READ_SIZE)
        if not data:
            break
        counter.add(len(data))
    if not fresh:
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")


class _Lines:
    """Lines (without their newline) from a stream of chunks; ``number`` counts those seen.

    A long line (a whole CloudTrail log file is one line) is joined once from its pieces.
    """

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._ready: list[bytes] = []
        self._next = 0
        self._pending: list[bytes] = []
        self.number = 0

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        while self._next >= len(self._ready):
            chunk = next(self._chunks, None)
            if chunk is None:
                if not self._pending:
                    raise StopIteration
                line = b"".join(self._pending)
                self._pending = []
                self.number += 1
                return line
            if b"\n" not in chunk:  # memchr; split() would walk a long line byte by byte
                self._pending.append(chunk)
                continue
            parts = chunk.split(b"\n")
            if self._pending:
                self._pending.append(parts[0])
                parts[0] = b"".join(self._pending)
            last = parts.pop()
            self._pending = [last] if last else []
            self._ready = parts
            self._next = 0
        line = self._ready[self._next]
        self._next += 1
        self.number += 1
        return line

    def rest(self) -> bytes:
        """Everything not yet returned as a line, newlines included."""
        lines = self._ready[self._next :]
        self._ready, self._next = [], 0
        tail = b"".join([*self._pending, *self._chunks])
        self._pending = []
        return b"\n".join([*lines, tail]) if lines else tail


def _read_whole_document(
    name: str, data: bytes, prefilter: Prefilter | None = None
) -> Iterator[RawRecord | Problem | Skipped]:
    if prefilter is not None:
        fast = _fast_records(name, data, None, prefilter)
        if fast is not None:
            yield from fast
            return
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        repaired = _repaired_utf8(data)
        if repaired is None:
            yield Problem(Location(name), _json_reason(error))
            return
        # One bad byte would otherwise cost every record of a CloudTrail log file (a single
        # JSON document): report it, and read the file with the byte replaced.
        offset, text = repaired
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError:
            yield Problem(Location(name), _json_reason(error))
            return
        yield Problem(
            Location(name, f"byte {offset}"),
            "invalid UTF-8, read as U+FFFD; the rest of the file was read",
        )
    yield from _records_in(name, document, None)


def _repaired_utf8(data: bytes) -> tuple[int, str] | None:
    """Where ``data`` first stops being UTF-8, and its text with every invalid byte replaced;
    ``None`` when it is valid UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start, data.decode("utf-8", "replace")
    return None


# The fast path. ``msgspec`` decodes a line or document into these few fields only, skipping
# everything else without building it, which is several times faster than building every
# record as dicts. Records the prefilter rejects are just counted; the rest are parsed again in
# full with orjson from their raw bytes and take exactly the same road as without a prefilter.
# Anything unexpected (a field of another type, a non-object record, an EventBridge envelope
# inside a log file, invalid JSON) makes the decode fail or the record be sent on, so the
# ordinary path reports it with the same words and location.


class _Identity(msgspec.Struct, gc=False):
    type: str | None = None


class _Probe(msgspec.Struct, gc=False):
    eventSource: str | msgspec.UnsetType = msgspec.UNSET
    eventName: str | msgspec.UnsetType = msgspec.UNSET
    userIdentity: _Identity | msgspec.UnsetType | None = msgspec.UNSET
    detail: _Probe | msgspec.UnsetType = msgspec.UNSET
    detail_type: msgspec.Raw | msgspec.UnsetType = msgspec.field(
        name="detail-type", default=msgspec.UNSET
    )
    Records: list[_Probe] | msgspec.UnsetType = msgspec.UNSET


class _RawRecords(msgspec.Struct, gc=False):
    Records: list[msgspec.Raw] | msgspec.UnsetType = msgspec.UNSET


_PROBE_DECODER = msgspec.json.Decoder(_Probe | list[_Probe])
_RAW_DECODER = msgspec.json.Decoder(_RawRecords | list[msgspec.Raw])


def _fast_records(
    name: str, data: bytes, line: int | None, prefilter: Prefilter
) -> list[RawRecord | Problem | Skipped] | None:
    """The records of one JSON text via the fast path, or ``None`` to take the ordinary one."""
    try:
        document = _PROBE_DECODER.decode(data)
    except (ValueError, RecursionError):  # msgspec.DecodeError, invalid UTF-8, deep nesting
        return None
    # msgspec does not check the UTF-8 of strings it skips; orjson rejects the whole text.
    if not data.isascii():
        try:
            data.decode()
        except UnicodeDecodeError:
            return None
    if isinstance(document, _Probe):
        if document.Records is msgspec.UNSET:
            # One record or EventBridge event on this line.
            if _skippable(document, prefilter):
                return [_SKIPPED_ONE]
            try:
                return list(_records_in(name, orjson.loads(data), line))
            except orjson.JSONDecodeError:
                return None
        records = document.Records
    else:
        records = document
    sent = [index for index, probe in enumerate(records) if not _skippable(probe, prefilter)]
    items: list[RawRecord | Problem | Skipped] = []
    if len(sent) < len(records):
        items.append(Skipped(len(records) - len(sent)))
    if sent:
        raw_document = _RAW_DECODER.decode(data)
        raws = raw_document if isinstance(raw_document, list) else raw_document.Records
        assert isinstance(raws, list)
        prefix = f"line {line}, " if line is not None and line > 1 else ""
        for index in sent:
            location = Location(name, f"{prefix}record {index + 1}")
            try:
                item = orjson.loads(memoryview(raws[index]))
            except orjson.JSONDecodeError as error:
                # Only what msgspec skips and orjson refuses, e.g. a number too big for a double.
                items.append(Problem(location, _json_reason(error)))
                continue
            items.append(_unwrap(location, item))
    return items


def _skippable(probe: _Probe, prefilter: Prefilter) -> bool:
    """A record (or the record in an EventBridge event) that no detector wants."""
    if probe.detail_type is not msgspec.UNSET:
        if probe.detail is msgspec.UNSET:
            return False
        probe = probe.detail
    source, event, identity = probe.eventSource, probe.eventName, probe.userIdentity
    if source is msgspec.UNSET or event is msgspec.UNSET:
        return False
    identity_type = identity.type if isinstance(identity, _Identity) else None
    return not prefilter(source, event, identity_type)


def _json_reason(error: orjson.JSONDecodeError) -> str:
    message = str(error).split(":", 1)[0]
    return f"not valid JSON ({message})"


def _records_in(name: str, document: Any, line: int | None) -> Iterator[RawRecord | Problem]:
    if line is None and isinstance(document, dict) and not _CLOUDTRAIL_KEYS & document.keys():
        yield Problem(Location(name), "JSON, but not CloudTrail records", not_json=True)
        return
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
