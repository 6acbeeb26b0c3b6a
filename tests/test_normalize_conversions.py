"""Compound table, pint conversions and row reading."""
import numpy as np
import pytest
from maglabels.normalize.compounds import by_key, find_compounds
from maglabels.normalize.rowtext import read_row, split_sources
from maglabels.normalize.units import UnitProblem, compound_to_elemental, mass_unit, to_milligrams

# Molar mass (g/mol) and % Mg from docs/magnesium-reference.md §1.2 (computed there by its own script).
REFERENCE_TABLE = [
    ("magnesium glycinate", 0, 172.423, 14.10), ("magnesium glycinate", 1, 190.438, 12.76),
    ("magnesium glycinate", 2, 208.453, 11.66), ("magnesium oxide", 0, 40.304, 60.30),
    ("magnesium hydroxide", 0, 58.319, 41.68), ("magnesium carbonate", 0, 84.313, 28.83),
    ("magnesium carbonate basic", 4, 467.631, 25.99), ("magnesium carbonate basic", 5, 485.646, 25.02),
    ("magnesium citrate", 0, 451.113, 16.16), ("magnesium citrate", 9, 613.248, 11.89),
    ("magnesium hydrogen citrate", 0, 214.412, 11.34), ("magnesium malate", 0, 156.376, 15.54),
    ("magnesium malate", 3, 210.421, 11.55), ("dimagnesium malate", 0, 178.665, 27.21),
    ("magnesium l-threonate", 0, 294.495, 8.25), ("magnesium taurate", 0, 272.573, 8.92),
    ("magnesium acetyl taurate", 0, 356.647, 6.81), ("magnesium chloride", 0, 95.205, 25.53),
    ("magnesium chloride", 6, 203.295, 11.96), ("magnesium sulfate", 0, 120.361, 20.19),
    ("magnesium sulfate", 7, 246.466, 9.86), ("magnesium lactate", 0, 202.445, 12.01),
    ("magnesium lactate", 2, 238.475, 10.19), ("magnesium gluconate", 0, 414.599, 5.86),
    ("magnesium gluconate", 2, 450.629, 5.39), ("magnesium aspartate", 0, 288.495, 8.42),
    ("magnesium aspartate", 2, 324.525, 7.49), ("magnesium aspartate", 4, 360.555, 6.74),
    ("magnesium orotate", 0, 334.483, 7.27), ("magnesium orotate", 2, 370.513, 6.56),
    ("magnesium pidolate", 0, 280.519, 8.66), ("magnesium ascorbate", 0, 374.537, 6.49),
    ("magnesium succinate", 0, 140.377, 17.31), ("magnesium succinate", 4, 212.437, 11.44),
    ("magnesium fumarate", 0, 138.361, 17.57), ("trimagnesium phosphate", 0, 262.855, 27.74),
    ("trimagnesium phosphate", 5, 352.930, 20.66), ("trimagnesium phosphate", 8, 406.975, 17.92),
    ("dimagnesium phosphate", 0, 120.283, 20.21), ("dimagnesium phosphate", 3, 174.328, 13.94),
    ("magnesium glycerophosphate", 0, 194.362, 12.51), ("magnesium acetate", 4, 214.453, 11.33),
    ("magnesium stearate", 0, 591.257, 4.11),
]


@pytest.mark.parametrize("key, hydrate, molar_mass, percent", REFERENCE_TABLE)
def test_molar_mass_and_fraction_computed_from_formula(key, hydrate, molar_mass, percent):
    compound = by_key()[key]
    assert compound.molar_mass(hydrate) == pytest.approx(molar_mass, abs=0.001)
    assert 100 * compound.mg_fraction(hydrate) == pytest.approx(percent, abs=0.005)


def test_glycinate_worked_example_through_moles():
    # Reference §1.1: 1000 mg anhydrous glycinate = 140.96 mg Mg; the dihydrate 116.60 mg;
    # trimagnesium citrate carries 3 Mg per formula unit.
    gly = by_key()["magnesium glycinate"]
    out = compound_to_elemental(np.array([1000.0, 1000.0, 1000.0]),
                                np.array([gly.molar_mass(0), gly.molar_mass(2), by_key()["magnesium citrate"].molar_mass(0)]),
                                np.array([1, 1, 3]))
    assert out == pytest.approx([140.96, 116.60, 161.63], abs=0.01)


@pytest.mark.parametrize("label_unit, mg", [("mg", 1.0), ("Gram(s)", 1000.0), ("g", 1000.0), ("mcg", 0.001),
                                            ("µg", 0.001), ("MG", 1.0), ("Milligram(s)", 1.0)])
def test_label_units_convert_to_mg(label_unit, mg):
    out, codes, _ = to_milligrams(np.array([1.0]), np.array([label_unit], dtype=object))
    assert out[0] == pytest.approx(mg) and codes == [None]


@pytest.mark.parametrize("label_unit, code", [("NP", "not_declared"), ("IU", "unknown_unit"), ("mmg", "unknown_unit"),
                                              ("mL", "not_a_mass"), ("", "not_declared")])
def test_units_that_give_no_mass_are_refused_with_a_reason(label_unit, code):
    with pytest.raises(UnitProblem) as err:
        mass_unit(label_unit)
    assert err.value.code == code
    out, codes, messages = to_milligrams(np.array([5.0]), np.array([label_unit], dtype=object))
    assert np.isnan(out[0]) and codes == [code] and messages[0]


@pytest.mark.parametrize("text, key, hydrate, buffered", [
    ("Albion® Magnesium Bisglycinate Chelate", "magnesium glycinate", None, False),
    ("Magnesium Bis-Glycinate", "magnesium glycinate", None, False),
    ("TRAACS® Magnesium Bisglycinate Chelate Buffered", "magnesium glycinate", None, True),
    ("Magnesium Chloride Hexahydrate", "magnesium chloride", 6, False),
    ("Di-Magnesium Malate", "dimagnesium malate", None, False),
    ("Magtein® Magnesium L-Threonate", "magnesium l-threonate", None, False),
    ("Magnesium Hydroxide", "magnesium hydroxide", None, False),  # not "oxide"
    ("Magnesium Glycerophosphate", "magnesium glycerophosphate", None, False),  # not "phosphate"
    ("Magnesium Amino Acid Chelate", "magnesium amino acid chelate", None, False),
    ("Aquamin", "marine magnesium", None, False),
])
def test_label_synonyms(text, key, hydrate, buffered):
    (match,) = find_compounds(text)
    assert (match.compound.key, match.hydrate, match.buffered) == (key, hydrate, buffered)


@pytest.mark.parametrize("name, base, sources", [
    ("Magnesium (as Magnesium Oxide and Magnesium Bisglycinate)", "Magnesium", ("Magnesium Oxide", "Magnesium Bisglycinate")),
    ("Magnesium (from Magnesium Bisglycinate Chelate, Magnesium Oxide)", "Magnesium", ("Magnesium Bisglycinate Chelate", "Magnesium Oxide")),
    ("Magnesium (as TRAACS® Magnesium Bisglycinate Chelate)", "Magnesium", ("TRAACS® Magnesium Bisglycinate Chelate",)),
    ("Magnesium Glycinate", "Magnesium Glycinate", ()),
])
def test_split_sources(name, base, sources):
    assert split_sources(name) == (base, sources)


@pytest.mark.parametrize("name, kind", [
    ("Magnesium", "elemental"), ("elemental Magnesium", "elemental"), ("Elemental chelated Magnesium", "elemental"),
    ("Magnesium Glycinate 1,000 mg", "compound"), ("Magnesium Stearate", "excipient"),
    ("Calcium Magnesium", "mixture"), ("Magnesium Citrate Malate", "mixture"),
    ("Magnesium Beta-Hydroxybutyrate", "unknown"), ("Vitamin D3", "none"),
])
def test_row_kinds(name, kind):
    assert read_row(name).kind == kind


@pytest.mark.parametrize("name, claim", [
    ("Magnesium Glycinate 1,000 mg", 1000.0), ("Magnesium 250", 250.0), ("Magnesium 2.5 g", 2500.0),
    ("Magtein Magnesium L-Threonate 2000 mg", 2000.0), ("Magnesium 400 mg 120 Capsules", 400.0),
    ("Ionic Magnesium 100,000 PPM", None),  # a concentration, not a dose
    ("Calcium & Magnesium 1000 mg / 500 mg", None),  # the figure may belong to calcium
    ("Magnesium 30 ppm", None), ("Calcitron 2:1 Ratio Magnesium Calcium", None),
])
def test_name_claims(name, claim):
    from maglabels.normalize.audit import name_claim

    found = name_claim(name)
    assert (found[0] if found else None) == claim
