"""Opening the DuckDB warehouse: default location, migrations, views, clear errors.

Location
    ``default_db_path()`` is ``$MAGLABELS_DB`` when set; otherwise
    ``<data dir>/maglabels.duckdb`` where the data dir is ``$MAGLABELS_DATA_DIR`` or ``./data``
    (relative to the current working directory).

Schema
    Migrations are the files ``warehouse/sql/NNN_<name>.sql``, applied in numeric order, each in
    its own transaction together with its row in ``schema_migrations``. Applied migrations are
    never re-run, so ``connect()`` is idempotent. A database whose ``schema_migrations`` holds a
    version this code does not know was written by a newer maglabels and is refused.

    Views are not migrations: every ``warehouse/sql/views/*.sql`` file is re-run (they all use
    ``CREATE OR REPLACE VIEW``) on every read-write connect, in file-name order, so a view
    definition edited in the source takes effect the next time the database is opened.
    On a read-only connection the same files are run as ``TEMP`` views (a read-only database
    cannot be written); a read-only connection to a database with pending migrations is refused.

Errors
    Anything that prevents opening the database (not a DuckDB file, a directory, no
    permission, locked by another process, written by an incompatible DuckDB) is raised as
    ``WarehouseError`` with a one-line message naming the file.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import duckdb

from ..settings import Settings
from . import derived, lake

__all__ = [
    "WarehouseError",
    "Migration",
    "default_db_path",
    "connect",
    "write_session",
    "check_writable",
    "migrations",
    "view_files",
    "schema_version",
    "utc_now",
]


STORAGE_VERSION = "v1.3.0"  # DuckDB storage format of a new warehouse file (see _open_file)
_MIGRATION_RE = re.compile(r"^(\d{3,})_([A-Za-z0-9_]+)\.sql$")


class WarehouseError(RuntimeError):
    """The warehouse database cannot be opened or used (one-line message)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def utc_now() -> datetime:
    """Naive UTC timestamp (all warehouse TIMESTAMP columns are UTC)."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def default_db_path() -> Path:
    """``$MAGLABELS_DB``, else ``$MAGLABELS_DATA_DIR/maglabels.duckdb``, else ``./data/maglabels.duckdb``."""
    return Path(Settings.load().db_path)


def _sql_dir():
    return resources.files("maglabels.warehouse") / "sql"


def migrations() -> list[Migration]:
    """All migration files, sorted by version. Duplicate version numbers are an error."""
    found: dict[int, Migration] = {}
    for entry in _sql_dir().iterdir():
        m = _MIGRATION_RE.match(entry.name)
        if not m or not entry.is_file():
            continue
        version = int(m.group(1))
        if version in found:
            raise WarehouseError(
                f"two migrations with version {version}: {found[version].name} and {m.group(2)}"
            )
        found[version] = Migration(version, m.group(2), entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def view_files() -> list[tuple[str, str]]:
    """(file name, SQL) of every view file, in file-name order."""
    views_dir = _sql_dir() / "views"
    files = sorted(
        (e for e in views_dir.iterdir() if e.is_file() and e.name.endswith(".sql")),
        key=lambda e: e.name,
    )
    return [(e.name, e.read_text(encoding="utf-8")) for e in files]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _open_error(path: str, exc: BaseException) -> WarehouseError:
    msg = _one_line(exc)
    low = msg.lower()
    if "not a valid duckdb database" in low:
        why = "not a DuckDB database file"
    elif "could not set lock" in low or "conflicting lock" in low:
        pid = re.search(r"\(PID (\d+)\)", msg)
        why = "locked by another process" + (f" (PID {pid.group(1)})" if pid else "")
    elif "different configuration" in low:
        why = "already open in this process with a different read_only setting"
    elif "permission denied" in low:
        why = "permission denied"
    elif "is a directory" in low:
        why = "is a directory, not a database file"
    elif "version" in low and ("storage" in low or "serializ" in low):
        why = (f"written by an incompatible DuckDB version ({msg}); this maglabels uses duckdb "
               f"{duckdb.__version__}: rebuild the warehouse from the archive with `maglabels normalize --db NEW_FILE`")
    elif "no such file" in low or "does not exist" in low:
        why = "does not exist"
    else:
        why = msg
    return WarehouseError(f"cannot open warehouse {path}: {why}")


def connect(path: str | os.PathLike | None = None, read_only: bool = False, *,
            lake_data_path: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the warehouse and bring its schema and views up to date.

    ``path`` defaults to ``default_db_path()``; ``":memory:"`` gives an in-memory warehouse;
    ``ducklake:sqlite:PATH`` / ``ducklake:postgres:CONNINFO`` a DuckLake (``lake.py``).
    Raises ``WarehouseError`` when the target cannot be opened as a maglabels warehouse.
    Writers should use ``write_session`` instead: it never opens the live file for writing.
    """
    target = default_db_path() if path is None else path
    target_str = str(target)
    if lake.is_lake(target_str):
        try:
            settings = Settings.load()
            lake_target = lake.parse_target(target_str, lake_data_path or settings.lake_data_path, settings.data_dir)
            con = lake.open_lake(lake_target, read_only=read_only)
        except lake.LakeError as exc:
            raise WarehouseError(str(exc)) from None
    else:
        con = _open_file(target_str, read_only)
    try:
        if read_only:
            _check_schema_current(con, target_str)
            if not derived.is_current(con):  # written with older view files: compute them here
                _create_views(con, temp=True)
        else:
            _check_ours(con, target_str)
            applied = _migrate(con, target_str)
            if applied or not derived.is_current(con):
                derived.refresh(con)
    except WarehouseError:
        con.close()
        raise
    except duckdb.Error as exc:
        con.close()
        raise WarehouseError(f"cannot prepare warehouse {target_str}: {_one_line(exc)}") from exc
    except BaseException:
        con.close()
        raise
    return con


def _open_file(target_str: str, read_only: bool) -> duckdb.DuckDBPyConnection:
    in_memory = target_str == ":memory:" or target_str.startswith(":memory:")
    if not in_memory:
        p = Path(target_str).expanduser()
        if read_only and not p.exists():
            raise WarehouseError(f"cannot open warehouse {p}: does not exist")
        if not read_only:
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WarehouseError(
                    f"cannot open warehouse {p}: cannot create directory {p.parent} ({exc.strerror})"
                ) from exc
        target_str = str(p)
    # a new file in DuckDB's v1.3 storage format, whose checkpoints store strings as DICT_FSST instead of
    # FSST or dictionary segments: ~30 % less CPU at the ingest's checkpoints than in DuckDB's default
    # (v0.10.2) format, the file 15 % smaller (docs/benchmarks.md, "Load"); DuckDB >= 1.3 reads it (this
    # project pins 1.5). An existing file keeps the format it was created with.
    config: dict[str, str | bool | int | float | list[str]] = {}
    if not (in_memory or read_only or Path(target_str).exists()):
        config["storage_compatibility_version"] = STORAGE_VERSION
    try:
        return duckdb.connect(target_str, read_only=read_only, config=config)
    except duckdb.Error as exc:
        raise _open_error(target_str, exc) from exc


def write_session(target: str | os.PathLike | None = None, *, lock_timeout: float | None = None,
                  command: str | None = None):
    """Context manager: a read-write connection published atomically on clean exit (``session.py``)."""
    from .session import write_session as session  # session imports this module

    return session(target, lock_timeout=lock_timeout, command=command)


def check_writable(target: str | os.PathLike) -> None:
    """Fail early (``WarehouseError``) when ``target`` is not a warehouse this code may write;
    changes nothing and takes no lock. An absent file is fine (a session creates it)."""
    target_str = str(target)
    if lake.is_lake(target_str) or target_str.startswith(":memory:"):
        return
    p = Path(target_str).expanduser()
    if not p.exists():
        return
    con = _open_file(str(p), read_only=True)
    try:
        _check_ours(con, str(p))
        _check_not_newer(_applied_versions(con), migrations(), str(p))
    finally:
        con.close()


def _user_objects(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Tables, views and sequences of the default database (what another program may have left)."""
    rows = con.execute(
        """
        SELECT schema_name || '.' || table_name FROM duckdb_tables()
        WHERE database_name = current_database() AND NOT temporary
        UNION ALL
        SELECT schema_name || '.' || view_name FROM duckdb_views()
        WHERE database_name = current_database() AND NOT internal AND NOT temporary
        UNION ALL
        SELECT schema_name || '.' || sequence_name FROM duckdb_sequences()
        WHERE database_name = current_database() AND NOT temporary
        """
    ).fetchall()
    return sorted(r[0] for r in rows)


def _check_ours(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """Refuse, before any change, a database some other program made."""
    if not _migrations_table_exists(con):
        objects = _user_objects(con)
        if objects:
            raise WarehouseError(
                f"cannot open warehouse {path}: not a maglabels warehouse (it holds {', '.join(objects[:3])}"
                f"{' ...' if len(objects) > 3 else ''} but no schema_migrations); refusing to change it"
            )
        return
    cols = {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = 'schema_migrations'").fetchall()}
    if not {"version", "name", "checksum", "applied_at"} <= cols:
        raise WarehouseError(f"cannot open warehouse {path}: its schema_migrations is not maglabels' "
                             f"(columns {sorted(cols)}); refusing to change it")
    known = {m.version: m.name for m in migrations()}
    for version, name in con.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall():
        if int(version) in known and known[int(version)] != name:
            raise WarehouseError(
                f"cannot open warehouse {path}: not a maglabels warehouse (migration {version} is {name!r} "
                f"there, {known[int(version)]!r} here); refusing to change it"
            )


def _migrations_table_exists(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND table_name = 'schema_migrations' AND NOT temporary"
    ).fetchone()
    return bool(row and row[0])


def _applied_versions(con: duckdb.DuckDBPyConnection) -> set[int]:
    if not _migrations_table_exists(con):
        return set()
    return {int(v) for (v,) in con.execute("SELECT version FROM schema_migrations").fetchall()}


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """Highest applied migration version (0 for an empty database)."""
    applied = _applied_versions(con)
    return max(applied) if applied else 0


def _check_not_newer(applied: set[int], known: list[Migration], path: str) -> None:
    unknown = sorted(applied - {m.version for m in known})
    if unknown:
        raise WarehouseError(
            f"cannot open warehouse {path}: schema version {max(applied)} is newer than this "
            f"maglabels knows (unknown migrations {unknown}); upgrade maglabels"
        )


_LEDGER_SQL = """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version    INTEGER PRIMARY KEY,
        name       VARCHAR NOT NULL,
        checksum   VARCHAR NOT NULL,
        applied_at TIMESTAMP NOT NULL
    )
"""


def _migrate(con: duckdb.DuckDBPyConnection, path: str) -> int:
    """Apply pending migrations, each with its ledger row in one transaction; return how many."""
    known = migrations()
    applied = _applied_versions(con)
    _check_not_newer(applied, known, path)
    on_lake = lake.is_lake_connection(con)
    count = 0
    for mig in known:
        if mig.version in applied:
            continue
        con.begin()
        try:
            con.execute(lake.portable_sql(_LEDGER_SQL) if on_lake else _LEDGER_SQL)
            # re-check inside the transaction: another connection of this process may have won
            done = con.execute(
                "SELECT count(*) FROM schema_migrations WHERE version = ?", [mig.version]
            ).fetchall()[0][0]
            if not done:
                con.execute(lake.portable_sql(mig.sql) if on_lake else mig.sql)
                con.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?, ?)",
                    [mig.version, mig.name, mig.checksum, utc_now()],
                )
                count += 1
            con.commit()
        except BaseException as exc:
            con.rollback()
            if isinstance(exc, duckdb.Error):
                raise WarehouseError(
                    f"migration {mig.version:03d}_{mig.name} failed on {path}: {_one_line(exc)}"
                ) from exc
            raise
    return count


def _check_schema_current(con: duckdb.DuckDBPyConnection, path: str) -> None:
    known = migrations()
    applied = _applied_versions(con)
    _check_not_newer(applied, known, path)
    pending = [m.version for m in known if m.version not in applied]
    if pending:
        raise WarehouseError(
            f"cannot open warehouse {path} read-only: {len(pending)} pending migration(s) "
            f"{pending}; open it read-write once to migrate"
        )


_CREATE_VIEW_RE = re.compile(r"\bCREATE\s+OR\s+REPLACE\s+VIEW\b", re.IGNORECASE)


def _create_views(con: duckdb.DuckDBPyConnection, *, temp: bool = True) -> None:
    """The view files as TEMP views (read-only connections whose stored views are out of date)."""
    for name, sql in view_files():
        for statement in lake.split_statements(sql):
            if re.match(r"\s*COMMENT\b", statement, re.IGNORECASE):
                continue  # comments belong to the stored views; a read-only database cannot take them
            try:
                con.execute(_CREATE_VIEW_RE.sub("CREATE OR REPLACE TEMP VIEW", statement))
            except duckdb.Error as exc:
                raise WarehouseError(f"view file {name} failed: {_one_line(exc)}") from exc
