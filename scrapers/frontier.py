"""Crawl frontier of the nightly DSLD job: which label ids exist, what was fetched, what is due.

Tables come from warehouse/sql/004_crawl_frontier.sql; every function takes an open DuckDB
connection (the caller decides the transaction / write session), so the frontier is written
in batches, not per label.

Work order (``work_queue``): ids never tried, then failures whose backoff has passed, then
good labels older than the refresh period, stalest first.

Failures back off exponentially: the n-th consecutive failure waits
``RETRY_BASE * 2**(n-1)`` (capped at ``RETRY_CAP``); after ``MAX_ATTEMPTS`` consecutive
failures the id is ``gave_up`` and is no longer fetched (``maglabels status`` counts it
as failed; a good fetch of it, e.g. from a bulk download, clears it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

MAX_ATTEMPTS = 5
RETRY_BASE = timedelta(hours=1)
RETRY_CAP = timedelta(days=7)


@dataclass(frozen=True)
class Outcome:
    """The result of one label fetch: ``content_hash`` when good, ``error`` when not."""

    label_id: int
    fetched_at: datetime
    content_hash: str | None = None
    error: str | None = None


def _frame(con, name: str, df: pd.DataFrame) -> None:
    con.register(name, df)


def add_discovered(con, ids: Iterable[int], now: datetime) -> int:
    """Insert ids not yet in the frontier; returns how many were new."""
    df = pd.DataFrame({"label_id": sorted({int(i) for i in ids})}, dtype="int64")
    if df.empty:
        return 0
    _frame(con, "_discovered", df)
    try:
        return int(con.execute(
            "INSERT INTO crawl_frontier (label_id, discovered_at) SELECT d.label_id, ? FROM _discovered d "
            "WHERE NOT EXISTS (SELECT 1 FROM crawl_frontier f WHERE f.label_id = d.label_id)", [now]
        ).fetchone()[0])
    finally:
        con.unregister("_discovered")


def known_ids(con) -> set[int]:
    return {int(r[0]) for r in con.execute("SELECT label_id FROM crawl_frontier").fetchall()}


def record_outcomes(con, outcomes: Iterable[Outcome], *, only_newer: bool = False) -> None:
    """Store fetch results (ids not yet in the frontier are added).

    ``only_newer`` (archive reconciliation): only good outcomes newer than the frontier's last
    fetch that bring content the frontier does not have (a killed run's unrecorded fetches).
    """
    rows = list(outcomes)
    if not rows:
        return
    add_discovered(con, (o.label_id for o in rows), min(o.fetched_at for o in rows))
    df = pd.DataFrame({
        "label_id": pd.Series([o.label_id for o in rows], dtype="int64"),
        "fetched_at": pd.Series([o.fetched_at for o in rows], dtype="datetime64[us]"),
        "content_hash": pd.Series([o.content_hash for o in rows], dtype="object"),
        "error": pd.Series([o.error for o in rows], dtype="object"),
    })
    newer = ("AND (f.last_fetched_at IS NULL OR o.fetched_at > f.last_fetched_at) "
             "AND f.content_hash IS DISTINCT FROM o.content_hash") if only_newer else ""
    base_s = RETRY_BASE.total_seconds()
    cap_s = RETRY_CAP.total_seconds()
    _frame(con, "_outcomes", df)
    try:
        # the last outcome per id wins (a run may fetch a failing id only once, but be safe)
        con.execute(f"""
            UPDATE crawl_frontier AS f SET
                last_fetched_at = o.fetched_at,
                last_status = CASE WHEN o.content_hash IS NOT NULL THEN 'ok'
                                   WHEN f.attempts + 1 >= {MAX_ATTEMPTS} THEN 'gave_up' ELSE 'error' END,
                last_error = o.error,
                attempts = CASE WHEN o.content_hash IS NOT NULL THEN 0 ELSE f.attempts + 1 END,
                next_attempt_at = CASE WHEN o.content_hash IS NOT NULL THEN NULL
                    ELSE o.fetched_at + to_seconds(least({base_s} * pow(2, f.attempts), {cap_s})) END,
                content_hash = coalesce(o.content_hash, f.content_hash)
            FROM (SELECT * FROM _outcomes QUALIFY row_number() OVER (PARTITION BY label_id ORDER BY fetched_at DESC) = 1) AS o
            WHERE f.label_id = o.label_id {newer}
        """)
    finally:
        con.unregister("_outcomes")


def work_queue(con, now: datetime, *, refresh_days: int, limit: int | None = None) -> list[int]:
    """Ids to fetch, in order: never tried, failures due for retry, labels past the refresh period."""
    stale = now - timedelta(days=refresh_days)
    sql = """
        SELECT label_id FROM (
            SELECT label_id, 0 AS tier, label_id::DOUBLE AS k FROM crawl_frontier WHERE last_status IS NULL
            UNION ALL
            SELECT label_id, 1, epoch(next_attempt_at) FROM crawl_frontier
             WHERE last_status = 'error' AND next_attempt_at <= ?
            UNION ALL
            SELECT label_id, 2, epoch(last_fetched_at) FROM crawl_frontier
             WHERE last_status = 'ok' AND last_fetched_at <= ?
        ) ORDER BY tier, k, label_id
    """ + (f" LIMIT {int(limit)}" if limit is not None else "")
    return [int(r[0]) for r in con.execute(sql, [now, stale]).fetchall()]


def to_load(con) -> dict[int, str]:
    """label id -> content hash of good fetches not yet loaded into the warehouse."""
    return {int(a): str(b) for a, b in con.execute(
        "SELECT label_id, content_hash FROM crawl_frontier "
        "WHERE content_hash IS NOT NULL AND loaded_hash IS DISTINCT FROM content_hash").fetchall()}


def mark_loaded(con, loaded: dict[int, str]) -> None:
    if not loaded:
        return
    df = pd.DataFrame({"label_id": pd.Series(list(loaded), dtype="int64"),
                       "h": pd.Series(list(loaded.values()), dtype="object")})
    _frame(con, "_loaded", df)
    try:
        con.execute("UPDATE crawl_frontier AS f SET loaded_hash = l.h FROM _loaded l WHERE f.label_id = l.label_id")
    finally:
        con.unregister("_loaded")


def note_problem(con, run_id: int | None, partition_key: str, problem: str, *, now: datetime,
                 reported: int | None = None, seen: int | None = None, detail: str | None = None) -> None:
    con.execute("INSERT INTO crawl_problems VALUES (?, ?, ?, ?, ?, ?, ?)",
                [run_id, now, partition_key, problem, reported, seen, detail])


def get_state(con, key: str) -> Any:
    row = con.execute("SELECT value FROM crawl_state WHERE key = ?", [key]).fetchone()
    return None if row is None or row[0] is None else json.loads(row[0])


def set_state(con, key: str, value: Any, now: datetime) -> None:
    # delete + insert, not ON CONFLICT: DuckLake tables have no primary keys to conflict on
    con.execute("DELETE FROM crawl_state WHERE key = ?", [key])
    con.execute("INSERT INTO crawl_state VALUES (?, ?, ?)", [key, json.dumps(value, sort_keys=True), now])


def status(con, now: datetime, *, refresh_days: int, requests_per_hour: int) -> dict[str, Any]:
    """How complete the crawl is, and how long the rest takes at ``requests_per_hour``."""
    stale = now - timedelta(days=refresh_days)
    row = con.execute("""
        SELECT count(*),
               count(*) FILTER (WHERE content_hash IS NOT NULL),
               count(*) FILTER (WHERE content_hash IS NULL AND (last_status IS NULL OR last_status = 'error')),
               count(*) FILTER (WHERE last_status IN ('error', 'gave_up')),
               count(*) FILTER (WHERE last_status = 'gave_up'),
               count(*) FILTER (WHERE last_status = 'ok' AND last_fetched_at <= ?),
               count(*) FILTER (WHERE content_hash IS NOT NULL AND loaded_hash IS NOT DISTINCT FROM content_hash),
               max(last_fetched_at)
        FROM crawl_frontier
    """, [stale]).fetchone()
    discovered, fetched, pending, failed, gave_up, due_refresh, loaded, last = row
    problems = con.execute("SELECT count(*) FROM crawl_problems").fetchone()[0]
    full = get_state(con, "full_discovery") or {}
    remaining = int(pending) + int(due_refresh)
    eta_hours = remaining / requests_per_hour if requests_per_hour else None
    return {
        "discovered": int(discovered), "fetched": int(fetched), "pending": int(pending),
        "failed": int(failed), "gave_up": int(gave_up), "due_refresh": int(due_refresh),
        "loaded": int(loaded), "search_problems": int(problems),
        "last_fetch": last.isoformat() if last else None,
        "last_full_discovery": full.get("completed_at"),
        "requests_per_hour": requests_per_hour,
        "eta_hours": round(eta_hours, 2) if eta_hours is not None else None,
    }
