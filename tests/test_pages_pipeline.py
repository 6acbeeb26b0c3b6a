"""Real iHerb pages through the same normaliser and into magnesium_daily."""
import duckdb
import pytest
from click.testing import CliRunner

from maglabels.cli import cli
from tests.conftest import IHERB_PAGES

PAGES = sorted(IHERB_PAGES.values())


@pytest.fixture()
def db(tmp_path, monkeypatch):
    monkeypatch.setenv("MAGLABELS_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(cli, ["ingest", *map(str, PAGES)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(tmp_path / "data" / "maglabels.duckdb"), read_only=True)
    yield con
    con.close()


def test_multivitamin_page_gives_elemental_magnesium_and_price(db):
    row = db.execute("SELECT * FROM magnesium_daily").fetchdf().iloc[0]
    assert (row.source, row.source_id) == ("www.iherb.com", "104996")
    # "Magnesium (as Magnesium Oxide and Magnesium Bisglycinate) 105 mg 25%": elemental, 2 capsules,
    # taken once a day -> 105 mg/day; 105/420 = 25 %.
    assert row.mg_per_serving == 105 and row.mg_per_day_min == 105 and row.mg_per_day_max == 105
    assert list(row.forms) == ["magnesium oxide", "magnesium glycinate"]
    assert "buffered_blend" in list(row["flags"])  # glycinate with oxide: glycinate's share unknown
    # $12.38 for 30 servings -> $0.4127 a day; 100 mg of Mg a day costs 0.4127 * 100 / 105 = $0.393.
    assert row.price == pytest.approx(12.38) and row.currency == "USD"
    assert row.price_per_100mg_day == pytest.approx(12.38 / 30 * 100 / 105)


def test_b_complex_page_has_no_magnesium_fact(db):
    # the page mentions magnesium 25 times outside its facts panel (navigation, chips, combo offer)
    assert db.execute("SELECT count(*) FROM labels WHERE source_id = '108255'").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM magnesium_facts WHERE source_id = '108255'").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM magnesium_daily").fetchone()[0] == 1
