"""DuckLake targets: ``ducklake:sqlite:PATH`` and ``ducklake:postgres:CONNINFO``.

The catalog lives in SQLite or PostgreSQL, the data as Parquet files under a data path
(``<PATH>.files/`` next to a SQLite catalog, DuckLake's own naming; for PostgreSQL
``$MAGLABELS_LAKE_DATA_PATH`` or ``<data dir>/lake.files``).

Extensions come from the package registry as Python packages (``pip install
maglabels[ducklake]``: duckdb-extension-ducklake, -sqlite-scanner, -postgres-scanner, built for
the pinned duckdb) and are loaded from the installed package's path; auto-install and
auto-load are switched off, so nothing is ever downloaded at run time.

What differs from a DuckDB file (DuckLake 1.5 has no constraints, sequences, indexes or
INSERT ... RETURNING): migrations are run through ``portable_sql`` (PRIMARY KEY, UNIQUE, CHECK,
sequence defaults, CREATE SEQUENCE and CREATE INDEX are dropped; the load code never relied on
them: it de-duplicates by label version and natural key itself), run ids are ``max(run_id) + 1``, and column comments
cannot be put on views (they go on the derived tables behind the views instead). Data inlining
is off (``DATA_INLINING_ROW_LIMIT 0``): it reserves the column name ``row_id``, which our tables use.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

__all__ = ["LakeTarget", "is_lake", "parse_target", "open_lake", "portable_sql", "is_lake_connection"]

PREFIX = "ducklake:"
ALIAS = "lake"
_PACKAGES = {
    "ducklake": "duckdb_extension_ducklake",
    "sqlite_scanner": "duckdb_extension_sqlite_scanner",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
}


class LakeError(RuntimeError):
    """A DuckLake target cannot be used (one-line message)."""


@dataclass(frozen=True)
class LakeTarget:
    kind: str  # sqlite | postgres
    catalog: str  # SQLite path or libpq connection string
    data_path: str

    @property
    def attach_uri(self) -> str:
        return f"{PREFIX}{self.kind}:{self.catalog}"

    @property
    def lock_path(self) -> Path | None:
        """Writers of a SQLite catalog serialise on a lock file next to it."""
        return Path(self.catalog + ".lock") if self.kind == "sqlite" else None


def is_lake(target: str) -> bool:
    return str(target).startswith(PREFIX)


def parse_target(target: str, data_path: str | None = None, data_dir: str | Path = "data") -> LakeTarget:
    rest = str(target)[len(PREFIX):]
    kind, _, catalog = rest.partition(":")
    if kind not in ("sqlite", "postgres") or not catalog.strip():
        raise LakeError(f"cannot use {target}: expected ducklake:sqlite:PATH or ducklake:postgres:CONNINFO")
    if kind == "sqlite":
        catalog = str(Path(catalog).expanduser().resolve())
        default_data = catalog + ".files"
    else:
        default_data = str(Path(data_dir, "lake.files").resolve())
    return LakeTarget(kind, catalog, str(Path(data_path).expanduser().resolve()) if data_path else default_data)


def extension_path(name: str) -> Path:
    """Where the pip package of extension ``name`` keeps the binary for this duckdb."""
    try:
        module = importlib.import_module(_PACKAGES[name])
    except ImportError:
        raise LakeError(f"the {name} extension is not installed: pip install 'maglabels[ducklake]'") from None
    base = Path(module.__file__ or "").parent / "extensions"
    path = base / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        found = sorted(p.name for p in base.glob("v*")) if base.is_dir() else []
        raise LakeError(f"the {name} extension package is built for DuckDB {found}, this is v{duckdb.__version__}")
    return path


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def open_lake(lake: LakeTarget, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake attached as ``lake`` and made the default database."""
    if lake.kind == "sqlite":
        catalog = Path(lake.catalog)
        if read_only and not catalog.exists():
            raise LakeError(f"cannot open warehouse {lake.attach_uri}: does not exist")
        if not read_only:
            catalog.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    try:
        con.execute(f"LOAD {_lit(str(extension_path('ducklake')))}")
        con.execute(f"LOAD {_lit(str(extension_path(lake.kind + '_scanner')))}")
        # inlining small inserts into the catalog reserves the column name row_id (ours since 002)
        options = [f"DATA_PATH {_lit(lake.data_path.rstrip('/') + '/')}", "DATA_INLINING_ROW_LIMIT 0"]
        if read_only:
            options.append("READ_ONLY")
        con.execute(f"ATTACH {_lit(lake.attach_uri)} AS {ALIAS} ({', '.join(options)})")
        con.execute(f"USE {ALIAS}")
    except duckdb.Error as exc:
        con.close()
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise LakeError(f"cannot open warehouse {lake.attach_uri}: {first}") from exc
    except BaseException:
        con.close()
        raise
    return con


def is_lake_connection(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute("SELECT type FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    return bool(row and row[0] == "ducklake")


# --------------------------------------------------------------------------------------------
# portable DDL

_DROP_STATEMENT = re.compile(r"^\s*CREATE\s+(UNIQUE\s+)?(SEQUENCE|INDEX)\b", re.IGNORECASE)
_TABLE_PK = re.compile(r",\s*PRIMARY\s+KEY\s*\(", re.IGNORECASE)
_INLINE = re.compile(r"\s+(PRIMARY\s+KEY|UNIQUE)\b", re.IGNORECASE)
_DEFAULT_SEQ = re.compile(r"\s+DEFAULT\s+nextval\s*\(", re.IGNORECASE)
_CHECK = re.compile(r"\s+CHECK\s*\(", re.IGNORECASE)


def _blank_comments(sql: str) -> str:
    """SQL with ``--`` comments removed (string literals kept as they are)."""
    out, i, n = [], 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "'":
            j = i + 1
            while j < n and not (sql[j] == "'" and (j + 1 >= n or sql[j + 1] != "'")):
                j += 2 if sql[j] == "'" else 1
            out.append(sql[i:j + 1])
            i = j + 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _close_paren(sql: str, open_at: int) -> int:
    """Index just past the parenthesis that closes the one at ``open_at`` (strings skipped)."""
    depth, i, in_str = 0, open_at, False
    while i < len(sql):
        ch = sql[i]
        if ch == "'":
            in_str = not in_str
        elif not in_str and ch == "(":
            depth += 1
        elif not in_str and ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError("unbalanced parentheses in migration SQL")


def _cut_parenthesised(sql: str, pattern: re.Pattern) -> str:
    while m := pattern.search(sql):
        sql = sql[:m.start()] + sql[_close_paren(sql, m.end() - 1):]
    return sql


def split_statements(sql: str) -> list[str]:
    """Statements of ``sql`` (comments removed; semicolons inside string literals kept)."""
    sql = _blank_comments(sql)
    parts, start, in_str = [], 0, False
    for i, ch in enumerate(sql):
        if ch == "'":
            in_str = not in_str
        elif ch == ";" and not in_str:
            parts.append(sql[start:i])
            start = i + 1
    parts.append(sql[start:])
    return [p for p in parts if p.strip()]


def portable_sql(sql: str) -> str:
    """Migration SQL for DuckLake: constraints, sequences and indexes removed."""
    sql = _blank_comments(sql)
    statements = [s for s in split_statements(sql) if not _DROP_STATEMENT.match(s)]
    sql = ";\n".join(statements) + ";"
    for pattern in (_TABLE_PK, _DEFAULT_SEQ, _CHECK):
        sql = _cut_parenthesised(sql, pattern)
    return _INLINE.sub("", sql)
