from __future__ import annotations

import csv

import duckdb
import pandas as pd
import pytest
from maglabels.warehouse import derived
from maglabels.warehouse.export import ANALYST_VIEWS

from maglabels import warehouse
from tests.warehouse_data import UL_ADULT, label_246811, load, real_specs, variant


@pytest.fixture
def filled(con):
    specs = real_specs()
    # a (hypothetical) adults' product: 246811's own UL is the children's 110 mg
    other = variant(label_246811(), source_id="example-sku-1", mg_per_day_min=300.0, mg_per_day_max=300.0,
                    ul_mg=UL_ADULT[0], ul_basis=UL_ADULT[1])
    other["label"]["source"] = "www.example-shop.test"
    load(con, specs + [other], now="2026-01-05")
    return con


def test_parquet_partitioned_by_source(filled, tmp_path):
    out = tmp_path / "export"
    paths = warehouse.export_views(filled, out, fmt="parquet")
    assert paths and all(p.exists() for p in paths)
    daily_dir = out / "magnesium_daily"
    assert sorted(p.name for p in daily_dir.iterdir()) == ["source=dsld", "source=www.example-shop.test"]
    assert any(p.parent.name == "source=dsld" for p in paths)
    rd = duckdb.connect()
    glob = str(daily_dir / "**" / "*.parquet")
    got = rd.execute(
        f"SELECT source, source_id, range_status, forms FROM read_parquet('{glob}', hive_partitioning=true) "
        "ORDER BY source, source_id"
    ).fetchall()
    want = filled.execute(
        "SELECT source, source_id, range_status, forms FROM magnesium_daily ORDER BY source, source_id"
    ).fetchall()
    assert got == want and len(got) == 4
    # views without a source column are single files
    for view in ("brand_comparison", "form_comparison", "quarantine_summary"):
        assert (out / f"{view}.parquet") in paths
    n = rd.execute(f"SELECT count(*) FROM read_parquet('{out / 'brand_comparison.parquet'}')").fetchone()[0]
    assert n == filled.execute("SELECT count(*) FROM brand_comparison").fetchone()[0]
    # label_history is partitioned too
    assert (out / "label_history" / "source=dsld").is_dir()
    # pandas reads the partitioned directory as well
    assert len(pd.read_parquet(daily_dir)) == 4


def test_parquet_reexport_drops_stale_partitions(filled, tmp_path):
    out = tmp_path / "export"
    warehouse.export_views(filled, out, views=["magnesium_daily"])
    filled.execute("UPDATE label_versions SET valid_to = now()::TIMESTAMP WHERE source <> 'dsld'")
    derived.refresh(filled)  # a write outside load_batch refreshes the stored views itself
    paths = warehouse.export_views(filled, out, views=["magnesium_daily"], force=True)
    assert sorted(p.name for p in (out / "magnesium_daily").iterdir()) == ["source=dsld"]
    assert all("source=dsld" in str(p) for p in paths)


def test_csv_one_file_per_view(filled, tmp_path):
    out = tmp_path / "csv"
    paths = warehouse.export_views(filled, out, fmt="csv")
    assert sorted(p.name for p in paths) == sorted(f"{v}.csv" for v in ANALYST_VIEWS)
    with open(out / "magnesium_daily.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4
    by_id = {r["source_id"]: r for r in rows}
    assert by_id["246811"]["range_status"] == "below"
    assert by_id["example-sku-1"]["range_status"] == "within"
    assert float(by_id["246811"]["mg_per_day_max"]) == 60.0


def test_export_rejects_bad_args(filled, tmp_path):
    with pytest.raises(ValueError):
        warehouse.export_views(filled, tmp_path, fmt="xlsx")
    with pytest.raises(ValueError, match="no view"):
        warehouse.export_views(filled, tmp_path, views=["nope; DROP TABLE labels"])
    assert filled.execute("SELECT count(*) FROM labels").fetchone()[0] == 4


def test_range_report(filled):
    text = warehouse.range_report(filled, top=3)
    assert "with a magnesium summary: 4" in text
    lines = text.splitlines()
    names = {"below", "within", "spans", "above", "unknown"}
    status = {
        line.split()[0]: int(line.split()[1])
        for line in lines
        if line.startswith("  ") and len(line.split()) >= 2 and line.split()[0] in names and line.split()[1].isdigit()
    }
    assert status == {"below": 3, "within": 1, "spans": 0, "above": 0, "unknown": 0}
    assert "above the UL" in text and "0 of 4" in text
    assert any(line.split()[:2] == ["dv_mismatch", "1"] for line in lines)
    assert "not_declared" in text
    top = text.split("Top 3 by maximum daily magnesium")[1]
    assert top.index("example-sku-1") < top.index("246811")
    assert "Sport Formula 99 - Multivitamin" in top


def test_range_report_empty(con):
    text = warehouse.range_report(con)
    assert "with a magnesium summary: 0" in text and "(no labels)" in text
