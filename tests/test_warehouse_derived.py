"""Stored analyst views (warehouse/derived.py) and the types analysts get from them."""
from __future__ import annotations

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from maglabels.warehouse import db, derived
from maglabels.warehouse.export import ANALYST_VIEWS, export_views

from maglabels import warehouse
from tests.warehouse_data import load, real_specs


@pytest.fixture()
def filled(tmp_path):
    con = warehouse.connect(tmp_path / "w.duckdb")
    load(con, real_specs(), now="2026-01-05")
    yield con
    con.close()


def test_views_read_stored_tables_that_match_the_view_files(filled):
    for view in ANALYST_VIEWS:
        sql = filled.execute("SELECT sql FROM duckdb_views() WHERE view_name = ? AND NOT temporary", [view]).fetchone()[0]
        assert f"derived.{view}" in sql
    # the same rows as computing the view files live
    db._create_views(filled, temp=True)  # TEMP views shadow the stored ones
    live = {v: filled.execute(f"SELECT * FROM {v} ORDER BY ALL").fetchall() for v in ANALYST_VIEWS}
    for v in ANALYST_VIEWS:
        filled.execute(f"DROP VIEW temp.{v}")
    stored = {v: filled.execute(f"SELECT * FROM {v} ORDER BY ALL").fetchall() for v in ANALYST_VIEWS}
    assert stored == live
    assert len(stored["magnesium_daily"]) == 3


def test_a_load_refreshes_the_stored_views_in_its_transaction(filled):
    before = filled.execute("SELECT count(*) FROM label_history").fetchone()[0]
    specs = real_specs()
    specs[0]["summary"]["mg_per_serving"] = 123.0  # a new version of one label
    load(filled, specs, now="2026-02-01")
    assert filled.execute("SELECT count(*) FROM label_history").fetchone()[0] == before + 1
    assert filled.execute("SELECT count(*) FROM reformulations").fetchone()[0] == 1


def test_failed_refresh_rolls_back_the_load(filled, monkeypatch):
    n = filled.execute("SELECT count(*) FROM label_versions").fetchone()[0]

    def broken(con):
        raise duckdb.BinderException("view file broke")

    monkeypatch.setattr(derived, "refresh_in_transaction", broken)
    specs = real_specs()
    specs[0]["summary"]["mg_per_serving"] = 77.0
    with pytest.raises(duckdb.BinderException):
        load(filled, specs, now="2026-02-02")
    assert filled.execute("SELECT count(*) FROM label_versions").fetchone()[0] == n


def test_comments_live_marker_and_hugeint(tmp_path, monkeypatch):
    files = db.view_files() + [
        ("90_totals.sql", "CREATE OR REPLACE VIEW totals AS SELECT sum(1) AS n_rows, 1.5::DOUBLE AS price "
                          "FROM label_versions;\nCOMMENT ON VIEW totals IS 'all; periods';\n"
                          "COMMENT ON COLUMN totals.n_rows IS 'periods stored';"),
        ("91_runs.sql", "-- derived: live\nCREATE OR REPLACE VIEW runs_now AS SELECT count(*) AS n FROM scrape_runs;"),
    ]
    monkeypatch.setattr(db, "view_files", lambda: files)
    con = warehouse.connect(tmp_path / "c.duckdb")
    try:
        assert con.execute("SELECT comment FROM duckdb_views() WHERE view_name = 'totals'").fetchone() == ("all; periods",)
        assert con.execute("SELECT data_type, comment FROM duckdb_columns() WHERE table_name = 'totals' "
                           "AND schema_name = 'main' AND column_name = 'n_rows'").fetchone() == ("BIGINT", "periods stored")
        assert str(con.execute("SELECT n_rows FROM totals").df()["n_rows"].dtype).lower() == "int64"  # not float64
        # a live view is left as written: it sees scrape_runs without any refresh
        warehouse.start_run(con, "x")
        assert con.execute("SELECT n FROM runs_now").fetchone() == (1,)
        assert "derived" not in con.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'runs_now'").fetchone()[0]
    finally:
        con.close()


def test_read_only_connection_computes_views_when_the_file_is_older(tmp_path, monkeypatch):
    path = tmp_path / "old.duckdb"
    con = warehouse.connect(path)
    load(con, real_specs(), now="2026-01-05")
    con.close()
    files = [(name, sql.replace("AS range_status", "AS range_status, 1 AS new_column") if name.startswith("10_") else sql)
             for name, sql in db.view_files()]
    monkeypatch.setattr(db, "view_files", lambda: files)  # newer code, file not yet rewritten
    ro = warehouse.connect(path, read_only=True)
    try:
        assert ro.execute("SELECT count(new_column) FROM magnesium_daily").fetchone() == (3,)
    finally:
        ro.close()


def test_types_analysts_get(filled, tmp_path):
    counts = filled.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE schema_name = 'main' "
        "AND table_name IN ('brand_comparison', 'form_comparison', 'quarantine_summary') "
        "AND (column_name IN ('products', 'products_single_form', 'priced_products', 'rows', 'current_rows', "
        "'labels') OR column_name LIKE 'n\\_%' ESCAPE '\\')").fetchall()
    assert len(counts) >= 15 and {t for _, _, t in counts} == {"BIGINT"}
    brands = filled.execute("SELECT * FROM brand_comparison").df()
    assert brands["products"].dtype == "int64" and brands["n_above_ul"].dtype == "int64"
    daily = filled.execute("SELECT * FROM magnesium_daily").df()
    assert daily["price"].dtype == "float64"  # prices are documented doubles
    assert all(isinstance(f, (list, tuple)) or hasattr(f, "tolist") for f in daily["forms"].dropna())
    out = tmp_path / "export"
    export_views(filled, out)
    part = pq.read_table(str(out / "magnesium_daily"))
    assert str(part.schema.field("forms").type) == "list<element: string>"
    assert pd.read_parquet(out / "brand_comparison.parquet")["products"].dtype == "int64"


def test_empty_exports_carry_their_schema(tmp_path):
    con = warehouse.connect(tmp_path / "empty.duckdb")
    try:
        export_views(con, tmp_path / "pq")
        export_views(con, tmp_path / "csv", fmt="csv")
        want = [d[0] for d in con.execute("SELECT * FROM magnesium_daily LIMIT 0").description]
    finally:
        con.close()
    frame = pd.read_parquet(tmp_path / "pq" / "magnesium_daily")
    assert len(frame) == 0 and set(want) <= set(frame.columns)
    back = duckdb.connect()
    got = back.execute(f"SELECT * FROM read_parquet('{tmp_path}/pq/magnesium_daily/**/*.parquet', "
                       "hive_partitioning=true)").description
    assert [d[0] for d in got] == want
    assert list(pd.read_csv(tmp_path / "csv" / "magnesium_daily.csv").columns) == want
    with pytest.raises(ValueError, match="not empty"):
        export_views(duckdb.connect(), tmp_path / "pq", views=[])


def test_bench_views_smoke(capsys):
    from benchmarks.bench_views import main

    r = main(["--labels", "1500", "--repeat", "1"])
    assert r["labels"] >= 1500 and r["views"]["magnesium_daily"]["rows"] > 1000
    assert "view/table" in capsys.readouterr().out
