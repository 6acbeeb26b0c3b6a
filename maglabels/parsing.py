"""Documents -> one normalised batch per chunk, in this process or in worker processes.

Reading a label and interpreting its rows is per-document Python (about 90 us a label) and it
was most of an ingest's CPU, on one core, sharing the GIL with the archive writer and the DuckDB
loader. ``Parsers`` sends a chunk's documents, in contiguous slices, to worker processes, which
return each slice's ``NormalizedBatch`` (pickled frames: ~30 ms for 5,000 labels) and what became
of each document. The main process keeps everything with side effects: the archive, the skip
check, the warehouse. The result is the same as parsing the chunk here (tested): the slices'
frames are concatenated in order and a label repeated in a later slice loses, as within a batch.

Workers start from a fork server that has imported the normaliser once (``parse_server``), never
by forking this process: the loader and archive threads may hold locks. Slices and results travel
as files in a private temp dir (``_parse_file``). If a worker dies (killed, out of memory), its
slice is parsed here and the rest of the run stays here.
Like any multiprocessing code, a script that ingests through these functions needs the
``if __name__ == "__main__":`` guard (a worker's start re-imports the main module); the
``maglabels`` command and ``python -m maglabels`` are safe.
"""
from __future__ import annotations

import gc
import itertools
import logging
import os
import pickle
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import pandas as pd

from . import parse_server
from .normalize.contract import FRAMES, NormalizedBatch
from .scrapers.files import FLAT_KIND, NOT_A_LABEL, document_kind, loads

if TYPE_CHECKING:
    from .normalize.model import Label, LabelRecord
    from .scrapers.archive import ArchiveRecord

log = logging.getLogger(__name__)

MIN_PARALLEL = 1000  # documents to parse below which a chunk stays in this process (a worker's start costs more)


class ParseItem(NamedTuple):
    """One document to parse, with what the parser needs to know of it (picklable)."""

    url: str  # as the archive stores it
    body: bytes
    sha256: str
    kind: str  # archive kind; "" for a file's document, whose kind its JSON decides
    saved: bool  # a saved file (no HTTP status): a page's identity then comes from its canonical link
    data: Any = None  # the parsed JSON, when reading the file parsed it already


def item_of(record: ArchiveRecord, body: bytes) -> ParseItem:
    """The parse item of an archived document."""
    return ParseItem(record.url, body, record.sha256, record.kind, record.status is None)


@dataclass
class ParsedSlice:
    batch: NormalizedBatch
    outcomes: list[tuple[str, str | None]]  # per item: (its kind, "" when unknown; the problem, None when read)


def read_label(item: ParseItem) -> Label | LabelRecord:
    """The label of one document of known kind; raises on anything wrong with it."""
    if item.kind == "page":
        from .normalize.html import parse_page  # selectolax only when pages are present

        return parse_page(item.body, url=item.url, raw_sha256=item.sha256, saved=item.saved).label
    data = item.data if item.data is not None else loads(item.body)  # ValueError with the reason when not JSON
    if item.kind == FLAT_KIND:
        from .normalize.flat_dsld import read_flat_product

        return read_flat_product(data, raw_sha256=item.sha256, url=item.url)
    from .normalize.dsld_label import parse_label

    return parse_label(data, raw_sha256=item.sha256, url=item.url)


def _read(item: ParseItem, labels: list[Label | LabelRecord]) -> tuple[str, str | None]:
    kind, data = item.kind, item.data
    if not kind:  # a file's document: its JSON says what it is
        try:
            data = data if data is not None else loads(item.body)
        except ValueError as exc:
            return "", str(exc)
        kind = document_kind(data)
        if not kind:
            return "", NOT_A_LABEL
    try:
        labels.append(read_label(item._replace(kind=kind, data=data)))
    except (Exception, RecursionError) as exc:  # one bad document must not lose the rest of the run
        return kind, f"{type(exc).__name__}: {exc}"
    return kind, None


def parse_items(items: list[ParseItem]) -> ParsedSlice:
    """Read and normalise ``items`` (in a worker or here); a document that cannot be read is an
    outcome with its reason, never an exception."""
    from .normalize.batch import normalize_labels

    labels: list[Label | LabelRecord] = []
    outcomes = [_read(item, labels) for item in items]
    return ParsedSlice(normalize_labels(labels), outcomes)


def empty_batch() -> NormalizedBatch:
    """A batch with nothing to load."""
    return NormalizedBatch(**{name: pd.DataFrame() for name in FRAMES})


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One frame, with the dtypes one normalize_labels call would infer (a column that is all None
    in one slice is object there: concatenated with str, it would stay object)."""
    rows = [f for f in frames if len(f)]  # concatenating empty frames is deprecated in pandas
    if len(rows) < 2:
        return (rows or frames)[0].reset_index(drop=True)
    return pd.concat(rows, ignore_index=True).infer_objects()


def merge(parts: list[ParsedSlice]) -> ParsedSlice:
    """The slices of one chunk as one: frames in slice order; a (source, source_id) that an
    earlier slice has already given is dropped from later ones, as normalize_labels keeps the
    first label seen for it within a batch."""
    if len(parts) == 1:
        return parts[0]
    seen: set[tuple[str, str]] = set()
    frames: dict[str, list[pd.DataFrame]] = {name: [] for name in FRAMES}
    for part in parts:
        ids = set(zip(part.batch.labels["source"], part.batch.labels["source_id"], strict=True))
        repeated = ids & seen
        seen |= ids
        for name in FRAMES:
            frame = getattr(part.batch, name)
            if repeated and len(frame):
                frame = frame[[key not in repeated for key in zip(frame["source"], frame["source_id"], strict=True)]]
            frames[name].append(frame)
    batch = NormalizedBatch(**{name: _concat(f) for name, f in frames.items()})
    return ParsedSlice(batch, [o for part in parts for o in part.outcomes])


def _warm() -> None:
    """Worker start: import the normaliser (a no-op when the fork server has it already); collect
    cycles as seldom as the main process does while it ingests (``loading._fewer_collections``:
    a chunk allocates millions of small acyclic objects), and never scan what the import made."""
    from .normalize import batch, flat_dsld  # noqa: F401

    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def _parse_file(path: str) -> str:
    """A worker's task: parse the items pickled in ``path``; the result is pickled into
    ``path + ".out"``, whose name it returns. Through the pool's pipes, a chunk's 15 MB of bodies
    could only be written while the worker was reading them, i.e. idle between two chunks, and its
    results only as fast as the main process, busy, read them (~0.1 s a chunk, 2.3 s of the
    corpus' ingest); files are written and read while the other side works."""
    with open(path, "rb") as fh:
        items = pickle.load(fh)
    os.unlink(path)
    with open(path + ".out", "wb") as fh:
        pickle.dump(parse_items(items), fh, protocol=pickle.HIGHEST_PROTOCOL)
    return path + ".out"


def _unspill(path: str) -> ParsedSlice:
    with open(path, "rb") as fh:
        parsed = pickle.load(fh)
    os.unlink(path)
    return parsed


class Parsers:
    """Where chunks are parsed: ``workers`` processes (0: this process). Use as a context manager."""

    def __init__(self, workers: int = 0, *, min_parallel: int | None = None) -> None:
        self.workers = max(0, workers)
        self.min_parallel = MIN_PARALLEL if min_parallel is None else min_parallel
        self._pool: ProcessPoolExecutor | None = None
        self._spill_dir: tempfile.TemporaryDirectory | None = None
        self._spilled = itertools.count()

    def __enter__(self) -> Parsers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._spill_dir is not None:  # slices a dead worker never read
            self._spill_dir.cleanup()
            self._spill_dir = None

    def _spill(self, items: list[ParseItem]) -> str:
        """``items`` pickled into a file of their own, for a worker to read (see ``_parse_file``)."""
        if self._spill_dir is None:
            self._spill_dir = tempfile.TemporaryDirectory(prefix="maglabels-parse-")
        path = os.path.join(self._spill_dir.name, f"{next(self._spilled)}.pickle")
        with open(path, "wb") as fh:
            pickle.dump(items, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return path

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=parse_server.context(), initializer=_warm)
        return self._pool

    def submit(self, items: list[ParseItem]) -> Callable[[], ParsedSlice]:
        """Start parsing ``items``; the returned function waits for (or, here, does) the work."""
        if not items:  # everything was skipped: no normaliser needed (its import alone takes ~1.7 s)
            return lambda: ParsedSlice(empty_batch(), [])
        if not self.workers or len(items) < self.min_parallel:
            return lambda: parse_items(items)
        step = -(-len(items) // self.workers)
        slices = [items[i:i + step] for i in range(0, len(items), step)]
        pool = self._executor()
        futures = [pool.submit(_parse_file, self._spill(part)) for part in slices]
        return lambda: merge([self._result(future, part) for future, part in zip(futures, slices, strict=True)])

    def _result(self, future: Future, part: list[ParseItem]) -> ParsedSlice:
        try:
            return _unspill(future.result())
        except BrokenProcessPool as exc:  # a worker died (killed, out of memory): parse here from now on
            if self.workers:
                log.warning("a parse worker died (%s); parsing in this process from now on", exc)
                self.close()
                self.workers = 0
            return parse_items(part)
