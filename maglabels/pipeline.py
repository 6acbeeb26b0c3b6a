"""Wires the stages: documents -> archive -> Labels -> NormalizedBatch -> warehouse, in chunks.

The only modules that know both the scrapers and the normaliser are this one and ``parsing``
(which reads and normalises documents, here or in worker processes); neither stage knows the other.

Streaming: ``stream_chunks`` takes documents one at a time (``RawDocument`` read from files, not
yet archived, or ``ArchiveRecord`` already archived), ``chunk_size`` at a time: it asks the caller
which bodies are already loaded by the current ``NORMALIZER_VERSION`` (those are skipped before
they are parsed: no json.loads, no normalising, no load), has the rest parsed (``parsing.Parsers``),
archives them and yields one ``Chunk`` (a NormalizedBatch plus archive records and problems) at a
time, so memory stays flat however large the input. A file's document is archived once its JSON
has said what kind of document it is (a document that is not JSON or not a label is not archived).
Whether the chunks are loaded in one transaction is the caller's choice (the CLI does: a failed run
leaves the warehouse as it was).

Anything wrong with one document (unreadable file, invalid JSON, nesting too deep, not a label,
a parser exception) becomes a problem with a specific reason and a quarantine row
(``reason_code='unreadable_document'``); the rest goes on.
"""
from __future__ import annotations

import hashlib
import itertools
import logging
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TypeAlias

import orjson
import pandas as pd

from .normalize.contract import NormalizedBatch
from .normalize.version import NORMALIZER_VERSION
from .parsing import ParsedSlice, ParseItem, Parsers, item_of
from .scrapers.archive import Archive, ArchiveRecord
from .scrapers.files import FLAT_KIND, IngestError, RawDocument, archive_document
from .scrapers.gzipio import open_gzip
from .settings import Settings

log = logging.getLogger(__name__)

FLAT_CORPUS = "ingredient_scanner_magnesium_products.jsonl.gz"
NORMALIZABLE_KINDS = ("label", FLAT_KIND, "page")
CHUNK_SIZE = 5000  # documents per normalise/load step: ~100 MB of Python objects at most

Document: TypeAlias = RawDocument | ArchiveRecord | IngestError
KnownFn: TypeAlias = Callable[[list[str]], set[str]]

_ARCHIVES: dict[Path, Archive] = {}


def data_dir() -> Path:
    return Settings.load().data_dir


def open_archive(settings: Settings | None = None) -> Archive:
    """The archive of the data dir, with the DSLD API key as a secret to scrub. One Archive object
    per root in a process, so its buffered index lines and segment offsets are never raced."""
    settings = settings or Settings.load()
    root = (settings.data_dir / "archive").resolve()
    if root not in _ARCHIVES:
        _ARCHIVES[root] = Archive(root, secrets=[settings.dsld_api_key] if settings.dsld_api_key else [])
    return _ARCHIVES[root]


@dataclass
class DocumentProblem:
    record: ArchiveRecord | None  # None: lost before it could be archived (unreadable file, not JSON)
    reason: str
    where: str = ""  # path or URL of the document

    @property
    def url(self) -> str:
        return self.record.url if self.record else self.where


@dataclass
class Chunk:
    batch: NormalizedBatch  # empty_batch() when every document was skipped
    records: list[ArchiveRecord]  # archive records of the chunk (raw_documents/raw_fetches rows)
    problems: list[DocumentProblem]  # documents lost (counted as errors)
    documents: int = 0  # documents read (including skipped and lost ones)
    skipped: int = 0  # already loaded by this normaliser version: not parsed
    known: list[str] = field(default_factory=list)  # their bodies' sha256 (their versions are seen again)

    @property
    def documents_df(self) -> pd.DataFrame:
        return documents_frame(self.records)


def flat_corpus_documents() -> Iterator[RawDocument]:
    """Each product of the bundled flattened DSLD corpus as a document (archived when not known)."""
    ref = resources.files("maglabels.scrapers").joinpath("bundled/dsld", FLAT_CORPUS)
    with ref.open("rb") as fh, open_gzip(fh) as lines:
        for number, line in enumerate(lines, start=1):
            yield RawDocument(f"bundled:scrapers/bundled/dsld/{FLAT_CORPUS}#line={number}", line.rstrip(b"\r\n"))


_DSLD_ID = re.compile(rb'"dsld_id"\s*:\s*"?(\d+)')


def archive_flat_corpus(archive: Archive, *, skip_ids: Collection[str] = ()) -> list[ArchiveRecord]:
    """Put each product of the bundled corpus in the archive (once) as a document. ``skip_ids``:
    DSLD ids whose full API label is archived: the flattened copy (first quantity only, no forms,
    no daily servings) must never stand in for it, in any chunk of any run."""
    known = {r.url: r for r in archive.iter_records(kind=FLAT_KIND)}
    records: list[ArchiveRecord] = []
    for doc in flat_corpus_documents():
        found = _DSLD_ID.search(doc.body[:200]) if skip_ids else None
        if found and found.group(1).decode() in skip_ids:
            continue
        existing = known.get(doc.url)
        if existing and existing.sha256 == doc.sha256:
            records.append(existing)
        else:
            records.append(archive_document(archive, doc, FLAT_KIND))
    return records


@dataclass
class _Started:
    """A chunk whose documents are being parsed (see ``stream_chunks``)."""

    documents: int  # read from the input (documents carried over from the chunk before not included)
    todo: list[RawDocument | ArchiveRecord]  # being parsed, in order
    carried: list[RawDocument | ArchiveRecord]  # same body as a document the chunk before is parsing: next chunk
    kept: list[ArchiveRecord]  # fetch records of skipped documents that were archived already
    known: list[str]  # bodies' sha256 of the skipped documents: already loaded by this normaliser version
    skipped: int  # documents skipped (their bodies are in known)
    problems: list[DocumentProblem]  # lost before parsing (unreadable file, archive body missing)
    result: Callable[[], ParsedSlice]


def _start(archive: Archive, items: list[Document], read: int, known: KnownFn, busy: set[str],
           parsers: Parsers) -> _Started:
    """Skip what is loaded already; carry over what the chunk before is parsing (``busy``: its
    bodies); send the rest to the parsers. ``read``: how many of ``items`` are new from the input."""
    problems = [DocumentProblem(None, e.reason, e.path) for e in items if isinstance(e, IngestError)]
    docs = [d for d in items if not isinstance(d, IngestError)]
    shas = [d.sha256 for d in docs]
    loaded = known(shas)
    todo: list[RawDocument | ArchiveRecord] = []
    carried: list[RawDocument | ArchiveRecord] = []
    work: list[ParseItem] = []
    kept: list[ArchiveRecord] = []
    for doc, sha in zip(docs, shas, strict=True):
        if sha in busy and sha not in loaded:
            carried.append(doc)
        elif sha in loaded:
            if isinstance(doc, ArchiveRecord):
                kept.append(doc)
            elif not archive.has(sha):  # loaded, but the archive lost it (e.g. a new data dir): keep it
                archive_document(archive, doc, FLAT_KIND if b'"dsld_id"' in doc.body else "label")
        elif isinstance(doc, RawDocument):
            todo.append(doc)
            work.append(ParseItem(archive.url_as_stored(doc.url), doc.body, sha, "", True, doc.data))
        elif doc.kind not in NORMALIZABLE_KINDS:  # archived, nothing to parse (robots.txt, search pages)
            kept.append(doc)
        else:
            try:
                work.append(item_of(doc, archive.get(sha)))
                todo.append(doc)
            except Exception as exc:  # missing, altered or unreadable in the archive: lost, the rest goes on
                problems.append(DocumentProblem(doc, f"{type(exc).__name__}: {exc}", doc.url))
    skipped = sum(sha in loaded for sha in shas)
    return _Started(read, todo, carried, kept, sorted(loaded), skipped, problems, parsers.submit(work))


def _finish(archive: Archive, started: _Started, parsed: ParsedSlice) -> Chunk:
    """Archive the parsed documents (a file's document once its kind is known), record what was lost."""
    records, problems = list(started.kept), started.problems
    for doc, (kind, reason) in zip(started.todo, parsed.outcomes, strict=True):
        record = doc if isinstance(doc, ArchiveRecord) else None
        if record is None and kind:
            record = archive_document(archive, doc, kind)
        if record is not None:
            records.append(record)
        if reason is not None:
            problems.append(DocumentProblem(record, reason, doc.url))
    batch = parsed.batch
    if len(batch.labels):
        batch.labels["normalizer_version"] = NORMALIZER_VERSION
    if problems:
        batch.quarantine = pd.concat([batch.quarantine, problem_rows(problems)], ignore_index=True)
    return Chunk(batch, records, problems, documents=started.documents, skipped=started.skipped, known=started.known)


def problem_rows(problems: list[DocumentProblem]) -> pd.DataFrame:
    """Lost documents as quarantine rows (source 'file' when the document never reached the archive)."""
    return pd.DataFrame.from_records([
        {"source": p.record.source if p.record else "file", "source_id": p.url,
         "version_id": (p.record.sha256 if p.record else hashlib.sha256(p.url.encode()).hexdigest())[:20],
         "row_id": None, "raw_sha256": p.record.sha256 if p.record else None, "row_text": None,
         "reason_code": "unreadable_document", "reason": p.reason}
        for p in problems])


def stream_chunks(archive: Archive, documents: Iterable[Document], *, known: KnownFn = lambda shas: set(),
                  chunk_size: int | None = None, parsers: Parsers | None = None) -> Iterator[Chunk]:
    """Documents -> Chunks of at most ``chunk_size`` (default ``CHUNK_SIZE``) documents read (see
    the module docstring). Chunk n + 1 is read, checked against ``known`` and sent to ``parsers``
    while they still parse chunk n, so they never wait for this thread; chunk n is then archived
    and yielded. ``known`` cannot yet see chunk n: a document of chunk n + 1 whose body chunk n is
    parsing is carried over to chunk n + 2, which sees whether chunk n loaded it (then it is
    skipped) or not (then it is parsed, as it would have been)."""
    parsers = parsers or Parsers(0)
    it = iter(documents)
    in_flight: _Started | None = None
    carried: list[Document] = []
    while True:
        fresh = list(itertools.islice(it, chunk_size or CHUNK_SIZE))
        busy = {d.sha256 for d in in_flight.todo} if in_flight else set()
        started = _start(archive, carried + fresh, len(fresh), known, busy, parsers) if carried or fresh else None
        carried = list(started.carried) if started else []
        if in_flight:
            yield _finish(archive, in_flight, in_flight.result())
        if started is None:
            return
        in_flight = started


def documents_frame(records: list[ArchiveRecord]) -> pd.DataFrame:
    """Archive records as the warehouse's raw_documents rows (built column-wise; a chunk's records
    mostly share one headers dict's content, serialised once)."""
    headers: dict[tuple, str] = {}

    def headers_json(h: dict[str, str]) -> str:
        key = tuple(h.items())
        if key not in headers:
            headers[key] = orjson.dumps(h, option=orjson.OPT_SORT_KEYS).decode()
        return headers[key]

    return pd.DataFrame({
        "sha256": [r.sha256 for r in records], "url": [r.url for r in records],
        "status": pd.array([r.status for r in records], dtype="Int64"),
        "headers": [headers_json(r.headers) for r in records], "fetched_at": [r.fetched_at for r in records],
        "source": [r.source for r in records], "kind": [r.kind for r in records],
        "size": [r.size for r in records]})


def latest_documents(archive: Archive) -> list[ArchiveRecord]:
    """The newest fetch of every normalisable URL in the archive (for `maglabels normalize`)."""
    return [record for kind in NORMALIZABLE_KINDS for record in archive.latest(None, kind)]
