"""Documents -> warehouse, chunk by chunk: the one load path of `ingest`, `normalize`, `run`.

Documents already loaded by this normaliser version are skipped by content hash before they are
parsed (``pipeline.stream_chunks`` with ``known_documents``); the rest are parsed, normalised and
loaded ``pipeline.CHUNK_SIZE`` at a time, so memory stays flat as the input grows.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from . import pipeline
from .normalize import version as normalizer
from .warehouse import derived
from .warehouse.load import known_documents, load_batch

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


def load_documents(con, run_id: int, documents, counts: dict, *, archive=None) -> list:
    """Normalise and load ``documents`` (archive records, files' documents or their errors) chunk by
    chunk inside the caller's transaction; add to ``counts``; return the lost documents' problems."""
    archive = archive or pipeline.open_archive()
    tx = con if per_chunk_commits(con) else _OneTransaction(con)
    problems: list = []
    with archive.bulk():  # the archive holds every body the warehouse names before the commit
        chunks = pipeline.stream_chunks(
            archive, documents, known=lambda shas: known_documents(con, shas, normalizer.NORMALIZER_VERSION, run_id=run_id))
        for chunk in chunks:
            if len(chunk.batch.labels) or len(chunk.batch.quarantine) or chunk.records:
                stats = load_batch(tx, chunk.batch, run_id=run_id, documents_df=chunk.documents_df)
                counts["new_versions"] = counts.get("new_versions", 0) + stats.new_versions
            for problem in chunk.problems:
                log.warning("lost %s: %s", problem.url, problem.reason)
            problems += chunk.problems
            for key, value in (("documents", chunk.documents), ("already_loaded", chunk.skipped),
                               ("labels", len(chunk.batch.labels)), ("facts", len(chunk.batch.magnesium_facts)),
                               ("magnesium_labels", len(chunk.batch.magnesium_labels)),
                               ("quarantined", len(chunk.batch.quarantine)), ("errors", len(chunk.problems))):
                counts[key] = counts.get(key, 0) + value
    return problems
