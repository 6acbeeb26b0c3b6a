"""Pinned corpus numbers on the market-wide demo (`maglabels run --offline`: 12,410 real DSLD corpus
labels with a Magnesium panel row + the 15 v9 labels), and the analyst layer on it: products,
on_market, dose_basis, flag_glossary, comments. One shared offline build (tests/realdata.py)."""
import importlib.util
from pathlib import Path

import pytest
from maglabels.normalize.flags import FLAG_INFO
from maglabels.warehouse.corpus_report import corpus_numbers
from maglabels.warehouse.db import connect

from tests.realdata import offline_warehouse

ROOT = Path(__file__).resolve().parent.parent


def _render_docs():
    spec = importlib.util.spec_from_file_location("render_docs", ROOT / "scripts" / "render_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def con():
    con = connect(offline_warehouse(), read_only=True)  # the session's one offline build
    yield con
    con.close()


def test_coverage(con):
    assert corpus_numbers(con)["coverage"] == [
        {"labels": 12410, "with_elemental_value": 12023, "without_value": 387, "products": 11704,
         "products_on_market": 9115}]


def test_quarantine_reasons(con):
    rows = {r["reason_code"]: (r["rows"], r["labels"]) for r in corpus_numbers(con)["quarantine"]}
    assert rows == {"not_declared": (382, 379), "undefined_formula": (40, 32), "unknown_compound": (18, 18),
                    "mixture": (14, 14), "not_a_mass": (7, 7), "invalid_serving": (4, 4), "unknown_unit": (2, 2),
                    "buffered_blend": (1, 1)}


def test_distribution_against_the_band(con):
    ranges = {r["range_status"]: (r["labels"], r["products_on_market"]) for r in corpus_numbers(con)["ranges"]}
    # 7 labels whose grams were milligrams (gram_as_milligram) moved from "above" to "below"/"within"
    assert ranges == {"below": (9088, 6769), "within": (1923, 1386), "spans": (470, 308), "above": (539, 382),
                      "unknown": (390, 270)}


def test_dose_basis_and_the_share_assumed(con):
    basis = {r["dose_basis"]: r["products_on_market"] for r in corpus_numbers(con)["dose_basis"]}
    assert basis == {"assumed_one_serving_per_day": 8116, "assumed_one_serving_per_day_serving_range": 991,
                     "declared": 5, "no_valid_serving": 2, "declared_range": 1}
    share = con.execute("SELECT avg(dose_assumed::INT) FROM products WHERE on_market").fetchone()[0]
    assert share == pytest.approx((8116 + 991) / (9115 - 2))  # no_valid_serving has no dose to assume


def test_flag_counts(con):
    flags = {r["flag"]: (r["kind"], r["labels"]) for r in corpus_numbers(con)["flags"]}
    assert flags == {
        "daily_servings_assumed": ("assumption", 12404), "above_ul": ("label_problem", 1369),
        "serving_range_assumed": ("assumption", 1364), "dv_mismatch": ("label_problem", 614),
        "form_inferred": ("assumption", 434), "cross_check_mismatch": ("label_problem", 101),
        "multiple_magnesium_rows": ("assumption", 86), "name_claim_mismatch": ("label_problem", 42),
        "implausible_fill": ("label_problem", 32), "buffered_blend": ("label_problem", 30),
        "gram_as_milligram": ("label_problem", 7), "compound_as_elemental": ("label_problem", 3)}


def test_serving_range_gives_both_ends(con):
    # Life Zone KELA F: "1-4 Capsule(s)", Magnesium 200 mg, no daily servings in the source:
    # min = 200 mg x 1 serving, max = 200 mg / 1 capsule x 4 capsules = 800 mg -> spans the band
    row = con.execute("SELECT mg_per_day_min, mg_per_day_max, range_status, above_ul, ul_status, dose_basis, "
                      "dose_assumed FROM magnesium_daily WHERE source_id = '3602'").fetchone()
    assert row == (200.0, 800.0, "spans", True, "may_exceed", "assumed_one_serving_per_day_serving_range", True)


def test_products_group_label_revisions(con):
    labels, products = con.execute("SELECT count(*), count(DISTINCT product_key) FROM magnesium_daily").fetchone()
    assert products < labels
    # every upc: product groups labels of one brand and one UPC
    mixed = con.execute("""
        SELECT count(*) FROM (
            SELECT d.product_key FROM magnesium_daily AS d JOIN labels AS l USING (source, source_id, version_id)
            WHERE d.product_key LIKE 'upc:%'
            GROUP BY d.product_key
            HAVING count(DISTINCT regexp_replace(l.upc, '\\D', '', 'g')) > 1)""").fetchone()[0]
    assert mixed == 0
    # the v9 label 49495 names its other versions (labelRelationships 17532, 29284, 4328)
    assert con.execute("SELECT product_key, on_market FROM magnesium_daily WHERE source_id = '49495'"
                       ).fetchone() == ("dsld:4328", True)
    # the current label of a product is an on-market one when there is any
    bad = con.execute("""SELECT count(*) FROM products p JOIN magnesium_daily d
                         ON d.source = p.current_source AND d.source_id = p.current_source_id
                         WHERE p.labels_on_market > 0 AND NOT coalesce(d.on_market, true)""").fetchone()[0]
    assert bad == 0


def test_comparison_views_count_on_market_products(con):
    on_market = con.execute("SELECT count(*) FROM products WHERE on_market").fetchone()[0]
    assert con.execute("SELECT sum(products) FROM brand_comparison").fetchone()[0] == on_market
    assert con.execute("SELECT comment FROM duckdb_columns() WHERE table_name = 'brand_comparison' "
                       "AND column_name = 'products'").fetchone()[0].startswith("ON-MARKET PRODUCTS")


def test_flag_glossary_matches_the_enumeration(con):
    rows = con.execute("SELECT flag, kind, meaning FROM flag_glossary").fetchall()
    assert {r[0]: (r[1], r[2]) for r in rows} == {str(f): info for f, info in FLAG_INFO.items()}
    unknown = con.execute("SELECT DISTINCT flag FROM label_flags WHERE flag NOT IN (SELECT flag FROM flag_glossary)"
                          ).fetchall()
    assert unknown == []  # every flag raised on the real corpus is explained


def test_every_analyst_view_and_column_explains_itself(con):
    views = con.execute("SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall()
    assert {"magnesium_daily", "products", "brand_comparison", "flag_glossary"} <= {v for v, _ in views}
    assert all(comment for _, comment in views)
    missing = con.execute("""SELECT table_name || '.' || column_name FROM duckdb_columns()
                             WHERE table_name IN (SELECT view_name FROM duckdb_views() WHERE NOT internal)
                               AND comment IS NULL""").fetchall()
    assert missing == []
    described = dict(con.execute("SELECT column_name, comment FROM duckdb_columns() "
                                 "WHERE table_name = 'magnesium_daily'").fetchall())
    assert "assumed" in described["dose_basis"] and "product" in described["product_key"]


def test_generated_files_are_current(con):
    """README sections (corpus report, analyst SQL), docs/analyst-sql.md, docs/audit.md glossary, the
    flag_glossary and comments SQL: all equal what scripts/render_docs.py renders now."""
    stale = [str(p.relative_to(ROOT)) for p, text in _render_docs().rendered(str(offline_warehouse())).items()
             if p.read_text(encoding="utf-8") != text]
    assert stale == [], "run: python scripts/render_docs.py --demo <offline-built db>"
