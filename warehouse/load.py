"""Bulk loads of normalized batches into the warehouse.

``load_batch`` writes one ``NormalizedBatch`` (and optionally the archive's fetch records) in a
single transaction, with set-based ``INSERT ... SELECT`` from Arrow tables registered on the
connection; it never inserts row by row. On any exception the transaction is rolled back and the
exception re-raised, so the caller can record the run as failed with ``finish_run``.

Idempotency
    * Content (labels, ingredient_rows, magnesium_facts, magnesium_labels, label_flags,
      quarantine) is stored per label version, decided per version of the batch from the labels
      table alone (``_classify_versions``): a version stored by the batch's normaliser version
      gets none of its rows inserted; a stale one (stored by another normaliser version, or the
      batch does not say which made it) has its stored rows DELETEd first, so re-normalising an
      unchanged label with improved code replaces its derived rows; a new or stale version gets
      all its rows. Inside one batch, rows with the same natural key (see ``CONTENT_TABLES``) are
      inserted once (the first one; one scan of the batch says whether any key repeats, and only
      then are the rows de-duplicated). So the loader guarantees the natural keys without looking
      rows up in the large tables (008 dropped ingredient_rows' primary key): its cost follows
      the batch, not the warehouse. Rows without a label version in the batch (quarantined
      unreadable documents: version_id is a prefix of the document's sha256 and there is no
      labels row) are checked row by row against their table, so re-loading adds none twice.
    * History (``label_versions``), per (source, source_id) in the batch:
        - current version == incoming version: only ``last_seen_run_id`` is bumped;
        - current version differs: it is closed (``valid_to = now``) and the incoming version
          opened (``valid_from = now``), also when the incoming version was current before
          (a version that reappears gets a new history row);
        - no current version: the incoming one is opened.
      The loader holds the key (source, source_id, version_id, valid_from) (009 dropped the
      primary key): a version that comes back at the same ``now`` as the period it closed
      (A -> B -> A in chunks of the same second) gets that period reopened, not a second row.
      Labels absent from the batch are left alone (a run may cover only some sources). When no
      label of the batch has a current version or a period from ``now`` (one count says so; the
      ingest into a new warehouse), the periods are only inserted.
      If one batch holds several versions of the same label, the one with the latest
      ``entry_date`` (then: the last in the batch) becomes current; the others are stored as
      content only and counted in ``LoadStats.superseded_in_batch``.
    * Raw documents: ``raw_documents`` one row per sha256; ``raw_fetches`` one row per
      (sha256, url, fetched_at): inserted when absent, once per key within a batch (no primary
      key since 009, as on DuckLake).

Derived tables
    The analyst views read stored tables (``derived.py``); ``derived.after_load`` refreshes them
    inside the same transaction (or, in a file ``write_session``, once before publishing), so a
    reader never sees label tables and views disagree.

Column types are taken from the tables themselves (the SQL files are the only schema
definition); a frame missing a required column is rejected before anything is written.
An empty frame (no rows) may have no columns at all.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import duckdb
import pandas as pd
import pyarrow as pa

from ..normalize import contract  # names and types only, no normaliser logic
from . import derived
from .arrow import POS, frame_to_arrow
from .ident import q
from .runs import naive_utc, rollback_quietly

__all__ = [
    "BatchLike",
    "LoadStats",
    "CONTENT_TABLES",
    "load_batch",
    "known_documents",
    "mark_seen",
]


@runtime_checkable
class BatchLike(Protocol):
    """Anything shaped like ``normalize.contract.NormalizedBatch``: one pandas DataFrame per frame
    of the batch contract (``normalize/contract.py``, which lists their columns and types)."""

    labels: pd.DataFrame
    ingredient_rows: pd.DataFrame
    magnesium_facts: pd.DataFrame
    magnesium_labels: pd.DataFrame
    label_flags: pd.DataFrame
    quarantine: pd.DataFrame


_VERSION_KEY = tuple(name for name, _ in contract.KEY)  # ("source", "source_id", "version_id")


@dataclass(frozen=True)
class _TableSpec:
    key: tuple[str, ...]  # natural key (compared with IS NOT DISTINCT FROM)
    optional: tuple[str, ...] = ()  # columns that may be missing from the frame (-> NULL)


# Batch attribute == table name; insertion order as listed.
_TABLE_SPECS: dict[str, _TableSpec] = {
    "labels": _TableSpec(_VERSION_KEY, optional=("normalizer_version", "product_key", "on_market")),  # 005, 007
    "ingredient_rows": _TableSpec(_VERSION_KEY + ("row_id",)),
    "magnesium_facts": _TableSpec(_VERSION_KEY + ("row_id", "compound")),
    "magnesium_labels": _TableSpec(
        _VERSION_KEY, optional=("daily_servings_min", "daily_servings_max",
                                "units_min", "units_max", "dose_basis")  # 005
    ),
    "label_flags": _TableSpec(_VERSION_KEY + ("flag", "reason")),
    "quarantine": _TableSpec(_VERSION_KEY + ("row_id", "raw_sha256", "reason_code")),
}
# One table per frame of the batch contract, in its order (a new frame without a spec fails here).
CONTENT_TABLES: dict[str, _TableSpec] = {frame: _TABLE_SPECS[frame] for frame in contract.FRAMES}

# documents_df (archive fetch records) -> raw_documents + raw_fetches
_DOC_COLUMNS = {  # column -> DuckDB type
    "sha256": "VARCHAR",
    "url": "VARCHAR",
    "fetched_at": "TIMESTAMP",
    "status": "INTEGER",
    "headers": "JSON",
    "source": "VARCHAR",
    "kind": "VARCHAR",
    "size": "BIGINT",
}
_DOC_REQUIRED = ("sha256", "url", "fetched_at")



@dataclass
class LoadStats:
    """What one ``load_batch`` call wrote."""

    run_id: int
    documents: int = 0  # new raw_documents rows (distinct bodies)
    fetches: int = 0  # new raw_fetches rows
    labels: int = 0  # distinct label versions in the batch
    new_versions: int = 0  # label_versions rows opened (new label, changed or reappearing)
    changed_versions: int = 0  # current versions closed because the content changed
    unchanged_versions: int = 0  # labels whose current version was seen again
    superseded_in_batch: int = 0  # extra versions of a label in the same batch (not current)
    inserted: dict[str, int] = field(default_factory=dict)  # net new rows per content table (after replacing)

    @property
    def facts(self) -> int:
        return self.inserted.get("magnesium_facts", 0)

    @property
    def quarantined(self) -> int:
        return self.inserted.get("quarantine", 0)

    def run_counts(self) -> dict[str, int]:
        """The counts ``finish_run`` stores in ``scrape_runs``."""
        return {
            "documents": self.fetches,
            "labels": self.labels,
            "new_versions": self.new_versions,
            "facts": self.facts,
            "quarantined": self.quarantined,
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __add__(self, other: LoadStats) -> LoadStats:
        """Totals of two loads of the same run (a run may load its batch in chunks)."""
        if not isinstance(other, LoadStats):
            return NotImplemented
        if other.run_id != self.run_id:
            raise ValueError(f"cannot add stats of runs {self.run_id} and {other.run_id}")
        inserted = dict(self.inserted)
        for k, v in other.inserted.items():
            inserted[k] = inserted.get(k, 0) + v
        numbers = {
            f: getattr(self, f) + getattr(other, f)
            for f in ("documents", "fetches", "labels", "new_versions", "changed_versions",
                      "unchanged_versions", "superseded_in_batch")
        }
        return LoadStats(run_id=self.run_id, inserted=inserted, **numbers)


def _table_columns(con: duckdb.DuckDBPyConnection, tables: list[str]) -> dict[str, dict[str, str]]:
    """Column name -> type of each table, in order: one catalog query per load (information_schema
    per table cost ~0.1 s per chunk)."""
    found: dict[str, dict[str, str]] = {t: {} for t in tables}
    for table, column, data_type in con.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name IN (SELECT unnest(?)) ORDER BY table_name, column_index",
        [tables],
    ).fetchall():
        found[table][column] = data_type
    missing = [t for t, cols in found.items() if not cols]
    if missing:
        raise RuntimeError(f"warehouse table {missing[0]!r} does not exist; was connect() used?")
    return found



# --------------------------------------------------------------------------------------------
# SQL helpers


def _insert_sql(table: str, view: str, columns: Mapping[str, str], key: tuple[str, ...], where: str | None,
                dedup: bool) -> str:
    """INSERT the rows of ``view`` (alias ``i``) that pass ``where``; with ``dedup``, only the first
    occurrence per key (a window over the whole rows: it doubled the cost of the INSERT, so it is
    used only for a batch whose keys repeat)."""
    cols = ", ".join(q(c) for c in columns)
    casts = ", ".join(f"CAST(i.{q(c)} AS {t}) AS {q(c)}" for c, t in columns.items())
    part = ", ".join(q(k) for k in key)
    rows = (f"(SELECT *, row_number() OVER (PARTITION BY {part} ORDER BY {POS}) AS _wh_rn FROM {q(view)})"
            if dedup else q(view))
    conditions = [c for c in ("i._wh_rn = 1" if dedup else None, where) if c]
    return f"""
        INSERT INTO {q(table)} ({cols})
        SELECT {casts}
        FROM {rows} AS i
        {"WHERE " + " AND ".join(conditions) if conditions else ""}
    """


def _repeated_keys(key: tuple[str, ...], alias: str) -> str:
    """SQL aggregate: 0 when no two rows share ``key`` (NULLs equal), else how many repeat. Counts
    distinct hashes (cheaper than the keys' strings): two keys with the same hash are counted as
    repeated, which costs only a de-duplication that was not needed."""
    return f"count(*) - count(DISTINCT hash({', '.join(f'{alias}.{q(k)}' for k in key)}))"


def _version_match(alias: str) -> str:
    """``alias`` (a _wh_versions row) is the label version of the incoming row ``i``."""
    return " AND ".join(f"{alias}.{q(k)} = CAST(i.{q(k)} AS VARCHAR)" for k in _VERSION_KEY)


def _check_rows(con, views: Mapping[str, str]) -> dict[str, tuple[int, int]]:
    """Per content table of the batch: (its rows without a label version in the batch, its rows
    whose natural key repeats). One scan of all of them (a statement per table cost twice as
    much: each built the hash table of _wh_versions anew)."""
    parts = [f"SELECT {n} AS t, source, source_id, version_id, hash({', '.join(q(k) for k in spec.key)}) AS h "
             f"FROM {q(views[table])}"
             for n, (table, spec) in enumerate(CONTENT_TABLES.items()) if table in views]
    if not parts:
        return {}
    tables = list(CONTENT_TABLES)
    # two keys with the same hash count as repeated: that costs only a de-duplication not needed
    return {tables[n]: (int(orphans), int(repeated)) for n, orphans, repeated in con.execute(f"""
        SELECT i.t, count(*) FILTER (WHERE v.state IS NULL), count(*) - count(DISTINCT i.h)
        FROM ({" UNION ALL ".join(parts)}) AS i LEFT JOIN _wh_versions AS v ON {_version_match('v')}
        GROUP BY i.t
    """).fetchall()}


def _insert_new(con, table: str, view: str, columns: Mapping[str, str], key: tuple[str, ...],
                any_stored: bool, orphans: int, repeated: int) -> int:
    """INSERT the rows of ``view`` that the warehouse does not hold yet (see "Idempotency").

    Rows of a label version of the batch: all of them when the version is new or stale (stale
    rows were deleted first), none when it is stored by this normaliser version; no look-up in
    ``table``, so the cost follows the chunk, not the table. Rows without a label version in
    the batch (``orphans``: quarantined unreadable documents) are checked row by row against
    ``table``. Only the first row per key is inserted when keys repeat (``repeated``). A chunk
    of new labels (none ``any_stored`` by this normaliser) with unique keys and no orphans, the
    ingest's case, is a plain INSERT: a third of the cost of the filtered, de-duplicated one.
    """
    where = None
    if any_stored or orphans:
        where = f"EXISTS (SELECT 1 FROM _wh_versions AS v WHERE {_version_match('v')} AND v.state <> 'stored')"
    written = int(con.execute(_insert_sql(table, view, columns, key, where, bool(repeated))).fetchall()[0][0])
    if orphans:
        match = " AND ".join(f"t.{q(k)} IS NOT DISTINCT FROM CAST(i.{q(k)} AS {columns[k]})" for k in key)
        written += int(con.execute(_insert_sql(table, view, columns, key, f"""
            NOT EXISTS (SELECT 1 FROM _wh_versions AS v WHERE {_version_match('v')})
            AND NOT EXISTS (SELECT 1 FROM {q(table)} AS t WHERE {match})
        """, bool(repeated))).fetchall()[0][0])
    return written


def _incoming_sql(view: str) -> str:
    """One (source, source_id, version_id) per label of the batch: the version that becomes current."""
    return f"""
        SELECT source, source_id, version_id FROM (
            SELECT CAST(source AS VARCHAR) AS source,
                   CAST(source_id AS VARCHAR) AS source_id,
                   CAST(version_id AS VARCHAR) AS version_id,
                   row_number() OVER (
                       PARTITION BY source, source_id
                       ORDER BY CAST(entry_date AS DATE) DESC NULLS LAST, {POS} DESC
                   ) AS _wh_rn
            FROM {q(view)}
        ) WHERE _wh_rn = 1
    """


def _load_documents(con, view: str, run_id: int, stats: LoadStats) -> None:
    stats.documents = int(
        con.execute(
            f"""
            INSERT INTO raw_documents (sha256, size, first_fetched_at, first_run_id)
            SELECT i.sha256, max(i.size), min(i.fetched_at), ?
            FROM {q(view)} AS i
            WHERE NOT EXISTS (SELECT 1 FROM raw_documents AS d WHERE d.sha256 = i.sha256)
            GROUP BY i.sha256
            """,
            [run_id],
        ).fetchall()[0][0]
    )
    fetch_key = ("sha256", "url", "fetched_at")
    repeated = con.execute(f"SELECT {_repeated_keys(fetch_key, 'i')} FROM {q(view)} AS i").fetchone()[0]
    rows = (f"(SELECT *, row_number() OVER (PARTITION BY sha256, url, fetched_at ORDER BY {POS}) AS _wh_rn "
            f"FROM {q(view)})" if repeated else q(view))
    stats.fetches = int(
        con.execute(
            f"""
            INSERT INTO raw_fetches (sha256, url, fetched_at, status, headers, source, kind, run_id)
            SELECT i.sha256, i.url, i.fetched_at, CAST(i.status AS INTEGER), CAST(i.headers AS JSON),
                   i.source, i.kind, ?
            FROM {rows} AS i
            WHERE {"i._wh_rn = 1" if repeated else "true"}
              AND NOT EXISTS (
                  SELECT 1 FROM raw_fetches AS f
                  WHERE f.sha256 = i.sha256 AND f.url = i.url AND f.fetched_at = i.fetched_at
              )
            """,
            [run_id],
        ).fetchall()[0][0]
    )


def _classify_versions(con, labels_view: str | None) -> dict[str, int]:
    """TEMP TABLE ``_wh_versions``: each label version of the batch and its state: 'stored' (the
    labels table holds it from this batch's normaliser version), 'stale' (stored by another
    normaliser version, or the batch does not say which made it) or 'new'. Reads only the
    labels table (one row per version). Returns the number of versions per state, and of labels."""
    if not labels_view:
        con.execute("CREATE OR REPLACE TEMP TABLE _wh_versions "
                    "(source VARCHAR, source_id VARCHAR, version_id VARCHAR, state VARCHAR)")
        return {"versions": 0, "labels": 0, "stored": 0, "stale": 0}
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _wh_versions AS
        SELECT i.source, i.source_id, i.version_id,
               CASE WHEN count(l.version_id) = 0 THEN 'new'
                    WHEN bool_and(coalesce(i.normalizer_version = l.normalizer_version, false)) THEN 'stored'
                    ELSE 'stale' END AS state
        FROM (SELECT CAST(source AS VARCHAR) AS source, CAST(source_id AS VARCHAR) AS source_id,
                     CAST(version_id AS VARCHAR) AS version_id,
                     CAST(normalizer_version AS VARCHAR) AS normalizer_version
              FROM {q(labels_view)}) AS i
        LEFT JOIN labels AS l
          ON l.source = i.source AND l.source_id = i.source_id AND l.version_id = i.version_id
        GROUP BY i.source, i.source_id, i.version_id
    """)
    versions, labels, stored, stale = con.execute("""
        SELECT count(*), count(DISTINCT (source, source_id)), count(*) FILTER (WHERE state = 'stored'),
               count(*) FILTER (WHERE state = 'stale')
        FROM _wh_versions
    """).fetchone()
    return {"versions": int(versions), "labels": int(labels), "stored": int(stored), "stale": int(stale)}


def _delete_stale(con, stale: int) -> dict[str, int]:
    """Drop what is stored for the batch's ``stale`` label versions, so re-normalising with improved
    code (a new ``NORMALIZER_VERSION``) replaces the derived rows (a version is the label's
    content, not the interpreter's output). Returns the rows deleted per table."""
    deleted = dict.fromkeys(CONTENT_TABLES, 0)
    if not stale:
        return deleted
    for table in CONTENT_TABLES:
        deleted[table] = int(con.execute(f"""
            DELETE FROM {q(table)} AS t
            WHERE EXISTS (SELECT 1 FROM _wh_versions AS v
                          WHERE v.state = 'stale' AND t.source = v.source AND t.source_id = v.source_id
                            AND t.version_id = v.version_id)
        """).fetchall()[0][0])
    return deleted


def known_documents(con: duckdb.DuckDBPyConnection, sha256s: list[str], normalizer_version: str) -> set[str]:
    """Which of these raw documents are already loaded by this normaliser version (ingest skips
    them). Reads only: safe on a reader's cursor while another connection loads."""
    if not sha256s:
        return set()
    con.register("_wh_in_shas", pa.table({"sha256": pa.array(sha256s, type=pa.string())}))
    try:
        return {row[0] for row in con.execute(
            "SELECT DISTINCT l.raw_sha256 FROM labels AS l JOIN _wh_in_shas AS i ON l.raw_sha256 = i.sha256 "
            "WHERE l.normalizer_version = ?", [normalizer_version]).fetchall()}
    finally:
        con.unregister("_wh_in_shas")


def mark_seen(con: duckdb.DuckDBPyConnection, sha256s: list[str], normalizer_version: str, run_id: int) -> None:
    """Record that run ``run_id`` saw these already-loaded documents unchanged: their current label
    versions get ``last_seen_run_id``, as a load of the unchanged document would do. Runs in the
    caller's transaction."""
    if not sha256s:
        return
    con.register("_wh_in_shas", pa.table({"sha256": pa.array(sha256s, type=pa.string())}))
    try:
        # named parameters: DuckDB 1.5 binds the FROM subquery before SET
        con.execute("""
            UPDATE label_versions AS lv SET last_seen_run_id = $run_id
            FROM (SELECT DISTINCT l.source, l.source_id, l.version_id FROM labels AS l
                  JOIN _wh_in_shas AS i ON l.raw_sha256 = i.sha256 WHERE l.normalizer_version = $version) AS k
            WHERE lv.valid_to IS NULL AND lv.source = k.source AND lv.source_id = k.source_id
              AND lv.version_id = k.version_id
        """, {"run_id": int(run_id), "version": normalizer_version})
    finally:
        con.unregister("_wh_in_shas")


def _load_content(con, views: Mapping[str, str], columns: Mapping[str, Mapping[str, str]], stats: LoadStats) -> None:
    versions = _classify_versions(con, views.get("labels"))
    stats.labels = versions["versions"]
    stats.superseded_in_batch = versions["versions"] - versions["labels"]
    deleted = _delete_stale(con, versions["stale"])
    checks = _check_rows(con, views)
    for table, spec in CONTENT_TABLES.items():
        view = views.get(table)
        written = (_insert_new(con, table, view, columns[table], spec.key, versions["stored"] > 0, *checks[table])
                   if view else 0)
        stats.inserted[table] = max(written - deleted[table], 0)  # net new rows
    # not in a finally: after an error the transaction is aborted, and its rollback drops it
    con.execute("DROP TABLE _wh_versions")


def _update_history(con, labels_view: str | None, run_id: int, now: datetime, stats: LoadStats) -> None:
    if not labels_view:
        return
    incoming = _incoming_sql(labels_view)
    # A batch of labels the history has no current version of, and no period from ``now`` (the
    # ingest into a new warehouse): steps 1, 2's reopening and 3 would change nothing, and each
    # would scan label_versions; one scan says so, and the periods are inserted (from the batch's
    # rows as they are when no label has two of them: the window of ``incoming`` tripled the cost).
    touched, repeated = con.execute(
        f"""
        SELECT (SELECT count(*) FROM label_versions AS lv
                WHERE (lv.valid_to IS NULL OR lv.valid_from = ?)
                  AND EXISTS (SELECT 1 FROM {q(labels_view)} AS i WHERE lv.source = CAST(i.source AS VARCHAR)
                                                                  AND lv.source_id = CAST(i.source_id AS VARCHAR))),
               (SELECT {_repeated_keys(("source", "source_id"), "i")} FROM {q(labels_view)} AS i)
        """,
        [now],
    ).fetchone()
    if not touched:
        rows = f"({incoming})" if repeated else q(labels_view)
        stats.changed_versions = stats.unchanged_versions = 0
        stats.new_versions = int(con.execute(
            f"""
            INSERT INTO label_versions
                (source, source_id, version_id, valid_from, valid_to, first_run_id, last_seen_run_id)
            SELECT CAST(i.source AS VARCHAR), CAST(i.source_id AS VARCHAR), CAST(i.version_id AS VARCHAR), ?, NULL, ?, ?
            FROM {rows} AS i
            """,
            [now, run_id, run_id],
        ).fetchall()[0][0])
        return
    # 1. close current versions that differ from the incoming one
    stats.changed_versions = int(
        con.execute(
            f"""
            UPDATE label_versions AS lv SET valid_to = ?
            FROM ({incoming}) AS i
            WHERE lv.valid_to IS NULL
              AND lv.source = i.source AND lv.source_id = i.source_id
              AND lv.version_id <> i.version_id
            """,
            [now],
        ).fetchall()[0][0]
    )
    # 2. open a period for every label that now has no current version: reopen the one this
    # version had from ``now`` on if step 1 (of an earlier chunk at the same ``now``) closed it,
    # else insert one. After step 1 a label's only current version is the incoming one, so a
    # closed row of the incoming version from ``now`` belongs to a label without a current one.
    reopened = int(
        con.execute(
            f"""
            UPDATE label_versions AS lv SET valid_to = NULL
            FROM ({incoming}) AS i
            WHERE lv.valid_from = ? AND lv.valid_to IS NOT NULL
              AND lv.source = i.source AND lv.source_id = i.source_id AND lv.version_id = i.version_id
            """,
            [now],
        ).fetchall()[0][0]
    )
    stats.new_versions = reopened + int(
        con.execute(
            f"""
            INSERT INTO label_versions
                (source, source_id, version_id, valid_from, valid_to, first_run_id, last_seen_run_id)
            SELECT i.source, i.source_id, i.version_id, ?, NULL, ?, ?
            FROM ({incoming}) AS i
            WHERE NOT EXISTS (
                SELECT 1 FROM label_versions AS lv
                WHERE lv.valid_to IS NULL AND lv.source = i.source AND lv.source_id = i.source_id
            )
            """,
            [now, run_id, run_id],
        ).fetchall()[0][0]
    )
    # 3. every incoming version is now current: record that this run saw it
    seen = int(
        con.execute(
            f"""
            UPDATE label_versions AS lv SET last_seen_run_id = ?
            FROM ({incoming}) AS i
            WHERE lv.valid_to IS NULL
              AND lv.source = i.source AND lv.source_id = i.source_id
              AND lv.version_id = i.version_id
            """,
            [run_id],
        ).fetchall()[0][0]
    )
    stats.unchanged_versions = seen - stats.new_versions


# --------------------------------------------------------------------------------------------
# load_batch


def load_batch(
    con: duckdb.DuckDBPyConnection,
    batch: BatchLike,
    *,
    run_id: int,
    documents_df: pd.DataFrame | None = None,
    now: datetime | None = None,
) -> LoadStats:
    """Load one normalized batch (and optional archive fetch records) in ONE transaction.

    ``batch`` is any object with the six DataFrame attributes of ``BatchLike``;
    ``documents_df`` has the archive record columns (sha256, url, status, headers (JSON text or
    dict), fetched_at (ISO UTC), source, kind, size). ``now`` (default: current UTC time) is
    the time recorded in the label history. ``run_id`` must come from ``start_run``.

    Raises ``ValueError``/``TypeError`` for malformed input (before anything is written) and
    re-raises any error during the load after rolling the transaction back.
    """
    now = naive_utc(now)
    missing_attrs = [a for a in CONTENT_TABLES if not hasattr(batch, a)]
    if missing_attrs:
        raise TypeError(f"batch has no attribute(s) {missing_attrs}")
    exists = con.execute("SELECT count(*) FROM scrape_runs WHERE run_id = ?", [int(run_id)]).fetchall()[0][0]
    if not exists:
        raise ValueError(f"no scrape run with run_id {run_id}; call start_run() first")

    # 1. validate and convert everything before the transaction starts
    columns = _table_columns(con, list(CONTENT_TABLES))
    arrow: dict[str, pa.Table] = {}
    for table, spec in CONTENT_TABLES.items():
        required = [c for c in columns[table] if c not in spec.optional]
        tbl = frame_to_arrow(getattr(batch, table), columns[table], required, table)
        if tbl is not None:
            arrow[table] = tbl
    docs = frame_to_arrow(documents_df, _DOC_COLUMNS, _DOC_REQUIRED, "documents_df")

    stats = LoadStats(run_id=int(run_id))
    views: dict[str, str] = {}
    try:
        for table, tbl in arrow.items():
            views[table] = f"_wh_in_{table}"
            con.register(views[table], tbl)
        if docs is not None:
            views["_documents"] = "_wh_in_documents"
            con.register(views["_documents"], docs)

        # 2. one transaction for everything
        con.begin()
        try:
            if docs is not None:
                _load_documents(con, views["_documents"], int(run_id), stats)
            _load_content(con, views, columns, stats)
            _update_history(con, views.get("labels"), int(run_id), now, stats)
            derived.after_load(con)  # analyst views' stored tables, in the same transaction
            con.commit()
        except BaseException:
            rollback_quietly(con)
            raise
    finally:
        for view in views.values():
            try:
                con.unregister(view)
            except duckdb.Error:
                pass
    return stats
