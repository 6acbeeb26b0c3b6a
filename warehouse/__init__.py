"""DuckDB warehouse: schema (sql/*.sql), bulk loads in one transaction, views, exports.

Public API::

    from maglabels.warehouse import connect, load_batch, start_run, finish_run
    con = connect()                      # default_db_path(): $MAGLABELS_DB or <data dir>/maglabels.duckdb
    run_id = start_run(con, "maglabels scrape dsld")
    try:
        stats = load_batch(con, batch, run_id=run_id, documents_df=records)
    except Exception as exc:
        finish_run(con, run_id, "failed", message=str(exc))
        raise
    finish_run(con, run_id, "ok", stats)
    print(range_report(con))
    export_views(con, "out/", fmt="parquet")
"""
from .db import WarehouseError, connect, default_db_path, schema_version
from .export import ANALYST_VIEWS, export_views
from .load import BatchLike, LoadStats, load_batch
from .report import range_report
from .runs import finish_run, start_run

__all__ = [
    "ANALYST_VIEWS",
    "BatchLike",
    "LoadStats",
    "WarehouseError",
    "connect",
    "default_db_path",
    "export_views",
    "finish_run",
    "load_batch",
    "range_report",
    "schema_version",
    "start_run",
]
