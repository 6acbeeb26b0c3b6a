"""Compound table: formula -> molar mass -> Mg fraction, and finding compounds in label text.

The table itself is data (`data/compounds.toml`). Molar masses are computed here from the formula
and the standard atomic weights in that file, so a new hydrate or compound is one TOML entry.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

from .units import Q_

_ELEMENT = re.compile(r"([A-Z][a-z]?)(\d*)")
_WATER = {"H": 2, "O": 1}


@dataclass(frozen=True)
class Compound:
    key: str
    formula: str  # anhydrous; "" when the compound has no defined formula
    hydrates: tuple[int, ...]
    default_hydrate: int
    keywords: tuple[str, ...]
    generic_keywords: tuple[str, ...]
    role: str  # "source" or "excipient"
    note: str = ""

    @property
    def defined(self) -> bool:
        return bool(self.formula)

    def molar_mass(self, hydrate: int | None = None) -> float:
        """g/mol of the formula unit with `hydrate` waters (default hydrate when None)."""
        return _molar_mass(self.formula, self.default_hydrate if hydrate is None else hydrate)

    def mg_atoms(self) -> int:
        return element_counts(self.formula).get("Mg", 0)

    def mg_fraction(self, hydrate: int | None = None) -> float:
        """Mass fraction of elemental Mg (computed once per formula and hydrate)."""
        return _mg_fraction(self.formula, self.default_hydrate if hydrate is None else hydrate)

    def fraction_range(self) -> tuple[float, float]:
        """Lowest and highest Mg fraction over the hydrates that occur commercially."""
        fracs = [self.mg_fraction(h) for h in self.hydrates]
        return min(fracs), max(fracs)

    def formula_text(self, hydrate: int | None = None) -> str:
        h = self.default_hydrate if hydrate is None else hydrate
        return self.formula + (f"·{h}H2O" if h else "")


@dataclass(frozen=True)
class CompoundMatch:
    compound: Compound
    hydrate: int | None  # stated on the label, else None
    buffered: bool


def element_counts(formula: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for element, n in _ELEMENT.findall(formula):
        counts[element] = counts.get(element, 0) + int(n or 1)
    return counts


@cache
def _table() -> dict:
    with resources.files("maglabels.normalize").joinpath("data/compounds.toml").open("rb") as fh:
        return tomllib.load(fh)


def atomic_weights() -> dict[str, float]:
    return _table()["atomic_weights"]


@cache
def _molar_mass(formula: str, hydrate: int) -> float:
    weights = atomic_weights()
    counts = element_counts(formula)
    for element, n in _WATER.items():
        counts[element] = counts.get(element, 0) + n * hydrate
    unknown = set(counts) - set(weights)
    if unknown:
        raise ValueError(f"no atomic weight for {sorted(unknown)} in formula {formula!r}")
    return sum(weights[e] * n for e, n in counts.items())


@cache
def _mg_fraction(formula: str, hydrate: int) -> float:
    # via pint so the units are checked: (n Mg x g/mol) / (g/mol) must be dimensionless
    mw = Q_(_molar_mass(formula, hydrate), "g/mol")
    mg = Q_(element_counts(formula).get("Mg", 0) * atomic_weights()["Mg"], "g/mol")
    return float((mg / mw).to("dimensionless").magnitude)


@cache
def compounds() -> tuple[Compound, ...]:
    return tuple(
        Compound(
            key=c["key"],
            formula=c["formula"],
            hydrates=tuple(c["hydrates"]),
            default_hydrate=c["default_hydrate"],
            keywords=tuple(c["keywords"]),
            generic_keywords=tuple(c.get("generic_keywords", ())),
            role=c["role"],
            note=c.get("note", ""),
        )
        for c in _table()["compound"]
    )


@cache
def by_key() -> dict[str, Compound]:
    return {c.key: c for c in compounds()}


def _keyword_pattern(words) -> re.Pattern:
    # Longest first, so "dimagnesium malate" claims its span before "malate" can.
    alternatives = sorted({w for w in words}, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in alternatives) + r")\b")


@cache
def _matchers():
    specific = {kw: c for c in compounds() for kw in c.keywords}
    generic = {kw: c for c in compounds() for kw in c.generic_keywords}
    hydrate_words = _table()["hydrate_words"]
    return (
        (_keyword_pattern(specific), specific),
        (_keyword_pattern(generic), generic),
        (_keyword_pattern(hydrate_words), hydrate_words),
    )


@lru_cache(maxsize=1 << 16)
def simplify(text: str) -> str:
    """Lower-case label text with trademarks, punctuation and hyphen spellings folded."""
    t = text.lower()
    t = re.sub(r"[®™©]|\((?:r|tm)\)", " ", t)
    t = t.replace("-", " ").replace("–", " ")
    t = re.sub(r"\bbis\s+glycinate", "bisglycinate", t)
    t = re.sub(r"\bdi\s+glycinate", "diglycinate", t)
    t = re.sub(r"[^a-z0-9:() ]+", " ", t)
    t = re.sub(r"\bmagnesium(?=[a-z])", "magnesium ", t)  # "magnesiumaspartate" (a real panel typo)
    # plurals: "Calcium & Magnesium Citrates", "Epsom Salts", "Amino Acid Chelates"
    t = re.sub(r"\b([a-z]+(?:ate|ide|ite)|salt)s\b", r"\1", t)
    return re.sub(r"\s+", " ", t).strip()


@lru_cache(maxsize=65536)
def find_compounds(text: str) -> tuple[CompoundMatch, ...]:
    """Every distinct compound named in `text`, in order of appearance."""
    simple = simplify(text)
    (specific_re, specific), (generic_re, generic), (hydrate_re, hydrate_words) = _matchers()
    found = [specific[m.group(1)] for m in specific_re.finditer(simple)]
    if not [c for c in found if c.role == "source" or c.role == "excipient"]:
        found = [generic[m.group(1)] for m in generic_re.finditer(simple)]
    hydrates = [hydrate_words[m.group(1)] for m in hydrate_re.finditer(simple)]
    hydrate = hydrates[0] if len(set(hydrates)) == 1 else None
    buffered = "buffered" in simple
    seen: dict[str, CompoundMatch] = {}
    for c in found:
        if c.key not in seen:
            stated = hydrate if hydrate is not None and hydrate in c.hydrates else None
            seen[c.key] = CompoundMatch(c, stated, buffered)
    return tuple(seen.values())
