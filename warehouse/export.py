"""Export analyst views to files.

Parquet: a view with a ``source`` column is written as a hive-partitioned directory
``<out_dir>/<view>/source=<source>/data_0.parquet`` (DuckDB ``COPY ... PARTITION_BY (source)``);
read it back with ``read_parquet('<out_dir>/<view>/**/*.parquet', hive_partitioning=true)`` or
``pandas.read_parquet('<out_dir>/<view>')``. Parquet files from an earlier export in those
``source=*`` folders are removed first, so a source that disappeared leaves no stale partition.
A view without ``source`` (the comparison and summary views) is one file ``<out_dir>/<view>.parquet``.
A partitioned view with no rows writes ``<out_dir>/<view>/empty.parquet`` (no rows, every
column, ``source`` included), so an empty export still carries its schema for DuckDB and pandas.

CSV: one file per view, ``<out_dir>/<view>.csv`` with a header; list and map columns are written
in DuckDB's text form (``[a, b]``, ``{k=v}``); an empty view gives a file with the header only.

Types: Parquet keeps lists as lists and maps as maps; counts are BIGINT (int64 in pandas);
HUGEINT columns (a ``sum`` of integers) are written as BIGINT.

A folder that is not empty is refused (``ExportError``) unless ``force=True``.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import duckdb

from .ident import q

__all__ = ["ANALYST_VIEWS", "ExportError", "export_views"]


class ExportError(ValueError):
    """The export cannot be written as asked (one-line message)."""

ANALYST_VIEWS: tuple[str, ...] = (
    "magnesium_daily",
    "brand_comparison",
    "form_comparison",
    "label_history",
    "reformulations",
    "quarantine_summary",
)

PARTITION_COLUMN = "source"


def _lit(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _relation_columns(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    try:
        con.execute(f"SELECT * FROM {q(name)} LIMIT 0")
    except duckdb.CatalogException as exc:
        raise ValueError(f"no view or table named {name!r} in the warehouse") from exc
    return [d[0] for d in con.description]


def _clear_partitions(view_dir: Path) -> None:
    if not view_dir.is_dir():
        return
    for part in view_dir.glob(f"{PARTITION_COLUMN}=*"):
        if not part.is_dir():
            continue
        for f in part.glob("*.parquet"):
            f.unlink()
        try:
            part.rmdir()
        except OSError:
            pass  # not empty: something else lives there; leave it


def _select(con: duckdb.DuckDBPyConnection, view: str) -> str:
    con.execute(f"SELECT * FROM {q(view)} LIMIT 0")
    cols = [(d[0], str(d[1]).upper()) for d in con.description]
    items = [f"CAST({q(c)} AS BIGINT) AS {q(c)}" if t in ("HUGEINT", "UHUGEINT") else q(c) for c, t in cols]
    return f"SELECT {', '.join(items)} FROM {q(view)}"


def export_views(
    con: duckdb.DuckDBPyConnection,
    out_dir: str | os.PathLike,
    fmt: str = "parquet",
    views: Iterable[str] = ANALYST_VIEWS,
    *,
    force: bool = False,
) -> list[Path]:
    """Write ``views`` to ``out_dir`` as Parquet (partitioned by source) or CSV; return the files."""
    fmt = fmt.lower()
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"fmt must be 'parquet' or 'csv', not {fmt!r}")
    if isinstance(views, str):
        views = [views]
    columns_of = {view: _relation_columns(con, view) for view in views}  # unknown names fail first
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ExportError(f"cannot export to {out}: it is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ExportError(f"cannot export to {out}: the folder is not empty (use --force to replace earlier exports)")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for view, columns in columns_of.items():
        query = _select(con, view)
        if fmt == "csv":
            target = out / f"{view}.csv"
            con.execute(f"COPY ({query}) TO {_lit(target)} (FORMAT csv, HEADER true)")
            written.append(target)
        elif PARTITION_COLUMN in columns:
            written.extend(_partitioned(con, query, out / view))
        else:
            target = out / f"{view}.parquet"
            con.execute(f"COPY ({query}) TO {_lit(target)} (FORMAT parquet)")
            written.append(target)
    return written


def _partitioned(con: duckdb.DuckDBPyConnection, query: str, target_dir: Path) -> list[Path]:
    _clear_partitions(target_dir)
    empty = target_dir / "empty.parquet"
    empty.unlink(missing_ok=True)
    target_dir.mkdir(parents=True, exist_ok=True)
    if not con.execute(f"SELECT count(*) FROM ({query})").fetchall()[0][0]:
        con.execute(f"COPY ({query}) TO {_lit(empty)} (FORMAT parquet)")
        return [empty]
    con.execute(
        f"COPY ({query}) TO {_lit(target_dir)} "
        f"(FORMAT parquet, PARTITION_BY ({q(PARTITION_COLUMN)}), OVERWRITE_OR_IGNORE true)"
    )
    return sorted(target_dir.glob(f"{PARTITION_COLUMN}=*/*.parquet"))
