"""Checks a label against itself and against reference values; each check returns a reason.

Reference values (Daily Values, upper limits, dosage-unit capacities) are data in
`data/references.toml`; docs/audit.md explains each flag and its assumptions.
"""
from __future__ import annotations

import re
import tomllib
from functools import cache
from importlib import resources

from .compounds import CompoundMatch, find_compounds
from .limits import DOSAGE_UNITS, DV_TOLERANCE_POINTS, DV_TOLERANCE_RELATIVE, OTHER_MINERALS_RE
from .model import Label


@cache
def references() -> dict:
    with resources.files("maglabels.normalize").joinpath("data/references.toml").open("rb") as fh:
        return tomllib.load(fh)


_AGE_RANGE = re.compile(r"(\d+)\s*(?:-|–|to)\s*(\d+)\s*(?:years|yrs|y)", re.I)
# DSLD target-group wording -> population; checked in order, all that match apply.
_GROUP_PATTERNS = (
    (re.compile(r"(?<!not )pregnan|(?<!or )lactat", re.I), ("pregnancy",)),
    (re.compile(r"infant|baby", re.I), ("infant",)),
    (re.compile(r"children \(all\)|kids", re.I), ("child_1_3", "child_4_8")),
    (re.compile(r"more than 1 but less than 4|toddler", re.I), ("child_1_3",)),
    (re.compile(r"^children 4 or more", re.I), ("child_4_8",)),
    (re.compile(r"adult|senior|women|\bmen\b|menopause", re.I), ("adult",)),
)


def label_groups(label: Label, dv_group: str | None = None) -> set[str]:
    """Which populations the label addresses: adult, child_1_3, child_4_8, infant, pregnancy."""
    groups: set[str] = set()
    for text in (*label.target_groups, dv_group or ""):
        for pattern, names in _GROUP_PATTERNS:
            if pattern.search(text):
                groups.update(names)
        for low, high in _AGE_RANGE.findall(text):
            low, high = int(low), int(high)
            if high >= 1 and low < 4:
                groups.add("child_1_3" if high > 1 else "infant")
            if low <= 8 and high >= 4:
                groups.add("child_4_8")
            if high >= 9:
                groups.add("adult" if low >= 14 else "child_9_plus")
    return groups or {"unspecified"}


def upper_limit(groups: set[str]) -> tuple[float | None, str]:
    """The supplemental-magnesium UL for the label's groups; the most protective one wins."""
    ul = references()["upper_limit"]
    if "child_1_3" in groups:
        return float(ul["child_1_3"]), "children 1-3 y: 65 mg/day"
    if "child_4_8" in groups:
        return float(ul["child_4_8"]), "children 4-8 y: 110 mg/day"
    if groups == {"infant"}:
        return None, "infants: no UL established"
    return float(ul["adult"]), "adults and children 9+: 350 mg/day"


def fits_percent(amount_mg: float, percent: float, dv_mg: float) -> bool:
    exact = 100.0 * amount_mg / dv_mg
    return abs(exact - percent) <= max(DV_TOLERANCE_POINTS, DV_TOLERANCE_RELATIVE * percent)


def fitting_reference(amount_mg: float, percent: float, groups: set[str]) -> str | None:
    """The first Daily Value (for the label's groups) that the printed %DV fits, if any."""
    values = references()["daily_value"]
    candidates = [dv for dv in values if groups & set(dv["groups"])] or values
    for dv in candidates:
        if fits_percent(amount_mg, percent, dv["mg"]):
            return dv["name"]
    return None




def dosage_unit(serving_unit: str | None) -> str | None:
    """capsule / softgel / tablet / gummy for discrete serving units; None for powders, liquids."""
    if not isinstance(serving_unit, str):  # None, or NaN after a frame round trip
        return None
    for kind, pattern in DOSAGE_UNITS:
        if pattern.search(serving_unit):
            return kind
    return None


def capacity_mg(kind: str) -> float:
    return float(references()["capacity_mg"][kind])


# "Magnesium Glycinate 1,000 mg", "Magnesium 250", "Magtein Magnesium L-Threonate 2000 mg"
_NAME_CLAIM = re.compile(
    r"magnesium(?P<words>[a-z\s\-®™]*?)\s*(?P<num>\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?![\d.,])\s*(?P<unit>mg|g|milligrams?)?\b(?!\s*(?:%|/|x\b|ct|count|caps?|capsules|tabs?|tablets|softgels|servings|day|pack|ml|oz|ppm|mcg|µg|iu|meq))",
    re.I,
)




def name_claim(product_name: str | None) -> tuple[float, tuple[CompoundMatch, ...]] | None:
    """The mg figure a product name states for magnesium, and the compound it names, if any."""
    if not product_name or OTHER_MINERALS_RE.search(product_name):
        return None  # "Calcium & Magnesium 1000 mg / 500 mg": the figure may belong to the other mineral
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
