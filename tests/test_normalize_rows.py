"""The row reader on the 187 real magnesium row wordings (expected readings as data), Epsom salt
and plural forms."""
import json
from collections import Counter
from pathlib import Path

import pytest
from maglabels.normalize.batch import normalize_labels
from maglabels.normalize.compounds import by_key, find_compounds
from maglabels.normalize.model import Label, LabelRow, ServingSize
from maglabels.normalize.rowtext import read_row

ROWS = Path(__file__).resolve().parent / "fixtures" / "rows"
EXPECTED = json.loads((ROWS / "magnesium_row_readings.json").read_text(encoding="utf-8"))


def _wordings() -> Counter:
    products = json.loads((ROWS / "iherb-scraper-searcher-rows.json").read_text(encoding="utf-8"))
    return Counter(v["actual_name"] for p in products for k, v in (p.get("nutrients") or {}).items()
                   if "magnes" in k.lower())


def test_the_fixture_holds_the_187_real_wordings():
    assert set(_wordings()) == set(EXPECTED) and len(EXPECTED) == 187


@pytest.mark.parametrize("wording", sorted(EXPECTED))
def test_real_wording_reads_as_expected(wording):
    reading = read_row(wording)
    forms = list(dict.fromkeys(m.compound.key for _, ms in reading.source_compounds for m in ms))
    assert {"kind": reading.kind, "forms": forms} == EXPECTED[wording]


@pytest.mark.parametrize("wording, forms", [
    ("Magnesium (Oxide)", ["magnesium oxide"]),  # a note without "as" still names the source
    ("Magnesium (citrate, amino acid chelate)", ["magnesium citrate", "magnesium amino acid chelate"]),
    ("Magnesium (as manganese oxide, magnesium aspartate)", ["magnesium aspartate"]),  # Mn oxide is not Mg
    ("Magnesium (as magnesiumaspartate and magnesium oxide)", ["magnesium aspartate", "magnesium oxide"]),
    ("Magnesium (fro Mag. Citrate,", ["magnesium citrate"]),  # truncated on the page
    ("Magnesium (40 mg; S. cerevisiae)", []),
])
def test_fixed_misreadings(wording, forms):
    reading = read_row(wording)
    assert reading.kind == "elemental"
    assert [m.compound.key for _, ms in reading.source_compounds for m in ms] == forms


def test_epsom_salt_is_the_heptahydrate():
    (match,) = find_compounds("Epsom Salt")
    assert match.compound.key == "magnesium sulfate" and match.hydrate == 7
    # MgSO4·7H2O: 24.305 / (24.305 + 32.06 + 4 x 15.999 + 7 x 18.015) = 24.305 / 246.466 = 9.86 % Mg
    assert match.compound.mg_fraction(7) == pytest.approx(24.305 / (24.305 + 32.06 + 11 * 15.999 + 14 * 1.008))
    assert read_row("Epsom Salts").kind == "compound"
    label = Label(source="test", source_id="epsom", brand="b", product_name="Bath Flakes",
                  rows=(LabelRow(row_id="1", name="Epsom Salt", amount=1000.0, unit="mg", serving_order=1,
                                 serving_quantity=1.0),),
                  servings=(ServingSize(1, 1.0, 1.0, "Scoop(s)", 1.0, 1.0),))
    batch = normalize_labels([label])
    assert batch.magnesium_labels.mg_per_serving.iloc[0] == pytest.approx(1000 * 24.305 / 246.466, rel=1e-4)


def test_plural_forms_are_read():
    assert [m.compound.key for m in find_compounds("Calcium & Magnesium Citrates")] == ["magnesium citrate"]
    assert read_row("Calcium & Magnesium Citrates").kind == "mixture"  # no magnesium-only mass
    reading = read_row("Magnesium (as Calcium & Magnesium Citrates)")
    assert reading.kind == "elemental"
    assert [m.compound.key for _, ms in reading.source_compounds for m in ms] == ["magnesium citrate"]
    assert read_row("Magnesium Citrates").compounds[0].compound.key == "magnesium citrate"
    assert by_key()["magnesium citrate"].defined
