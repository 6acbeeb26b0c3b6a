"""Checks a label against itself and against reference values; each check returns a reason.

Reference values (Daily Values, upper limits, dosage-unit capacities) are data in
`data/references.toml`; docs/audit.md explains each flag and its assumptions.
"""
from __future__ import annotations

import re
import tomllib
from functools import cache
from importlib import resources

from normalize.compounds import CompoundMatch, find_compounds
from normalize.model import Label

# How far a printed %DV may sit from amount/DV: whole-percent rounding of either the declared
# or the unrounded amount (1 point), or 2 % of the value for large percentages.
_DV_TOLERANCE_POINTS = 1.0
_DV_TOLERANCE_RELATIVE = 0.02


@cache
def references() -> dict:
    with resources.files("normalize").joinpath("data/references.toml").open("rb") as fh:
        return tomllib.load(fh)


_AGE_RANGE = re.compile(r"(\d+)\s*(?:-|–|to)\s*(\d+)\s*(?:years|yrs|y)", re.I)


def label_groups(label: Label, dv_group: str | None = None) -> set[str]:
    """Which population the label addresses: adult, child_1_3, child_4_8, infant, pregnancy..."""
    texts = [t.lower() for t in (*label.target_groups, dv_group or "")]
    groups: set[str] = set()
    for t in texts:
        if "pregnan" in t or "lactat" in t:
            groups.add("pregnancy")
        if "infant" in t:
            groups.add("infant")
        if "adult" in t or "senior" in t or "4 or more years" in t or "4 years and above" in t:
            groups.add("adult")
        for low, high in _AGE_RANGE.findall(t):
            low, high = int(low), int(high)
            if low < 4:
                groups.add("child_1_3")
            if low <= 8 and high >= 4:
                groups.add("child_4_8")
            if high >= 9:
                groups.add("adult" if low >= 18 else "child_9_plus")
    return groups or {"unspecified"}


def fits_percent(amount_mg: float, percent: float, dv_mg: float) -> bool:
    exact = 100.0 * amount_mg / dv_mg
    return abs(exact - percent) <= max(_DV_TOLERANCE_POINTS, _DV_TOLERANCE_RELATIVE * percent)


def fitting_reference(amount_mg: float, percent: float, groups: set[str]) -> str | None:
    """The first Daily Value (for the label's groups) that the printed %DV fits, if any."""
    candidates = [dv for dv in references()["daily_value"] if groups & set(dv["groups"])] or references()["daily_value"]
    for dv in candidates:
        if fits_percent(amount_mg, percent, dv["mg"]):
            return dv["name"]
    return None


def upper_limit(groups: set[str]) -> tuple[float | None, str]:
    """The supplemental-magnesium UL that applies, and why. The most protective group wins."""
    ul = references()["upper_limit"]
    if "adult" in groups or "pregnancy" in groups or "unspecified" in groups or "child_9_plus" in groups:
        if not groups & {"child_1_3", "child_4_8"}:
            return float(ul["adult"]), "adults and children 9+: 350 mg/day"
    if "child_1_3" in groups:
        return float(ul["child_1_3"]), "children 1-3 y: 65 mg/day"
    if "child_4_8" in groups:
        return float(ul["child_4_8"]), "children 4-8 y: 110 mg/day"
    if groups == {"infant"}:
        return None, "infants: no UL established"
    return float(ul["adult"]), "adults: 350 mg/day"


_UNIT_KINDS = (
    ("softgel", re.compile(r"soft\s*-?\s*gel|licap", re.I)),
    ("capsule", re.compile(r"cap(?:sule)?s?\b|capsule|vcap|vegcap|veg cap", re.I)),
    ("gummy", re.compile(r"gumm|chew|lozenge|wafer", re.I)),
    ("tablet", re.compile(r"tablet|caplet|tab\b", re.I)),
)


def dosage_unit(serving_unit: str | None) -> str | None:
    """capsule / softgel / tablet / gummy for discrete serving units; None for powders, liquids."""
    for kind, pattern in _UNIT_KINDS:
        if serving_unit and pattern.search(serving_unit):
            return kind
    return None


def capacity_mg(kind: str) -> float:
    return float(references()["capacity_mg"][kind])


# "Magnesium Glycinate 1,000 mg", "Magnesium 250", "Magtein Magnesium L-Threonate 2000 mg"
_NAME_CLAIM = re.compile(
    r"magnesium(?P<words>[a-z\s\-®™]*?)\s*(?P<num>\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*(?P<unit>mg|g|milligrams?)?\b(?!\s*(?:%|x|ct|count|caps?|capsules|tabs?|tablets|softgels|servings|day|pack|ml|oz))",
    re.I,
)


def name_claim(product_name: str | None) -> tuple[float, tuple[CompoundMatch, ...]] | None:
    """The mg figure a product name states for magnesium, and the compound it names, if any."""
    if not product_name:
        return None
    m = _NAME_CLAIM.search(product_name)
    if not m:
        return None
    value = float(m.group("num").replace(",", ""))
    if (m.group("unit") or "").lower() == "g":
        value *= 1000
    if value < 10 and not m.group("unit"):
        return None  # "Magnesium 2:1", "Cal-Mag 3" are ratios or versions, not doses
    compounds = tuple(c for c in find_compounds(product_name[: m.end()]) if c.compound.role == "source")
    return value, compounds


def close(a: float, b: float, rel: float = 0.10) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b))
