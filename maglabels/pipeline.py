"""Wires the stages: documents -> archive -> Labels -> NormalizedBatch -> warehouse, in chunks.

The only module that knows both the scrapers and the normaliser; neither knows the other.

Streaming: ``stream_chunks`` takes documents one at a time (``RawDocument`` read from files, not
yet archived, or ``ArchiveRecord`` already archived), ``chunk_size`` at a time: it asks the caller
which bodies are already loaded by the current ``NORMALIZER_VERSION`` (those are skipped before
they are parsed: no json.loads, no normalising, no load), archives and parses the rest, and
yields one ``Chunk`` (a NormalizedBatch plus archive records and problems) at a time, so memory
stays flat however large the input. Whether the chunks are loaded in one transaction is the
caller's choice (the CLI does: a failed run leaves the warehouse as it was).

Anything wrong with one document (unreadable file, invalid JSON, nesting too deep, not a label,
a parser exception) becomes a problem with a specific reason and a quarantine row
(``reason_code='unreadable_document'``); the rest goes on.
"""
from __future__ import annotations

import gzip
import hashlib
import itertools
import logging
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeAlias

import orjson
import pandas as pd

from .normalize.version import NORMALIZER_VERSION
from .scrapers.archive import Archive, ArchiveRecord, ArchiveWriteError
from .scrapers.files import NOT_A_LABEL, IngestError, RawDocument, loads, looks_like_flat_label, looks_like_label
from .settings import Settings

if TYPE_CHECKING:
    from .normalize.magnesium import NormalizedBatch
    from .normalize.model import Label, LabelRecord

log = logging.getLogger(__name__)

FLAT_CORPUS = "ingredient_scanner_magnesium_products.jsonl.gz"
FLAT_KIND = "label-flat"
NORMALIZABLE_KINDS = ("label", FLAT_KIND, "page")
CHUNK_SIZE = 5000  # documents per normalise/load step: ~100 MB of Python objects at most

Document: TypeAlias = RawDocument | ArchiveRecord | IngestError
KnownFn: TypeAlias = Callable[[list[str]], set[str]]

_ARCHIVES: dict[Path, Archive] = {}
CONTENT_FRAMES = ("labels", "ingredient_rows", "magnesium_facts", "magnesium_labels", "label_flags", "quarantine")


# The normaliser (pint registry and all) is imported on first use: a re-run whose documents are all
# unchanged never needs it (1.7 s of start-up on the 2-core machine).
def parse_label(doc: Any, **kw: Any) -> Label:
    from .normalize.dsld_label import parse_label as parse

    return parse(doc, **kw)


def read_flat_product(doc: Any, **kw: Any) -> Label | LabelRecord:
    from .normalize.flat_dsld import read_flat_product as read

    return read(doc, **kw)


def normalize_labels(labels: list[Label | LabelRecord]) -> NormalizedBatch:
    from .normalize.batch import normalize_labels as normalize

    return normalize(labels)


def empty_batch() -> Any:
    """A batch with nothing to load (what load_batch needs: the six frames)."""
    return SimpleNamespace(**{name: pd.DataFrame() for name in CONTENT_FRAMES})


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
class Parsed:
    labels: list[Label | LabelRecord] = field(default_factory=list)
    problems: list[DocumentProblem] = field(default_factory=list)


@dataclass
class Chunk:
    batch: Any  # NormalizedBatch, or empty_batch() when every document was skipped
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
    with ref.open("rb") as fh, gzip.open(fh, "rb") as lines:
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
            records.append(archive.put(doc.url, None, {"content-type": "application/json"}, doc.body,
                                       source="dsld", kind=FLAT_KIND, sha256=doc.sha256))
    return records


def _parse_body(body: bytes, kind: str, *, sha: str, url: str, data: object = None,
                saved: bool = False) -> Label | LabelRecord:
    if kind == "page":
        from .normalize.html import parse_page  # selectolax only when pages are present

        # saved: a saved file, whose URL ingest took from --url or its canonical link
        return parse_page(body, url=url, raw_sha256=sha, saved=saved).label
    if data is None:
        data = loads(body)  # ValueError with the reason when it is not JSON
    parse = read_flat_product if kind == FLAT_KIND else parse_label
    return parse(data, raw_sha256=sha, url=url)


def _parse_one(archive: Archive, doc: RawDocument | ArchiveRecord, out: Parsed, records: list[ArchiveRecord]) -> None:
    """Archive (if new) and parse one document; anything that goes wrong becomes a problem."""
    record = doc if isinstance(doc, ArchiveRecord) else None
    try:
        if isinstance(doc, ArchiveRecord):
            body, data, kind = archive.get(doc.sha256), None, doc.kind
        else:
            body = doc.body
            try:
                data = doc.data if doc.data is not None else loads(body)
            except ValueError as exc:
                out.problems.append(DocumentProblem(None, str(exc), doc.url))
                return
            kind = "label" if looks_like_label(data) else FLAT_KIND if looks_like_flat_label(data) else ""
            if not kind:
                out.problems.append(DocumentProblem(None, NOT_A_LABEL, doc.url))
                return
            record = archive.put(doc.url, None, {"content-type": "application/json"}, body, source="dsld", kind=kind,
                                 sha256=doc.sha256)
        assert record is not None
        records.append(record)
        out.labels.append(_parse_body(body, kind, sha=record.sha256, url=record.url, data=data,
                                      saved=record.status is None))
    except ArchiveWriteError:  # the archive, not this document, failed: the run fails
        raise
    except (Exception, RecursionError) as exc:  # one bad document must not lose the rest of the run
        out.problems.append(DocumentProblem(record, f"{type(exc).__name__}: {exc}", doc.url))


def parse_records(archive: Archive, records: Iterable[RawDocument | ArchiveRecord]) -> tuple[Parsed, list[ArchiveRecord]]:
    """Every normalisable document -> Label; unreadable ones become problems, the rest go on."""
    out, archived = Parsed(), []
    for doc in records:
        if isinstance(doc, ArchiveRecord) and doc.kind not in NORMALIZABLE_KINDS:
            archived.append(doc)
            continue
        _parse_one(archive, doc, out, archived)
    return out, archived


def problem_rows(problems: list[DocumentProblem]) -> pd.DataFrame:
    """Lost documents as quarantine rows (source 'file' when the document never reached the archive)."""
    return pd.DataFrame.from_records([
        {"source": p.record.source if p.record else "file", "source_id": p.url,
         "version_id": (p.record.sha256 if p.record else hashlib.sha256(p.url.encode()).hexdigest())[:20],
         "row_id": None, "raw_sha256": p.record.sha256 if p.record else None, "row_text": None,
         "reason_code": "unreadable_document", "reason": p.reason}
        for p in problems])


def normalize_records(archive: Archive, records: Iterable[RawDocument | ArchiveRecord]
                      ) -> tuple[NormalizedBatch, list[DocumentProblem], list[ArchiveRecord]]:
    """Parse and normalise one chunk; problems also become quarantine rows."""
    parsed, archived = parse_records(archive, records)
    batch = normalize_labels(parsed.labels)
    batch.labels["normalizer_version"] = NORMALIZER_VERSION
    if parsed.problems:
        batch.quarantine = pd.concat([batch.quarantine, problem_rows(parsed.problems)], ignore_index=True)
    return batch, parsed.problems, archived


def _chunk(archive: Archive, items: list[Document], known: KnownFn) -> Chunk:
    errors = [DocumentProblem(None, e.reason, e.path) for e in items if isinstance(e, IngestError)]
    docs = [d for d in items if not isinstance(d, IngestError)]
    shas = [d.sha256 for d in docs]
    loaded = known(shas)
    todo: list[RawDocument | ArchiveRecord] = []
    kept: list[ArchiveRecord] = []  # fetch records of skipped documents that were archived already
    for doc, sha in zip(docs, shas, strict=True):
        if sha not in loaded:
            todo.append(doc)
        elif isinstance(doc, ArchiveRecord):
            kept.append(doc)
        elif not archive.has(sha):  # loaded, but the archive lost it (e.g. a new data dir): keep it
            archive.put(doc.url, None, {"content-type": "application/json"}, doc.body, source="dsld",
                        kind=FLAT_KIND if b'"dsld_id"' in doc.body else "label", sha256=sha)
    if not todo and not errors:
        return Chunk(empty_batch(), kept, [], documents=len(items), skipped=len(docs), known=sorted(loaded))
    batch, problems, records = normalize_records(archive, todo)
    if errors:
        batch.quarantine = pd.concat([batch.quarantine, problem_rows(errors)], ignore_index=True)
    return Chunk(batch, kept + records, errors + problems, documents=len(items), skipped=len(docs) - len(todo),
                 known=sorted(loaded))


def stream_chunks(archive: Archive, documents: Iterable[Document], *, known: KnownFn = lambda shas: set(),
                  chunk_size: int | None = None) -> Iterator[Chunk]:
    """Documents -> Chunks of at most ``chunk_size`` (default ``CHUNK_SIZE``) documents (see the module docstring)."""
    it = iter(documents)
    while items := list(itertools.islice(it, chunk_size or CHUNK_SIZE)):
        yield _chunk(archive, items, known)


def documents_frame(records: list[ArchiveRecord]) -> pd.DataFrame:
    """Archive records as the warehouse's raw_documents rows."""
    return pd.DataFrame.from_records(
        [{"sha256": r.sha256, "url": r.url, "status": r.status,
          "headers": orjson.dumps(r.headers, option=orjson.OPT_SORT_KEYS).decode(),
          "fetched_at": r.fetched_at, "source": r.source, "kind": r.kind, "size": r.size} for r in records],
        columns=["sha256", "url", "status", "headers", "fetched_at", "source", "kind", "size"],
    )


def latest_documents(archive: Archive) -> list[ArchiveRecord]:
    """The newest fetch of every normalisable URL in the archive (for `maglabels normalize`)."""
    return [record for kind in NORMALIZABLE_KINDS for record in archive.latest(None, kind)]
