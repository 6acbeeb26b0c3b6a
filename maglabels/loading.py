"""Documents -> warehouse, chunk by chunk: the one load path of `ingest`, `normalize`, `run`.

Documents already loaded by this normaliser version are skipped by content hash before they are
parsed (``pipeline.stream_chunks`` with ``known_documents``); the rest are parsed, normalised and
loaded ``pipeline.CHUNK_SIZE`` at a time, so memory stays flat as the input grows.

Three stages at once: worker processes parse and normalise chunk n + 1 (``parsing.Parsers``), this
thread archives chunk n and hands it to a loader thread, which writes it into DuckDB (which
releases the GIL) while this thread reads on. At most three chunks are in memory. The loader
thread alone writes to the connection; the known-documents check reads through a cursor of its
own (committed rows) plus the hashes this run has loaded already.
"""
from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import duckdb

from . import pipeline
from .normalize import version as normalizer
from .parsing import Parsers
from .settings import Settings
from .warehouse import derived
from .warehouse.ident import q
from .warehouse.load import known_documents, load_batch, mark_seen

log = logging.getLogger(__name__)


def per_chunk_commits(con) -> bool:
    """Commit every chunk when ``con`` is a file write session: it works on a copy that a failure
    discards, so the warehouse is still as it was, and memory stays flat (one transaction keeps
    its rows and key index entries in memory, ~90 MiB per 10,000 labels, and cannot spill).
    Elsewhere (DuckLake) all chunks share one transaction."""
    return derived.deferred(con)


@contextmanager
def run_transaction(con) -> Iterator[None]:
    """Around a run's ``load_documents``: nothing where each chunk commits on its own (a file write
    session's copy), else one transaction, rolled back on any error (DuckLake: all or nothing)."""
    if per_chunk_commits(con):
        yield
        return
    con.begin()
    try:
        yield
    except BaseException:
        try:
            con.rollback()
        except duckdb.Error:  # load_batch may have rolled back already
            pass
        raise
    con.commit()


class _OneTransaction:
    """The connection with begin/commit made no-ops, so that every chunk ``load_batch`` writes lands
    in the caller's single transaction (a failed run leaves the warehouse as it was); rollback
    still rolls the whole transaction back."""

    def __init__(self, con) -> None:
        self._con = con

    def begin(self) -> None:
        pass

    def commit(self) -> None:
        pass

    def __getattr__(self, name: str):
        return getattr(self._con, name)


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Python's cyclic GC, tuned for the ingest: every chunk allocates millions of small acyclic
    objects (dicts, tuples, strings), and at the default thresholds (700, 10, 10) a full collection
    walks every live object every ~70,000 allocations (normalising 20,000 labels took 2.9 s
    of CPU with them, 1.7 s with these). Objects are still freed by reference counting; cycles are
    collected, less often."""
    old = gc.get_threshold()
    gc.set_threshold(50_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*old)


@contextmanager
def _duckdb_threads(con, threads: int | None) -> Iterator[None]:
    """DuckDB's threads set to ``threads`` (None: left alone) while the chunks load, then as they
    were. With parse workers busy on every core, a second DuckDB thread only competes with them:
    the whole corpus' ingest took ~1 s less with one (docs/benchmarks.md)."""
    if threads is None:
        yield
        return
    before = con.execute("SELECT current_setting('threads')").fetchone()[0]
    con.execute(f"SET threads = {int(threads)}")
    try:
        yield
    finally:
        con.execute(f"SET threads = {int(before)}")


def _load_chunk(con, chunk: pipeline.Chunk, run_id: int) -> int:
    """On the loader thread: mark the skipped documents' versions seen, load the chunk; new versions."""
    if chunk.known:
        mark_seen(con, chunk.known, normalizer.NORMALIZER_VERSION, run_id)
    if len(chunk.batch.labels) or len(chunk.batch.quarantine) or chunk.records:
        return load_batch(con, chunk.batch, run_id=run_id, documents_df=chunk.documents_df).new_versions
    return 0


def _count(counts: dict, chunk: pipeline.Chunk) -> None:
    for key, value in (("documents", chunk.documents), ("already_loaded", chunk.skipped),
                       ("labels", len(chunk.batch.labels)), ("facts", len(chunk.batch.magnesium_facts)),
                       ("magnesium_labels", len(chunk.batch.magnesium_labels)),
                       ("quarantined", len(chunk.batch.quarantine)), ("errors", len(chunk.problems))):
        counts[key] = counts.get(key, 0) + value


def load_documents(con, run_id: int, documents, counts: dict, *, archive=None, workers: int | None = None) -> list:
    """Normalise and load ``documents`` (archive records, files' documents or their errors) chunk by
    chunk inside the caller's transaction; add to ``counts``; return the lost documents' problems.
    ``workers``: parse processes (0: parse in this process; default: the ``parse_workers`` setting)."""
    archive = archive or pipeline.open_archive()
    workers = Settings.load().parse_workers if workers is None else workers
    per_chunk = per_chunk_commits(con)
    tx = con if per_chunk else _OneTransaction(con)
    reader = con.cursor()  # its own transaction: never used by two threads at once
    catalog, schema = con.execute("SELECT current_database(), current_schema()").fetchone()
    reader.execute(f"USE {q(catalog)}.{q(schema)}")  # a DuckLake session reads its lake
    loaded: set[str] = set()  # bodies this run has loaded and not yet committed (the reader cannot see them)

    def known(shas: list[str]) -> set[str]:
        return known_documents(reader, shas, normalizer.NORMALIZER_VERSION) | loaded.intersection(shas)

    problems: list = []
    pending: Future | None = None
    with archive.bulk(), _fewer_collections(), ThreadPoolExecutor(1, thread_name_prefix="load") as loader, \
            Parsers(workers) as parsers, _duckdb_threads(con, 1 if workers else None):
        # the archive holds every body the warehouse names before the commit
        for chunk in pipeline.stream_chunks(archive, documents, known=known, parsers=parsers):
            if pending is not None:  # chunk n - 1 is loaded before chunk n starts: two in memory at most
                counts["new_versions"] = counts.get("new_versions", 0) + pending.result()
                if per_chunk:  # committed: the reader sees it now
                    loaded.clear()
            pending = loader.submit(_load_chunk, tx, chunk, run_id)
            if len(chunk.batch.labels):
                loaded.update(chunk.batch.labels["raw_sha256"].dropna())
            for problem in chunk.problems:
                log.warning("lost %s: %s", problem.url, problem.reason)
            problems += chunk.problems
            _count(counts, chunk)
        if pending is not None:
            counts["new_versions"] = counts.get("new_versions", 0) + pending.result()
    reader.close()
    return problems
