from __future__ import annotations

import pytest

from maglabels import warehouse
from tests.warehouse_data import DV_420, label_49495, label_220884, label_246811, load, real_specs, variant, version_of

DAILY_COLUMNS = [
    "source", "source_id", "brand", "product_name", "forms", "mg_per_serving", "mg_per_day_min",
    "mg_per_day_max", "range_status", "above_ul", "flags", "price", "currency",
    "price_per_100mg_day", "url", "raw_sha256", "version_id", "entry_date", "dosage_form",
]


def daily(c, source_id):
    cur = c.execute("SELECT * FROM magnesium_daily WHERE source_id = ?", [source_id])
    cols = [d[0] for d in cur.description]
    rows = cur.fetchall()
    assert len(rows) == 1, rows
    return dict(zip(cols, rows[0], strict=True))


def test_magnesium_daily_columns(con):
    cols = [d[0] for d in con.execute("SELECT * FROM magnesium_daily LIMIT 0").description]
    assert cols[: len(DAILY_COLUMNS)] == DAILY_COLUMNS


def test_magnesium_daily_real_labels(con):
    load(con, real_specs(), now="2026-01-05 10:00:00")
    nb = daily(con, "49495")
    assert nb["brand"] == "Nature's Bounty" and nb["product_name"] == "Your Life Multi Men's 50+"
    assert nb["forms"] == ["magnesium oxide"]
    assert (nb["mg_per_serving"], nb["mg_per_day_min"], nb["mg_per_day_max"]) == (50.0, 50.0, 50.0)
    assert nb["range_status"] == "below" and nb["above_ul"] is False
    assert nb["flags"] == ["dv_mismatch"]
    assert nb["price_per_100mg_day"] is None  # DSLD has no price
    assert nb["version_id"] == version_of(label_49495())
    sf = daily(con, "246811")
    assert (sf["mg_per_day_min"], sf["mg_per_day_max"], sf["range_status"]) == (20.0, 60.0, "below")
    assert sf["dosage_form"] == "Powder" and sf["flags"] == []
    assert daily(con, "220884")["forms"] == ["magnesium citrate"]
    assert con.execute("SELECT count(*) FROM magnesium_daily").fetchone()[0] == 3


def test_label_without_magnesium_summary_not_in_daily(con):
    spec = label_220884()
    spec["summary"] = None
    spec["facts"] = []
    load(con, [spec], now="2026-01-05")
    assert con.execute("SELECT count(*) FROM label_versions").fetchone()[0] == 1
    assert con.execute("SELECT count(*) FROM magnesium_daily").fetchone()[0] == 0


@pytest.mark.parametrize(
    "lo, hi, status",
    [
        (199.9, 199.9, "below"),
        (200.0, 200.0, "within"),
        (400.0, 400.0, "within"),
        (400.1, 400.1, "above"),
        (200.0, 400.0, "within"),
        (150.0, 300.0, "spans"),   # crosses the lower edge
        (300.0, 500.0, "spans"),   # crosses the upper edge
        (100.0, 600.0, "spans"),   # covers the whole band
        (100.0, 199.9, "below"),
        (400.1, 800.0, "above"),
        (None, None, "unknown"),
        (250.0, None, "unknown"),  # no maximum: could be anything above 250
        (None, 150.0, "below"),    # the maximum alone decides
        (450.0, None, "above"),    # the minimum alone decides
        (399.99999999999994, 400.00000000000006, "within"),  # float noise from unit conversion
    ],
)
def test_range_status_boundaries(con, lo, hi, status):
    spec = variant(label_246811(), source_id=f"246811-test-{lo}-{hi}", mg_per_day_min=lo, mg_per_day_max=hi)
    load(con, [spec], now="2026-01-05")
    assert daily(con, spec["label"]["source_id"])["range_status"] == status


@pytest.mark.parametrize(
    "hi, ul, above",
    [(350.0, None, False), (350.1, None, True), (60.0, 350.0, False), (300.0, 250.0, True), (None, 350.0, None)],
)
def test_above_ul(con, hi, ul, above):
    spec = variant(label_246811(), source_id="246811-ul", mg_per_day_min=hi, mg_per_day_max=hi, ul_mg=ul)
    load(con, [spec], now="2026-01-05")
    row = daily(con, "246811-ul")
    assert row["above_ul"] is above
    assert row["ul_mg"] == (ul if ul is not None else 350.0)


def test_price_per_100mg_day(con):
    # 246811: 30 servings, up to 3 a day -> 10 days per container; 60 mg/day at most.
    # With a (test) price of 29.99 USD: cost per day 2.999, per 100 mg/day 2.999 * 100 / 60.
    spec = label_246811()
    spec["label"].update(price=29.99, currency="USD")
    load(con, [spec], now="2026-01-05")
    row = daily(con, "246811")
    assert row["cost_per_day"] == pytest.approx(2.999)
    assert row["price_per_100mg_day"] == pytest.approx(2.999 * 100 / 60)
    assert row["currency"] == "USD"


@pytest.mark.parametrize(
    "field, value",
    [("servings_per_container", None), ("servings_per_container", 0.0), ("price", None)],
)
def test_price_per_100mg_day_null_when_missing(con, field, value):
    spec = label_246811()
    spec["label"].update(price=29.99, currency="USD")
    spec["label"][field] = value
    load(con, [spec], now="2026-01-05")
    assert daily(con, "246811")["price_per_100mg_day"] is None


def test_price_null_without_daily_servings(con):
    spec = variant(label_246811(), daily_servings_max=None)
    spec["label"].update(price=29.99, currency="USD")
    load(con, [spec], now="2026-01-05")
    assert daily(con, "246811")["price_per_100mg_day"] is None


def test_flags_merge_label_flags(con):
    spec = label_220884()
    spec["flags"] = [{"flag": "implausible_fill", "reason": "test"}]
    load(con, [spec], now="2026-01-05")
    assert daily(con, "220884")["flags"] == ["implausible_fill"]


def _comparison_fixture(con):
    specs = real_specs() + [
        # two more (hypothetical) Nature's Bounty products to make the brand numbers interesting
        variant(label_49495(), source_id="49495-b", mg_per_day_min=250.0, mg_per_day_max=250.0,
                forms=["magnesium oxide", "magnesium citrate"], flags=["buffered_blend"]),
        variant(label_49495(), source_id="49495-c", mg_per_day_min=500.0, mg_per_day_max=500.0, flags=[]),
    ]
    # 90 tablets (DSLD leaves servingsPerContainer empty), 1/day, 250 mg/day, a (test) price
    specs[3]["label"].update(price=10.0, currency="USD", servings_per_container=90.0)
    load(con, specs, now="2026-01-05")


def test_brand_comparison(con):
    _comparison_fixture(con)
    cur = con.execute("SELECT * FROM brand_comparison WHERE brand = 'Nature''s Bounty'")
    row = dict(zip([d[0] for d in cur.description], cur.fetchone(), strict=True))
    assert row["products"] == 3
    assert row["median_mg_per_day_max"] == 250.0
    assert (row["min_mg_per_day_max"], row["max_mg_per_day_max"]) == (50.0, 500.0)
    assert row["share_within"] == pytest.approx(1 / 3)
    assert row["share_above_ul"] == pytest.approx(1 / 3)
    assert row["n_dv_mismatch"] == 3  # all three keep the real label's label_flags row
    assert row["n_buffered_blend"] == 1 and row["n_above_ul"] == 1
    assert row["flag_counts"] == {"buffered_blend": 1, "dv_mismatch": 3}
    assert row["median_price_per_100mg_day"] == pytest.approx(10.0 / 90 * 100 / 250)
    assert row["sources"] == ["dsld"]
    assert con.execute("SELECT count(*) FROM brand_comparison").fetchone()[0] == 3


def test_form_comparison(con):
    _comparison_fixture(con)
    rows = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT form, products, products_single_form, median_mg_per_day_max, n_buffered_blend "
            "FROM form_comparison"
        ).fetchall()
    }
    # oxide: 49495, 246811, 49495-b (two forms), 49495-c; citrate: 220884, 49495-b
    assert rows["magnesium oxide"] == (4, 3, pytest.approx(155.0), 1)
    assert rows["magnesium citrate"] == (2, 1, pytest.approx(150.0), 1)


def test_quarantine_summary(con):
    load(con, real_specs(), now="2026-01-05")
    assert con.execute(
        "SELECT reason_code, rows, current_rows, labels FROM quarantine_summary"
    ).fetchall() == [("not_declared", 1, 1, 1)]
    # after a change the old version's quarantine row is no longer current
    v2 = label_49495()
    v2["summary"]["dv_reference"] = DV_420
    load(con, [v2], now="2026-01-06")
    assert con.execute(
        "SELECT reason_code, rows, current_rows FROM quarantine_summary"
    ).fetchall() == [("not_declared", 2, 1)]


def test_views_survive_reconnect_and_read_only(db_path):
    c = warehouse.connect(db_path)
    load(c, real_specs(), now="2026-01-05")
    c.close()
    ro = warehouse.connect(db_path, read_only=True)
    assert ro.execute("SELECT count(*) FROM magnesium_daily").fetchone()[0] == 3
    assert ro.execute("SELECT count(*) FROM brand_comparison").fetchone()[0] == 3
    ro.close()
