"""Reading sources on every core: worker processes inflate, decode and prefilter; the parent
gets, in source order, exactly what ``read_source`` would have yielded (the records some
detector wants, the problems, counts of the rest) and runs detection itself.

Detection stays in one process and in input order, so findings, their ids and their order are
those of a one-process scan, and stateful detectors (sequences, sign-in failures) see every
record they need. The prefilter drops about 99% of records, so what crosses between processes
is small; the parent holds at most ``2 x jobs`` files' results at a time, so memory stays flat
whatever the size of the input. Standard input is one stream: the parent cuts it into chunks of
whole lines for the workers when it is JSON Lines, and reads it itself otherwise.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult, Pool
from typing import Any

from iamwatch.sources import (
    ByteCounter,
    Prefilter,
    Problem,
    RawRecord,
    Skipped,
    Source,
    StdinSplitter,
    read_lines_from,
    read_source,
)

Item = RawRecord | Problem | Skipped

# Bytes of standard input (whole lines) per chunk handed to a worker.
_CHUNK_BYTES = 8 * 1024 * 1024

# Set in the parent before the workers are forked (or by their initializer where processes
# are spawned): the prefilter, and a counter of bytes read that the parent's progress shows.
_prefilter: Prefilter | None = None
_bytes_read: Any = None


@dataclass(frozen=True, slots=True)
class _Result:
    items: list[Item]
    bytes_read: int


def _spawned_worker() -> None:
    global _prefilter
    from detectors import REGISTRY

    _prefilter = REGISTRY.wants


def _report(counter: ByteCounter) -> Callable[[int], None]:
    last = [0]

    def watcher(total: int) -> None:
        if _bytes_read is not None:
            with _bytes_read.get_lock():
                _bytes_read.value += total - last[0]
        last[0] = total

    return watcher


def _compact(items: Iterable[Item]) -> list[Item]:
    """Runs of skipped records as one count: the bulk of a file, sent as a number."""
    out: list[Item] = []
    for item in items:
        if isinstance(item, Skipped) and out and isinstance(out[-1], Skipped):
            out[-1] = Skipped(out[-1].count + item.count)
        else:
            out.append(item)
    return out


def _read_file(source: Source) -> _Result:
    assert _prefilter is not None
    counter = ByteCounter(step=1024 * 1024)
    counter.watcher = _report(counter)
    items = _compact(read_source(source, counter, prefilter=_prefilter))
    if counter.watcher is not None:
        counter.watcher(counter.total)
    return _Result(items, counter.total)


def _read_chunk(name: str, first_line: int, data: bytes) -> _Result:
    assert _prefilter is not None
    return _Result(_compact(read_lines_from(name, data, first_line, _prefilter)), len(data))


def read_sources(
    sources: Iterable[Source], prefilter: Prefilter, jobs: int, counter: ByteCounter
) -> Iterator[tuple[Source, Iterator[Item]]]:
    """Each source with what ``read_source`` yields for it, read by ``jobs`` processes."""
    global _prefilter, _bytes_read
    _prefilter = prefilter
    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    _bytes_read = context.Value("q", 0)
    initializer = None if context.get_start_method() == "fork" else _spawned_worker
    with context.Pool(jobs, initializer=initializer) as pool:
        window: deque[tuple[Source, AsyncResult[_Result]]] = deque()
        for source in sources:
            if source.kind == "stdin":
                yield from _drain(window, counter)
                yield source, _stdin(source, pool, jobs, counter, prefilter)
                continue
            window.append((source, pool.apply_async(_read_file, (source,))))
            if len(window) >= 2 * jobs:
                yield from _drain(window, counter, keep=2 * jobs - 1)
        yield from _drain(window, counter)


def _drain(
    window: deque[tuple[Source, AsyncResult[_Result]]], counter: ByteCounter, keep: int = 0
) -> Iterator[tuple[Source, Iterator[Item]]]:
    while len(window) > keep:
        source, pending = window.popleft()
        while not pending.ready():
            pending.wait(0.2)
            _show_progress(counter)
        result = pending.get()
        _show_progress(counter)
        yield source, iter(result.items)


def _show_progress(counter: ByteCounter) -> None:
    """The parent's byte counter follows what the workers have read (for the progress bar)."""
    if _bytes_read is None:
        return
    read = int(_bytes_read.value)
    if read > counter.total:
        counter.add(read - counter.total)


def _stdin(
    source: Source, pool: Pool, jobs: int, counter: ByteCounter, prefilter: Prefilter
) -> Iterator[Item]:
    """Standard input: JSON Lines cut into chunks of whole lines for the workers; anything
    else (one JSON document over many lines) read here, as it cannot be cut."""
    splitter = StdinSplitter(source.name, source.open(), counter)
    if not splitter.json_lines:
        yield from splitter.items(prefilter)
        return
    window: deque[AsyncResult[_Result]] = deque()
    for chunk in splitter.chunks(_CHUNK_BYTES):
        window.append(pool.apply_async(_read_chunk, (source.name, chunk.first_line, chunk.data)))
        while len(window) >= 2 * jobs:
            yield from window.popleft().get().items
    while window:
        yield from window.popleft().get().items


__all__ = ["read_sources"]
