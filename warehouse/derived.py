"""Materialised analyst views: every view file is stored as a table, refreshed with the data.

Each ``sql/views/*.sql`` file (``CREATE OR REPLACE VIEW name AS ...``, plus any ``COMMENT ON``)
is run as written, then its result is stored as ``derived.<name>`` and ``main.<name>`` is
replaced by ``SELECT * FROM derived.<name>``: the analyst-facing name, its columns and its
comments stay the same, but a query reads a stored table instead of re-aggregating the label
tables. Files run in file-name order, so a later view (``brand_comparison``) is computed from
the stored earlier one (``magnesium_daily``).

When: ``refresh(con)`` inside every ``load_batch`` transaction (readers of a DuckLake or of a
directly opened file never see base tables and views disagree); inside a file
``write_session`` the refresh is done once, just before the copy is published (readers only
ever see published files, so this is the same for them and saves a refresh per chunk). Also on
a read-write connect whenever the view files changed (``derived.refresh_state`` holds their
checksum). The refresh is full (measured in docs/benchmarks.md: ~1 s at 200,000 labels).

A view file whose text contains ``-- derived: live`` stays a plain view (for a view over data
that changes outside loads). HUGEINT columns (``sum`` of integers) are stored as BIGINT, which
pandas reads as int64 rather than float.
"""
from __future__ import annotations

import hashlib
import re
import time

import duckdb

from .ident import q
from .lake import is_lake_connection

__all__ = ["refresh", "refresh_in_transaction", "views_checksum", "is_current", "defer", "undefer", "after_load",
           "DERIVED_SCHEMA"]

DERIVED_SCHEMA = "derived"
LIVE_MARKER = "-- derived: live"
_VIEW_NAME_RE = re.compile(r"\bCREATE\s+OR\s+REPLACE\s+VIEW\s+([A-Za-z_][A-Za-z0-9_]*)\s+AS\b", re.IGNORECASE)
_WIDE_INTS = ("HUGEINT", "UHUGEINT", "INT128", "UINT128")
_COLUMN_COMMENT_RE = re.compile(r"(\bCOMMENT\s+ON\s+COLUMN\s+)([A-Za-z_][A-Za-z0-9_]*)\.", re.IGNORECASE)

# connections (by id) inside a file write_session: refresh once at publish, not per load
_DEFERRED: dict[int, bool] = {}


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def view_files() -> list[tuple[str, str]]:
    from .db import view_files as files  # db imports this module

    return files()


def views_checksum() -> str:
    h = hashlib.sha256()
    for name, sql in view_files():
        h.update(name.encode() + b"\0" + sql.encode() + b"\0")
    return h.hexdigest()


def _columns(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> list[tuple[str, str, str | None]]:
    return con.execute(
        "SELECT column_name, data_type, comment FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name = ? AND table_name = ? ORDER BY column_index",
        [schema, name],
    ).fetchall()


def _view_comment(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    row = con.execute(
        "SELECT comment FROM duckdb_views() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND view_name = ?", [name]).fetchone()
    return row[0] if row else None


def _materialise(con: duckdb.DuckDBPyConnection, name: str, lake: bool) -> None:
    cols = _columns(con, "main", name)
    comment = _view_comment(con, name)
    select = ", ".join(f"CAST({q(c)} AS BIGINT) AS {q(c)}" if t.upper() in _WIDE_INTS else q(c)
                       for c, t, _ in cols)
    target = f"{DERIVED_SCHEMA}.{q(name)}"
    con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT {select} FROM main.{q(name)}")
    con.execute(f"CREATE OR REPLACE VIEW main.{q(name)} AS SELECT * FROM {target}")
    if comment:
        con.execute(f"COMMENT ON VIEW main.{q(name)} IS {_lit(comment)}")
        con.execute(f"COMMENT ON TABLE {target} IS {_lit(comment)}")
    for col, _, col_comment in cols:
        if not col_comment:
            continue
        # DuckLake cannot comment view columns; the stored table carries them there
        owner = target if lake else f"main.{q(name)}"
        con.execute(f"COMMENT ON COLUMN {owner}.{q(col)} IS {_lit(col_comment)}")


def _comment_stored_tables(con: duckdb.DuckDBPyConnection, names: list[str]) -> None:
    """Comments given to the analyst views after they were stored (a comments file runs last) are
    copied to their stored tables, so ``duckdb_columns()`` explains both."""
    for name in names:
        for col, _, comment in _columns(con, "main", name):
            if comment:
                con.execute(f"COMMENT ON COLUMN {DERIVED_SCHEMA}.{q(name)}.{q(col)} IS {_lit(comment)}")
        if comment := _view_comment(con, name):
            con.execute(f"COMMENT ON TABLE {DERIVED_SCHEMA}.{q(name)} IS {_lit(comment)}")


def refresh_in_transaction(con: duckdb.DuckDBPyConnection) -> float:
    """Re-run every view file and store its result; the caller holds the transaction. Seconds taken."""
    started = time.perf_counter()
    lake = is_lake_connection(con)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {DERIVED_SCHEMA}")
    stored: list[str] = []
    for file_name, sql in view_files():
        try:
            if lake:  # DuckLake cannot comment view columns: the stored table carries them
                sql = _COLUMN_COMMENT_RE.sub(
                    lambda m: f"{m.group(1)}{DERIVED_SCHEMA}.{m.group(2)}." if m.group(2) in stored else m.group(0), sql)
            con.execute(sql)
            if LIVE_MARKER in sql:
                continue
            for name in dict.fromkeys(_VIEW_NAME_RE.findall(sql)):
                _materialise(con, name, lake)
                stored.append(name)
        except duckdb.Error as exc:
            from .db import WarehouseError, _one_line

            raise WarehouseError(f"view file {file_name} failed: {_one_line(exc)}") from exc
    if not lake:
        _comment_stored_tables(con, stored)
    con.execute(f"CREATE TABLE IF NOT EXISTS {DERIVED_SCHEMA}.refresh_state "
                "(views_checksum VARCHAR NOT NULL, refreshed_at TIMESTAMP NOT NULL, seconds DOUBLE)")
    con.execute(f"DELETE FROM {DERIVED_SCHEMA}.refresh_state")
    seconds = time.perf_counter() - started
    con.execute(f"INSERT INTO {DERIVED_SCHEMA}.refresh_state VALUES (?, now()::TIMESTAMP, ?)",
                [views_checksum(), seconds])
    return seconds


def refresh(con: duckdb.DuckDBPyConnection) -> float:
    """``refresh_in_transaction`` in a transaction of its own."""
    con.begin()
    try:
        seconds = refresh_in_transaction(con)
        con.commit()
    except BaseException:
        try:
            con.rollback()
        except duckdb.Error:
            pass
        raise
    return seconds


def is_current(con: duckdb.DuckDBPyConnection) -> bool:
    """The stored derived tables were built from the view files of this code."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = 'refresh_state'", [DERIVED_SCHEMA]).fetchall()[0][0]
    if not exists:
        return False
    row = con.execute(f"SELECT views_checksum FROM {DERIVED_SCHEMA}.refresh_state").fetchone()
    if not row or row[0] != views_checksum():
        return False
    # every analyst view still points at its stored table (nobody replaced one by hand)
    for _, sql in view_files():
        if LIVE_MARKER in sql:
            continue
        for name in _VIEW_NAME_RE.findall(sql):
            stored = con.execute(
                "SELECT sql FROM duckdb_views() WHERE database_name = current_database() "
                "AND schema_name = 'main' AND view_name = ?", [name]).fetchone()
            if not stored or f"{DERIVED_SCHEMA}." not in stored[0]:
                return False
    return True


def defer(con: duckdb.DuckDBPyConnection) -> None:
    """Loads on ``con`` only mark the derived tables stale; the session refreshes at publish."""
    _DEFERRED[id(con)] = False


def deferred(con: duckdb.DuckDBPyConnection) -> bool:
    """True inside a file write session: ``con`` works on a copy that a failure discards."""
    return id(con) in _DEFERRED


def undefer(con: duckdb.DuckDBPyConnection) -> bool:
    """Stop deferring; True when a load happened since ``defer`` (a refresh is due)."""
    return _DEFERRED.pop(id(con), False)


def after_load(con: duckdb.DuckDBPyConnection) -> None:
    """Called inside the load transaction, just before COMMIT."""
    if id(con) in _DEFERRED:
        _DEFERRED[id(con)] = True
    else:
        refresh_in_transaction(con)
