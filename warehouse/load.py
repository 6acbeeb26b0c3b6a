"""Bulk loads of normalized batches into the warehouse.

``load_batch`` writes one ``NormalizedBatch`` (and optionally the archive's fetch records) in a
single transaction, with set-based ``INSERT ... SELECT`` from Arrow tables registered on the
connection; it never inserts row by row. On any exception the transaction is rolled back and the
exception re-raised, so the caller can record the run as failed with ``finish_run``.

Idempotency
    * Content (labels, ingredient_rows, magnesium_facts, magnesium_labels, label_flags,
      quarantine) is stored per label version. A load first DELETEs the stored rows of every
      label version its batch carries (``_replace_versions``), then inserts the batch's rows, so
      re-normalising an unchanged label with improved code replaces its derived rows, and
      re-loading the same batch leaves the same rows (no duplicates). Inside one batch, rows
      with the same natural key (see ``CONTENT_TABLES``) are inserted once (the first one).
    * History (``label_versions``), per (source, source_id) in the batch:
        - current version == incoming version: only ``last_seen_run_id`` is bumped;
        - current version differs: it is closed (``valid_to = now``) and the incoming version
          opened (``valid_from = now``), also when the incoming version was current before
          (a version that reappears gets a new history row);
        - no current version: the incoming one is opened.
      Labels absent from the batch are left alone (a run may cover only some sources).
      If one batch holds several versions of the same label, the one with the latest
      ``entry_date`` (then: the last in the batch) becomes current; the others are stored as
      content only and counted in ``LoadStats.superseded_in_batch``.
    * Raw documents: ``raw_documents`` one row per sha256; ``raw_fetches`` one row per
      (sha256, url, fetched_at).

Derived tables
    The analyst views read stored tables (``derived.py``); ``derived.after_load`` refreshes them
    inside the same transaction (or, in a file ``write_session``, once before publishing), so a
    reader never sees label tables and views disagree.

Column types are taken from the tables themselves (the SQL files are the only schema
definition); a frame missing a required column is rejected before anything is written.
An empty frame (no rows) may have no columns at all.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from ..normalize import contract  # names and types only, no normaliser logic
from . import derived
from .db import utc_now
from .lake import is_lake_connection

__all__ = [
    "BatchLike",
    "LoadStats",
    "CONTENT_TABLES",
    "load_batch",
    "known_documents",
    "start_run",
    "finish_run",
    "insert_run",
]


@runtime_checkable
class BatchLike(Protocol):
    """Anything shaped like ``normalize.magnesium.NormalizedBatch``: one pandas DataFrame per frame
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

_POS = "_wh_pos"
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError)


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


# --------------------------------------------------------------------------------------------
# runs


def _naive_utc(now: datetime | None) -> datetime:
    if now is None:
        return utc_now()
    if not isinstance(now, datetime):
        raise TypeError(f"now must be a datetime, not {type(now).__name__}")
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    return now


def insert_run(con: duckdb.DuckDBPyConnection, values: Mapping[str, Any]) -> int:
    """Insert one scrape_runs row (caller's transaction); run_id from the sequence, or on DuckLake
    (no sequences, no RETURNING) max + 1 (its writers are serialised by the session lock)."""
    cols = [c for c, v in values.items() if v is not None]
    params = [json.dumps(v, sort_keys=True) if isinstance(v, dict) else v for c, v in values.items() if v is not None]
    names = ", ".join(_q(c) for c in cols)
    marks = ", ".join("?" for _ in cols)
    if is_lake_connection(con):
        run_id = int(con.execute("SELECT coalesce(max(run_id), 0) + 1 FROM scrape_runs").fetchall()[0][0])
        con.execute(f"INSERT INTO scrape_runs (run_id, {names}) VALUES (?, {marks})", [run_id, *params])
        return run_id
    return int(con.execute(f"INSERT INTO scrape_runs ({names}) VALUES ({marks}) RETURNING run_id", params).fetchall()[0][0])


def start_run(con: duckdb.DuckDBPyConnection, command: str, *, now: datetime | None = None) -> int:
    """Record a new run (status 'running') in its own transaction; return its run_id."""
    con.begin()
    try:
        run_id = insert_run(con, {"command": command, "started_at": _naive_utc(now), "status": "running"})
        con.commit()
    except BaseException:
        _rollback_quietly(con)
        raise
    return int(run_id)


# How a run ended (warehouse/sql/003_run_statuses.sql says what each means).
RUN_STATUSES = ("ok", "partial", "failed", "aborted", "rate_limited")

_RUN_COUNT_COLUMNS = ("documents", "labels", "new_versions", "facts", "quarantined", "errors")


def finish_run(
    con: duckdb.DuckDBPyConnection,
    run_id: int,
    status: str,
    counts: LoadStats | Mapping[str, int] | None = None,
    message: str | None = None,
    *,
    now: datetime | None = None,
) -> None:
    """Close a run: set status (one of ``RUN_STATUSES``), ended_at, counts and message.

    ``counts`` is a ``LoadStats`` or a mapping. The keys documents, labels, new_versions, facts,
    quarantined and errors go to their columns; any other key (e.g. ``skipped``) is kept in the
    ``extra_counts`` JSON column. Counts that are not given (or None) stay as they are.
    Runs in its own transaction.
    """
    if status not in RUN_STATUSES:
        raise ValueError(f"status must be one of {', '.join(RUN_STATUSES)}, not {status!r}")
    if counts is None:
        values: dict[str, Any] = {}
    elif isinstance(counts, LoadStats):
        values = counts.run_counts()
    else:
        values = {str(k): v for k, v in dict(counts).items()}
    sets = ["status = ?", "ended_at = ?", "message = ?"]
    params: list[Any] = [status, _naive_utc(now), message]
    for col in _RUN_COUNT_COLUMNS:
        if values.get(col) is not None:
            sets.append(f"{col} = ?")
            params.append(int(values[col]))
    extra = {k: v for k, v in values.items() if k not in _RUN_COUNT_COLUMNS and v is not None}
    if extra:
        sets.append("extra_counts = ?")
        params.append(json.dumps(extra, sort_keys=True, default=str))
    con.begin()
    try:
        updated = con.execute(
            f"UPDATE scrape_runs SET {', '.join(sets)} WHERE run_id = ?", [*params, int(run_id)]
        ).fetchall()[0][0]
        if not updated:
            raise ValueError(f"no scrape run with run_id {run_id}")
        con.commit()
    except BaseException:
        _rollback_quietly(con)
        raise


def _rollback_quietly(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.rollback()
    except duckdb.Error:
        pass  # no transaction active (e.g. a failed COMMIT already rolled back)


# --------------------------------------------------------------------------------------------
# frames -> Arrow


def _is_null_scalar(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, (float, np.floating)):
        return math.isnan(v)
    return False


def _text_array(series: pd.Series, json_text: bool) -> pa.Array:
    """VARCHAR/JSON column -> Arrow strings (dicts/lists serialised for JSON)."""
    if json_text and series.dtype == object:
        series = series.map(
            lambda v: json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v
        )
    try:
        return pa.array(series, type=pa.string(), from_pandas=True)
    except _ARROW_ERRORS:
        # ids given as numbers ("source_id": 49495) are stored as text
        coerced = series.map(lambda v: None if _is_null_scalar(v) else str(v))
        return pa.array(coerced, type=pa.string(), from_pandas=True)


def _string_list_array(series: pd.Series) -> pa.Array:
    """VARCHAR[] column -> Arrow list of strings; a bare string is an error, not a list of letters."""
    try:
        return pa.array(series, type=pa.list_(pa.string()), from_pandas=True)
    except _ARROW_ERRORS:
        def as_list(v: Any) -> list[str | None] | None:
            if isinstance(v, (str, bytes)):
                raise TypeError(f"expected a list of strings, got the string {v!r}")
            if not isinstance(v, (list, tuple, np.ndarray, pd.Series)) and _is_null_scalar(v):
                return None
            return [None if _is_null_scalar(x) else str(x) for x in v]

        return pa.array(series.map(as_list), type=pa.list_(pa.string()), from_pandas=True)


def _arrow_column(series: pd.Series, duck_type: str, where: str) -> pa.Array:
    """Convert one column to Arrow with the table's type (strict, with a few safe coercions)."""
    t = duck_type.upper()
    try:
        if t in ("VARCHAR", "JSON"):
            return _text_array(series, json_text=t == "JSON")
        if t == "VARCHAR[]":
            return _string_list_array(series)
        if t in ("DOUBLE", "FLOAT", "REAL"):
            try:
                return pa.array(series, type=pa.float64(), from_pandas=True)
            except _ARROW_ERRORS:
                return pa.array(pd.to_numeric(series, errors="raise"), type=pa.float64(), from_pandas=True)
        if t in ("BIGINT", "INTEGER", "SMALLINT"):
            try:
                return pa.array(series, type=pa.int64(), from_pandas=True)
            except _ARROW_ERRORS:
                num = pd.to_numeric(series, errors="raise")
                return pa.array(num.astype("Int64"), type=pa.int64(), from_pandas=True)
        if t == "BOOLEAN":
            return pa.array(series, type=pa.bool_(), from_pandas=True)
        if t in ("TIMESTAMP", "DATE"):
            ts = pd.to_datetime(series, utc=True, format="ISO8601")
            return pa.array(ts.dt.tz_convert(None), type=pa.timestamp("us"), from_pandas=True)
    except (*_ARROW_ERRORS, ValueError, OverflowError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{where}: cannot read values as {duck_type}: {first}") from exc
    # any other type: let Arrow infer, the INSERT casts
    return pa.array(series, from_pandas=True)


def _frame_to_arrow(
    df: pd.DataFrame | None,
    columns: Mapping[str, str],
    required: tuple[str, ...] | list[str],
    name: str,
) -> pa.Table | None:
    """Select/convert ``columns`` of ``df``; None when the frame has no rows."""
    if df is None:
        return None
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name}: expected a pandas DataFrame, got {type(df).__name__}")
    if len(df) == 0:
        return None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}")
    if not df.columns.is_unique:
        dupes = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise ValueError(f"{name}: duplicate column(s) {dupes}")
    df = df.reset_index(drop=True)
    arrays, names = [], []
    for col, duck_type in columns.items():
        if col in df.columns:
            arrays.append(_arrow_column(df[col], duck_type, f"{name}.{col}"))
        else:
            arrays.append(pa.nulls(len(df)))
        names.append(col)
    arrays.append(pa.array(np.arange(len(df), dtype=np.int64)))
    names.append(_POS)
    # one chunk per column: a frame assembled with many pd.concat calls can carry thousands of
    # Arrow chunks per string column, which makes every scan of the registered table crawl
    return pa.Table.from_arrays(arrays, names=names).combine_chunks()


def _table_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = current_database() "
        "AND table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    if not rows:
        raise RuntimeError(f"warehouse table {table!r} does not exist; was connect() used?")
    return dict(rows)


# --------------------------------------------------------------------------------------------
# SQL helpers


def _q(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def _insert_new(
    con: duckdb.DuckDBPyConnection,
    table: str,
    view: str,
    columns: Mapping[str, str],
    key: tuple[str, ...],
) -> int:
    """INSERT rows of ``view`` whose key is not in ``table`` (first occurrence per key)."""
    cols = ", ".join(_q(c) for c in columns)
    casts = ", ".join(f"CAST(i.{_q(c)} AS {t}) AS {_q(c)}" for c, t in columns.items())
    part = ", ".join(_q(k) for k in key)
    match = " AND ".join(f"t.{_q(k)} IS NOT DISTINCT FROM CAST(i.{_q(k)} AS {columns[k]})" for k in key)
    sql = f"""
        INSERT INTO {_q(table)} ({cols})
        SELECT {casts}
        FROM (
            SELECT *, row_number() OVER (PARTITION BY {part} ORDER BY {_POS}) AS _wh_rn
            FROM {_q(view)}
        ) AS i
        WHERE i._wh_rn = 1
          AND NOT EXISTS (SELECT 1 FROM {_q(table)} AS t WHERE {match})
    """
    return int(con.execute(sql).fetchall()[0][0])


def _incoming_sql(view: str) -> str:
    """One (source, source_id, version_id) per label of the batch: the version that becomes current."""
    return f"""
        SELECT source, source_id, version_id FROM (
            SELECT CAST(source AS VARCHAR) AS source,
                   CAST(source_id AS VARCHAR) AS source_id,
                   CAST(version_id AS VARCHAR) AS version_id,
                   row_number() OVER (
                       PARTITION BY source, source_id
                       ORDER BY CAST(entry_date AS DATE) DESC NULLS LAST, {_POS} DESC
                   ) AS _wh_rn
            FROM {_q(view)}
        ) WHERE _wh_rn = 1
    """


def _load_documents(con, view: str, run_id: int, stats: LoadStats) -> None:
    stats.documents = int(
        con.execute(
            f"""
            INSERT INTO raw_documents (sha256, size, first_fetched_at, first_run_id)
            SELECT i.sha256, max(i.size), min(i.fetched_at), ?
            FROM {_q(view)} AS i
            WHERE NOT EXISTS (SELECT 1 FROM raw_documents AS d WHERE d.sha256 = i.sha256)
            GROUP BY i.sha256
            """,
            [run_id],
        ).fetchall()[0][0]
    )
    stats.fetches = int(
        con.execute(
            f"""
            INSERT INTO raw_fetches (sha256, url, fetched_at, status, headers, source, kind, run_id)
            SELECT i.sha256, i.url, i.fetched_at, CAST(i.status AS INTEGER), CAST(i.headers AS JSON),
                   i.source, i.kind, ?
            FROM (
                SELECT *, row_number() OVER (PARTITION BY sha256, url, fetched_at ORDER BY {_POS}) AS _wh_rn
                FROM {_q(view)}
            ) AS i
            WHERE i._wh_rn = 1
              AND NOT EXISTS (
                  SELECT 1 FROM raw_fetches AS f
                  WHERE f.sha256 = i.sha256 AND f.url = i.url AND f.fetched_at = i.fetched_at
              )
            """,
            [run_id],
        ).fetchall()[0][0]
    )


def _stale_versions_sql(labels_view: str) -> str:
    """Versions of the batch whose stored rows came from another normaliser version (or whose
    batch does not say which version made it): their derived rows are replaced."""
    return f"""
        SELECT CAST(i.source AS VARCHAR) AS source, CAST(i.source_id AS VARCHAR) AS source_id,
               CAST(i.version_id AS VARCHAR) AS version_id
        FROM {_q(labels_view)} AS i
        WHERE i.normalizer_version IS NULL OR NOT EXISTS (
            SELECT 1 FROM labels AS l
            WHERE l.source = CAST(i.source AS VARCHAR) AND l.source_id = CAST(i.source_id AS VARCHAR)
              AND l.version_id = CAST(i.version_id AS VARCHAR)
              AND l.normalizer_version = CAST(i.normalizer_version AS VARCHAR))
    """


def _replace_versions(con, labels_view: str | None) -> dict[str, int]:
    """Drop what is stored for the batch's label versions that the current normaliser has not
    produced, so re-normalising with improved code (a new ``NORMALIZER_VERSION``) replaces the
    derived rows (a version is the label's content, not the interpreter's output). Versions
    stored by the same normaliser version are left alone: unchanged rows are neither deleted nor
    re-inserted. Returns the rows deleted per table."""
    deleted = dict.fromkeys(CONTENT_TABLES, 0)
    if not labels_view:
        return deleted
    con.execute(f"CREATE OR REPLACE TEMP TABLE _wh_stale AS {_stale_versions_sql(labels_view)}")
    try:
        if not con.execute("SELECT count(*) FROM _wh_stale").fetchone()[0]:
            return deleted
        for table in CONTENT_TABLES:
            deleted[table] = int(con.execute(f"""
                DELETE FROM {_q(table)} AS t
                WHERE EXISTS (SELECT 1 FROM _wh_stale AS i
                              WHERE t.source = i.source AND t.source_id = i.source_id
                                AND t.version_id = i.version_id)
            """).fetchall()[0][0])
    finally:
        con.execute("DROP TABLE IF EXISTS _wh_stale")
    return deleted


def known_documents(con: duckdb.DuckDBPyConnection, sha256s: list[str], normalizer_version: str,
                    *, run_id: int | None = None) -> set[str]:
    """Which of these raw documents are already loaded by this normaliser version (ingest skips
    them). With ``run_id``, their current label versions are recorded as seen by that run, as a
    load of the unchanged document would. Runs in the caller's transaction."""
    if not sha256s:
        return set()
    con.register("_wh_in_shas", pa.table({"sha256": pa.array(sha256s, type=pa.string())}))
    try:
        known = {row[0] for row in con.execute(
            "SELECT DISTINCT l.raw_sha256 FROM labels AS l JOIN _wh_in_shas AS i ON l.raw_sha256 = i.sha256 "
            "WHERE l.normalizer_version = ?", [normalizer_version]).fetchall()}
        if known and run_id is not None:
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
    return known


def _load_content(con, views: Mapping[str, str], columns: Mapping[str, Mapping[str, str]], stats: LoadStats) -> None:
    deleted = _replace_versions(con, views.get("labels"))
    for table, spec in CONTENT_TABLES.items():
        view = views.get(table)
        written = _insert_new(con, table, view, columns[table], spec.key) if view else 0
        stats.inserted[table] = max(written - deleted[table], 0)  # net new rows


def _update_history(con, labels_view: str | None, run_id: int, now: datetime, stats: LoadStats) -> None:
    if not labels_view:
        return
    incoming = _incoming_sql(labels_view)
    n_versions, n_labels = con.execute(
        f"""
        SELECT count(DISTINCT (source, source_id, version_id)), count(DISTINCT (source, source_id))
        FROM {_q(labels_view)}
        """
    ).fetchone()
    stats.labels = int(n_versions)
    stats.superseded_in_batch = int(n_versions - n_labels)
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
    # 2. open a period for every label that now has no current version
    stats.new_versions = int(
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
    now = _naive_utc(now)
    missing_attrs = [a for a in CONTENT_TABLES if not hasattr(batch, a)]
    if missing_attrs:
        raise TypeError(f"batch has no attribute(s) {missing_attrs}")
    exists = con.execute("SELECT count(*) FROM scrape_runs WHERE run_id = ?", [int(run_id)]).fetchall()[0][0]
    if not exists:
        raise ValueError(f"no scrape run with run_id {run_id}; call start_run() first")

    # 1. validate and convert everything before the transaction starts
    columns = {t: _table_columns(con, t) for t in CONTENT_TABLES}
    arrow: dict[str, pa.Table] = {}
    for table, spec in CONTENT_TABLES.items():
        required = [c for c in columns[table] if c not in spec.optional]
        tbl = _frame_to_arrow(getattr(batch, table), columns[table], required, table)
        if tbl is not None:
            arrow[table] = tbl
    docs = _frame_to_arrow(documents_df, _DOC_COLUMNS, _DOC_REQUIRED, "documents_df")

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
            _rollback_quietly(con)
            raise
    finally:
        for view in views.values():
            try:
                con.unregister(view)
            except duckdb.Error:
                pass
    return stats
