"""Export analyst views to files.

Parquet: a view with a ``source`` column is written as a hive-partitioned directory
``<out_dir>/<view>/source=<source>/data_0.parquet`` (DuckDB ``COPY ... PARTITION_BY (source)``);
read it back with ``read_parquet('<out_dir>/<view>/**/*.parquet', hive_partitioning=true)`` or
``pandas.read_parquet('<out_dir>/<view>')``. Parquet files from an earlier export in those
``source=*`` folders are removed first, so a source that disappeared leaves no stale partition.
A view without ``source`` (the comparison and summary views) is one file ``<out_dir>/<view>.parquet``.
A partitioned view with no rows writes no file.

CSV: one file per view, ``<out_dir>/<view>.csv`` with a header; list and map columns are written
in DuckDB's text form (``[a, b]``, ``{k=v}``).
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import duckdb

__all__ = ["ANALYST_VIEWS", "export_views"]

ANALYST_VIEWS: tuple[str, ...] = (
    "magnesium_daily",
    "brand_comparison",
    "form_comparison",
    "label_history",
    "reformulations",
    "quarantine_summary",
)

PARTITION_COLUMN = "source"


def _q(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def _lit(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _relation_columns(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    try:
        con.execute(f"SELECT * FROM {_q(name)} LIMIT 0")
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


def export_views(
    con: duckdb.DuckDBPyConnection,
    out_dir: str | os.PathLike,
    fmt: str = "parquet",
    views: Iterable[str] = ANALYST_VIEWS,
) -> list[Path]:
    """Write ``views`` to ``out_dir`` as Parquet (partitioned by source) or CSV; return the files."""
    fmt = fmt.lower()
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"fmt must be 'parquet' or 'csv', not {fmt!r}")
    if isinstance(views, str):
        views = [views]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for view in views:
        columns = _relation_columns(con, view)
        query = f"SELECT * FROM {_q(view)}"
        if fmt == "csv":
            target = out / f"{view}.csv"
            con.execute(f"COPY ({query}) TO {_lit(target)} (FORMAT csv, HEADER true)")
            written.append(target)
        elif PARTITION_COLUMN in columns:
            target_dir = out / view
            _clear_partitions(target_dir)
            target_dir.mkdir(parents=True, exist_ok=True)
            con.execute(
                f"COPY ({query}) TO {_lit(target_dir)} "
                f"(FORMAT parquet, PARTITION_BY ({_q(PARTITION_COLUMN)}), OVERWRITE_OR_IGNORE true)"
            )
            written.extend(sorted(target_dir.glob(f"{PARTITION_COLUMN}=*/*.parquet")))
        else:
            target = out / f"{view}.parquet"
            con.execute(f"COPY ({query}) TO {_lit(target)} (FORMAT parquet)")
            written.append(target)
    return written
