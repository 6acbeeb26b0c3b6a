"""Write sessions: writers never open the live warehouse file for writing.

Analysts keep the DuckDB file open read-only for hours (CLI, notebooks); DuckDB would refuse a
writer on that file ("Conflicting lock"). So a file write session

1. takes ``<db>.lock`` (``filelock``; waits up to ``lock_timeout`` s for another writer; readers
   never take it),
2. copies the live file to a temporary file in the same directory (cost measured in
   docs/benchmarks.md: ~0.2 s at 200,000 labels),
3. yields a read-write connection on the copy (migrations, views and derived tables brought up
   to date there),
4. on a clean exit refreshes the derived tables, CHECKPOINTs, closes and ``os.replace``s the copy
   onto the live path (atomic; open readers keep their snapshot of the old file, new readers see
   the new one);
5. on an exception discards the copy: the warehouse is as it was. The session's run rows
   (``scrape_runs``, 'running' ones marked 'failed') are then published on their own.

A run that cannot write at all (lock timeout, disk full) is appended to
``<db>.pending-runs.jsonl`` and imported into ``scrape_runs`` by the next session that
publishes. DuckLake targets are written directly (each load is one DuckLake transaction);
writers of a SQLite catalog serialise on ``<catalog>.lock``.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from filelock import FileLock, Timeout

from ..settings import Settings
from . import derived, lake
from .db import WarehouseError, connect, default_db_path, utc_now

__all__ = ["write_session", "record_failed_run", "pending_log_path", "WarehouseLocked"]

log = logging.getLogger(__name__)

_RUN_FIELDS = ("command", "started_at", "ended_at", "status", "documents", "labels", "new_versions", "facts",
               "quarantined", "errors", "extra_counts", "message")


class WarehouseLocked(WarehouseError):
    """Another writer held the warehouse longer than the lock timeout."""


def pending_log_path(target: str) -> Path:
    if lake.is_lake(target):
        lt = lake.parse_target(target, None, Settings.load().data_dir)
        base = lt.catalog if lt.kind == "sqlite" else str(Path(lt.data_path).parent / "lake")
        return Path(base + ".pending-runs.jsonl")
    return Path(str(Path(target).expanduser().absolute()) + ".pending-runs.jsonl")


def record_failed_run(target: str, command: str, message: str) -> Path | None:
    """Append a run that could not reach the warehouse to its pending log (None if even that fails)."""
    now = utc_now().isoformat()
    return _append_pending(target, [{"command": command, "started_at": now, "ended_at": now, "status": "failed",
                                     "message": message}])


def _append_pending(target: str, runs: list[dict[str, Any]]) -> Path | None:
    path = pending_log_path(target)
    try:
        with path.open("a", encoding="utf-8") as fh:
            for run in runs:
                fh.write(json.dumps(run, default=str, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        log.warning("cannot record failed runs in %s: %s: %s", path, exc.strerror, runs)
        return None
    return path


def _claim_pending(target: str) -> list[Path]:
    """Move the pending log aside (appenders start a new one) and return every claimed log."""
    path = pending_log_path(target)
    if path.exists():
        try:
            path.rename(path.with_name(f"{path.stem}.{uuid.uuid4().hex[:8]}.claimed"))
        except OSError:
            pass
    return sorted(path.parent.glob(f"{path.stem}.*.claimed"))


def _insert_runs(con: duckdb.DuckDBPyConnection, runs: list[dict[str, Any]]) -> None:
    from .runs import insert_run

    for run in runs:
        insert_run(con, {k: run.get(k) for k in _RUN_FIELDS})


def _import_pending(con: duckdb.DuckDBPyConnection, logs: list[Path]) -> None:
    runs: list[dict[str, Any]] = []
    for path in logs:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    runs.append(json.loads(line))
                except json.JSONDecodeError:
                    log.warning("unreadable line in %s skipped: %r", path, line[:200])
    if runs:
        con.begin()
        try:
            _insert_runs(con, runs)
            con.commit()
        except BaseException:
            con.rollback()
            raise


def _session_runs(con: duckdb.DuckDBPyConnection, after: int, exc: BaseException) -> list[dict[str, Any]]:
    """Run rows written in this session, 'running' ones turned into 'failed' with the error."""
    try:
        rows = con.execute(f"SELECT {', '.join(_RUN_FIELDS)} FROM scrape_runs WHERE run_id > ? ORDER BY run_id",
                           [after]).fetchall()
    except duckdb.Error:
        return []
    message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    runs = []
    for row in rows:
        run = dict(zip(_RUN_FIELDS, row, strict=True))
        if run["status"] == "running":
            run.update(status="failed", ended_at=utc_now(), message=f"{type(exc).__name__}: {message}")
        runs.append(run)
    return runs


def _max_run_id(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("SELECT coalesce(max(run_id), 0) FROM scrape_runs").fetchall()[0][0])


# --------------------------------------------------------------------------------------------
# file sessions


def _work_path(live: Path) -> Path:
    return live.with_name(f".{live.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _remove(path: Path) -> None:
    for p in (path, Path(str(path) + ".wal")):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def _copy(live: Path) -> Path:
    for stale in live.parent.glob(f".{live.name}.*.tmp"):  # left by a killed session (we hold the lock)
        _remove(stale)
    work = _work_path(live)
    try:
        if live.exists():
            shutil.copyfile(live, work)
            if Path(str(live) + ".wal").exists():  # left by an older maglabels that wrote in place
                shutil.copyfile(str(live) + ".wal", str(work) + ".wal")
    except OSError as exc:
        _remove(work)
        raise WarehouseError(f"cannot copy warehouse {live} to write it: {exc.strerror or exc}") from exc
    return work


def _publish(work: Path, live: Path) -> None:
    fd = os.open(work, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    _remove(Path(str(live) + ".wal"))  # already replayed into the copy; must not meet the new file
    os.replace(work, live)
    dir_fd = os.open(live.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


SESSION_CHECKPOINT_THRESHOLD = "128MB"  # of write-ahead log between checkpoints (DuckDB's default: 16MB)
# DuckDB's memory in a session (default: 80 % of RAM, which it keeps). It fills up to the limit
# with the copy's blocks and, at the end, the derived refresh: 512 MB was reached only by large
# inputs (the ingest's peak grew with them), 256 MB is reached by all and cost no time
# (docs/benchmarks.md, "Ingest and the raw archive").
SESSION_MEMORY_LIMIT = "256MB"


def _close_quietly(con: duckdb.DuckDBPyConnection) -> None:
    derived.undefer(con)
    try:
        con.close()
    except duckdb.Error:
        pass


def _publish_runs(live: Path, runs: list[dict[str, Any]]) -> None:
    """Put the run rows of a discarded session into the warehouse (or the pending log)."""
    if not runs:
        return
    try:
        work = _copy(live)
        con = connect(work)
        try:
            con.begin()
            _insert_runs(con, runs)
            con.commit()
            con.execute("CHECKPOINT")
        finally:
            con.close()
        _publish(work, live)
    except (OSError, duckdb.Error, WarehouseError) as exc:
        log.warning("cannot record the failed run in %s (%s); kept in the pending log", live, exc)
        _remove(_work_path(live))
        _append_pending(str(live), runs)


def _no_run(command: str | None, exc: BaseException) -> list[dict[str, Any]]:
    if not command:
        return []
    now = utc_now()
    message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return [{"command": command, "started_at": now, "ended_at": now, "status": "failed",
             "message": f"{type(exc).__name__}: {message}"}]


def _acquire(lock_path: Path, timeout: float, target: str) -> FileLock:
    """The writers' lock of ``target``, or ``WarehouseLocked`` after ``timeout`` seconds."""
    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise WarehouseLocked(f"cannot write warehouse {target}: another writer held {lock.lock_file} "
                              f"for more than {timeout:g} s") from None
    return lock


@contextmanager
def _file_session(live: Path, timeout: float, command: str | None) -> Iterator[duckdb.DuckDBPyConnection]:
    try:
        live.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WarehouseError(f"cannot open warehouse {live}: cannot create directory {live.parent} "
                             f"({exc.strerror})") from exc
    lock = _acquire(Path(str(live) + ".lock"), timeout, str(live))
    try:
        try:
            work = _copy(live)
        except WarehouseError as exc:  # e.g. disk full: nothing written; keep the run in the log
            _append_pending(str(live), _no_run(command, exc))
            raise
        claimed = _claim_pending(str(live))
        try:
            con = connect(work)
        except BaseException:
            _remove(work)
            raise
        try:
            # A session's chunk commits need not each checkpoint (the copy is discarded on failure;
            # at the default 16 MB of log every commit rewrote the tables, ~1-2 s each), and DuckDB
            # may cache only so much of the copy: the ingest's memory stays flat as the input grows
            # (docs/benchmarks.md). Larger work spills to <copy>.tmp.
            con.execute(f"SET checkpoint_threshold = '{SESSION_CHECKPOINT_THRESHOLD}'")
            con.execute(f"SET memory_limit = '{SESSION_MEMORY_LIMIT}'")
            _import_pending(con, claimed)
            after = _max_run_id(con)
            derived.defer(con)
            yield con
            if derived.undefer(con):
                derived.refresh(con)
            con.execute("CHECKPOINT")
            con.close()
            _publish(work, live)
        except BaseException as exc:
            runs = _session_runs(con, after, exc) if "after" in locals() else []
            _close_quietly(con)
            _remove(work)
            _publish_runs(live, runs or _no_run(command, exc))
            if isinstance(exc, (OSError, duckdb.Error)):
                raise WarehouseError(f"cannot write warehouse {live}: {exc}; it is unchanged") from exc
            raise
        for path in claimed:
            path.unlink(missing_ok=True)
    finally:
        lock.release()


# --------------------------------------------------------------------------------------------
# DuckLake sessions


@contextmanager
def _lake_session(target: str, timeout: float, command: str | None) -> Iterator[duckdb.DuckDBPyConnection]:
    lock_path = lake.parse_target(target, None, Settings.load().data_dir).lock_path
    if lock_path:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = _acquire(lock_path, timeout, target) if lock_path else None
    try:
        con = connect(target)
        try:
            claimed = _claim_pending(target)
            _import_pending(con, claimed)
            for path in claimed:
                path.unlink(missing_ok=True)
            after = _max_run_id(con)
            yield con
        except BaseException as exc:
            # each load was its own transaction (rolled back on error); close the runs left open
            if "after" in locals():
                message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                try:
                    con.execute("UPDATE scrape_runs SET status = 'failed', ended_at = ?, message = ? "
                                "WHERE status = 'running' AND run_id > ?",
                                [utc_now(), f"{type(exc).__name__}: {message}", after])
                except duckdb.Error:
                    pass
            raise
        finally:
            con.close()
    finally:
        if lock:
            lock.release()


@contextmanager
def write_session(target: str | os.PathLike | None = None, *, lock_timeout: float | None = None,
                  command: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection to the warehouse, published atomically on clean exit.

    ``lock_timeout`` (default: the ``lock_timeout`` setting) is how long to wait for another
    writer; ``command`` names the run recorded as failed when the session fails before any
    ``start_run`` (e.g. a migration that fails). Raises ``WarehouseLocked`` on timeout and
    ``WarehouseError`` when the copy cannot be written or published.
    """
    timeout = Settings.load().lock_timeout if lock_timeout is None else float(lock_timeout)
    target_str = str(default_db_path() if target is None else target)
    if target_str.startswith(":memory:"):
        con = connect(target_str)
        try:
            yield con
        finally:
            con.close()
    elif lake.is_lake(target_str):
        with _lake_session(target_str, timeout, command) as con:
            yield con
    else:
        with _file_session(Path(target_str).expanduser().absolute(), timeout, command) as con:
            yield con
