"""Pinned corpus numbers: the offline run on the bundled real data (a regression shows here)."""
import re
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from maglabels.cli import cli
from maglabels.warehouse.corpus_report import corpus_markdown, corpus_numbers

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    data = tmp_path_factory.mktemp("corpus") / "data"
    mp = pytest.MonkeyPatch()
    mp.setenv("MAGLABELS_DATA_DIR", str(data))
    mp.delenv("MAGLABELS_DB", raising=False)
    result = CliRunner().invoke(cli, ["run", "--offline"], catch_exceptions=False)
    mp.undo()
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(data / "maglabels.duckdb"), read_only=True)
    yield con
    con.close()


def test_coverage(con):
    assert corpus_numbers(con)["coverage"] == [
        {"products": 737, "with_elemental_value": 727, "without_value": 10}]


def test_quarantine_reasons(con):
    rows = {r["reason_code"]: (r["rows"], r["products"]) for r in corpus_numbers(con)["quarantine"]}
    assert rows == {"not_declared": (8, 4), "unknown_compound": (7, 7), "undefined_formula": (3, 3),
                    "buffered_blend": (1, 1), "unknown_unit": (1, 1)}


def test_distribution_against_the_band(con):
    ranges = {r["range_status"]: r["products"] for r in corpus_numbers(con)["ranges"]}
    assert ranges == {"below": 265, "within": 329, "above": 133, "unknown": 10}


def test_flag_counts(con):
    flags = {r["flag"]: r["products"] for r in corpus_numbers(con)["flags"]}
    assert flags == {"daily_servings_assumed": 731, "form_inferred": 277, "above_ul": 253,
                     "serving_range_unscaled": 77, "name_claim_mismatch": 58, "implausible_fill": 30,
                     "dv_mismatch": 23, "buffered_blend": 19, "cross_check_mismatch": 14,
                     "multiple_magnesium_rows": 5, "compound_as_elemental": 2}


def test_readme_section_is_current(con):
    text = README.read_text(encoding="utf-8")
    section = re.search(r"<!-- corpus-report:start -->\n(.*)\n<!-- corpus-report:end -->", text, re.S)
    assert section, "README lost its corpus-report markers"
    assert section.group(1).strip() == corpus_markdown(con).strip()
