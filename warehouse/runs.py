"""Run records (``scrape_runs``): one row per command that loads data, opened and closed in
transactions of their own, so a failed load (rolled back) still leaves its run behind."""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import duckdb

from .db import utc_now
from .ident import q
from .lake import is_lake_connection

__all__ = ["RUN_STATUSES", "finish_run", "insert_run", "naive_utc", "rollback_quietly", "start_run"]




def naive_utc(now: datetime | None) -> datetime:
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
    names = ", ".join(q(c) for c in cols)
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
        run_id = insert_run(con, {"command": command, "started_at": naive_utc(now), "status": "running"})
        con.commit()
    except BaseException:
        rollback_quietly(con)
        raise
    return int(run_id)


# How a run ended (warehouse/sql/003_run_statuses.sql says what each means).
RUN_STATUSES = ("ok", "partial", "failed", "aborted", "rate_limited")

_RUN_COUNT_COLUMNS = ("documents", "labels", "new_versions", "facts", "quarantined", "errors")


def finish_run(
    con: duckdb.DuckDBPyConnection,
    run_id: int,
    status: str,
    counts: Any = None,
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
    elif hasattr(counts, "run_counts"):  # a load.LoadStats
        values = counts.run_counts()
    else:
        values = {str(k): v for k, v in dict(counts).items()}
    sets = ["status = ?", "ended_at = ?", "message = ?"]
    params: list[Any] = [status, naive_utc(now), message]
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
        rollback_quietly(con)
        raise


def rollback_quietly(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.rollback()
    except duckdb.Error:
        pass  # no transaction active (e.g. a failed COMMIT already rolled back)
