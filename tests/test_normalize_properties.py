"""Property-based tests of the row reader and the conversions (hypothesis)."""
import numpy as np
from hypothesis import given, settings, strategies as st

from maglabels.normalize.batch import normalize_labels
from maglabels.normalize.compounds import by_key, find_compounds
from maglabels.normalize.model import Label, LabelRow, ServingSize
from maglabels.normalize.rowtext import read_row
from maglabels.normalize.units import compound_to_elemental, to_milligrams

amounts = st.floats(min_value=0.001, max_value=1e6, allow_nan=False, allow_infinity=False)
units = st.sampled_from(["mg", "g", "mcg", "µg", "Gram(s)", "kg"])


@given(amounts, units)
def test_unit_round_trip(value, unit):
    mg, codes, _ = to_milligrams(np.array([value]), np.array([unit], dtype=object))
    back, _, _ = to_milligrams(mg, np.array(["mg"], dtype=object))
    assert codes == [None] and np.isclose(back[0], mg[0])
    from maglabels.normalize.units import Q_
    assert np.isclose(Q_(mg[0], "mg").to(unit if unit != "Gram(s)" else "g").magnitude, value)


@given(st.lists(amounts, min_size=2, max_size=20), st.sampled_from(sorted(k for k, c in by_key().items() if c.defined)))
def test_conversion_is_monotonic_and_below_compound_mass(values, key):
    compound = by_key()[key]
    values = np.sort(np.array(values))
    out = compound_to_elemental(values, np.full(len(values), compound.molar_mass()), np.full(len(values), compound.mg_atoms()))
    assert np.all(np.diff(out) >= 0)
    assert np.all(out <= values)
    assert np.allclose(out / values, compound.mg_fraction())


@given(st.text(max_size=200))
def test_row_reader_never_crashes(text):
    reading = read_row(text)
    assert reading.kind in {"elemental", "compound", "excipient", "mixture", "unknown", "none"}
    find_compounds(text)


@settings(max_examples=100, deadline=None)
@given(name=st.one_of(st.text(max_size=80), st.sampled_from(["Magnesium", "Magnesium Glycinate", "Magnesium Xyzate",
                                                              "Calcium Magnesium", "Magnesium Amino Acid Chelate"])),
       amount=st.one_of(st.none(), st.just(float("nan")), st.floats(min_value=-10, max_value=1e5)),
       unit=st.one_of(st.text(max_size=8), st.sampled_from(["mg", "NP", "IU", "g", "mcg"])),
       pct=st.one_of(st.none(), st.floats(min_value=0, max_value=1000)))
def test_quarantined_rows_never_yield_a_number(name, amount, unit, pct):
    label = Label(source="test", source_id="1", brand="b", product_name=None,
                  rows=(LabelRow(row_id="1", name=name, amount=amount, unit=unit, percent_dv=pct, serving_order=1,
                                 serving_quantity=1.0),),
                  servings=(ServingSize(1, 1.0, 1.0, "Capsule(s)", 1.0, 1.0),))
    batch = normalize_labels([label])
    quarantined = set(batch.quarantine.row_id)
    facts = batch.magnesium_facts
    counted = facts[facts["counted"].astype(bool)]
    assert not quarantined & set(counted.row_id)
    elemental = counted.elemental_mg.astype(float)
    assert np.all(np.isfinite(elemental)) and np.all(elemental > 0)
    if counted.empty and len(batch.magnesium_labels):
        assert np.isnan(batch.magnesium_labels.mg_per_serving.iloc[0])
