"""pint registry and column-wise mass conversion.

Every unit and mass conversion in the project goes through pint, one numpy array per distinct
label unit (never one Quantity per row: that is ~100x slower; see benchmarks/bench_normalize.py).
"""
from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pint

ureg: pint.UnitRegistry = pint.UnitRegistry(cache_folder=None)
# Label spellings pint does not know; "IU" stays undefined on purpose (it is not a mass).
ureg.define("@alias microgram = mcg_ = µg_ = ug_")
# A private registry: the process-wide application registry is left to whoever else uses pint.
Q_ = ureg.Quantity

MG_MOLAR_MASS = Q_(24.305, "g/mol")

# Label unit text -> pint expression. Only spellings, never conversion factors.
_SPELLINGS = {
    "gram(s)": "g", "grams": "g", "gram": "g", "gm": "g", "gms": "g",
    "milligram(s)": "mg", "milligrams": "mg",
    "microgram(s)": "µg", "micrograms": "µg", "mcg": "µg", "ug": "µg",
    "kilogram(s)": "kg",
}
NOT_DECLARED = {"np", ""}


class UnitProblem(ValueError):
    """A label unit that cannot give a mass; `code` goes into the quarantine table."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@lru_cache(maxsize=4096)
def mass_unit(label_unit: str | None) -> pint.Unit:
    """The pint unit for a label's unit text, or UnitProblem saying why there is none."""
    text = (label_unit or "").strip()
    key = re.sub(r"\s+", " ", text.lower())
    if key in NOT_DECLARED:
        raise UnitProblem("not_declared", "amount not declared on the label (unit NP)")
    key = re.sub(r"\s+(dfe|rae|ne|elemental)$", "", key)
    expr = _SPELLINGS.get(key, key)
    try:
        unit = ureg.parse_units(expr)
    except Exception:  # pint's parser raises tokenizer/assertion errors on arbitrary label text
        raise UnitProblem("unknown_unit", f"unknown unit: {text!r}") from None
    if unit.dimensionality != ureg.milligram.dimensionality:
        raise UnitProblem("not_a_mass", f"unit is not a mass: {text!r}")
    return unit


def to_milligrams(amounts: np.ndarray, units: np.ndarray) -> tuple[np.ndarray, list[str | None], list[str | None]]:
    """Convert a column of amounts with a column of label units to mg.

    Returns (mg, problem_codes, problem_messages); rows that cannot be converted get NaN and a
    reason, never a number.
    """
    amounts = np.asarray(amounts, dtype="float64")
    units = np.asarray(units, dtype=object)
    out = np.full(len(amounts), np.nan)
    codes: list[str | None] = [None] * len(amounts)
    messages: list[str | None] = [None] * len(amounts)
    for label_unit in dict.fromkeys(units.tolist()):
        rows = np.flatnonzero(units == label_unit)
        try:
            unit = mass_unit(label_unit)
        except UnitProblem as problem:
            for i in rows:
                codes[i], messages[i] = problem.code, str(problem)
            continue
        out[rows] = Q_(amounts[rows], unit).to("mg").magnitude
    return out, codes, messages


def compound_to_elemental(compound_mg: np.ndarray, molar_mass: np.ndarray, mg_atoms: np.ndarray) -> np.ndarray:
    """Elemental Mg (mg) in a column of compound masses, through moles (pint's chemistry context).

    mass -> amount of compound (mw per row) -> amount of Mg atoms -> mass of Mg.
    """
    compound = Q_(np.asarray(compound_mg, dtype="float64"), "mg")
    moles = compound.to("mmol", "chemistry", mw=Q_(np.asarray(molar_mass, dtype="float64"), "g/mol"))
    mg_moles = moles * np.asarray(mg_atoms, dtype="float64")
    return mg_moles.to("mg", "chemistry", mw=MG_MOLAR_MASS).magnitude
