"""Reading a facts row's name: what it declares, and from which compounds.

"Magnesium (as Magnesium Oxide and Magnesium Bisglycinate)" -> base "Magnesium", sources
["Magnesium Oxide", "Magnesium Bisglycinate"]. The same reading serves DSLD rows (whose forms come
separately) and HTML rows (whose forms sit in the name).
"""
from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from .compounds import CompoundMatch, find_compounds, simplify
from .limits import OTHER_MINERALS_RE

# "(as ...)", "(from ...)", "(Form: as ...)", "(as: ...)"
_SOURCE_NOTE = re.compile(r"\(\s*(?:form\s*:\s*)?(?:as|from|supplied as|provided as)\b:?\s*(.+?)\)\s*$", re.I | re.S)
_ANY_PAREN = re.compile(r"\([^()]*\)")
_SPLIT_SOURCES = re.compile(r"\s*(?:,|;|/|&|\band\b|\bplus\b)\s*", re.I)
_MAGNESIUM_ONLY_NAMES = re.compile(r"\b(?:epsom|magtein)\b")
_ELEMENTAL_NAMES = {"magnesium", "mg", "elemental magnesium", "magnesium elemental", "total magnesium", "magnesium total"}
IGNORED_KINDS = frozenset({"none", "excipient"})  # rows the magnesium interpreter never reads


@dataclass(frozen=True)
class RowReading:
    kind: str  # "elemental" | "compound" | "excipient" | "mixture" | "unknown" | "none"
    base: str  # the name without its source note
    sources: tuple[str, ...]  # source texts named in the row ("as ..." or forms)
    compounds: tuple[CompoundMatch, ...]  # compounds recognised in the base (compound rows)
    source_compounds: tuple[tuple[str, tuple[CompoundMatch, ...]], ...]  # per source text


def _parts(note: str) -> tuple[str, ...]:
    note = re.sub(r"[()]", ", ", note)  # nested notes: "Buffered (Glycinate and Oxide)"
    return tuple(p for p in (p.strip(" .:") for p in _SPLIT_SOURCES.split(note)) if p)


def split_sources(name: str) -> tuple[str, tuple[str, ...]]:
    """("Magnesium", ("Magnesium Oxide", "Magnesium Bisglycinate")) from the row name."""
    clean = re.sub(r"[†*‡]+", " ", name).strip()
    head, paren, rest = clean.partition("(")
    if paren and _is_elemental(head.strip()) and not _SOURCE_NOTE.search(clean):
        # "Magnesium (Oxide)", "Magnesium (citrate, amino acid chelate)", truncated "Magnesium (fro Mag.
        # Citrate,": an elemental row's note names its sources even without "as"/"from"
        note = re.sub(r"\)\s*$", "", rest)
        note = re.sub(r"^\s*(?:as|from|fro|a)\b\s*", "", note, flags=re.I)
        parts = tuple(p for p in _parts(note) if not re.match(r"^\d", p))  # "(40 mg; S. cerevisiae)"
        named = any(_source_compounds(p) for p in parts)  # "(plant source)" names no source
        return re.sub(r"\s+", " ", head.strip()), parts if named else ()
    m = _SOURCE_NOTE.search(clean)
    if not m:
        return re.sub(r"\s+", " ", clean), ()
    base = clean[: m.start()].strip()
    return re.sub(r"\s+", " ", base), _parts(m.group(1))


def _source_compounds(text: str) -> tuple[CompoundMatch, ...]:
    """Compounds a source text names; none when it names another metal's salt ("manganese oxide")."""
    simple = simplify(text)
    if OTHER_MINERALS_RE.search(simple) and "magnes" not in simple and not re.search(r"\bmg\b", simple):
        return ()
    return find_compounds(text)


def _names_magnesium(simple: str) -> bool:
    # "Epsom salt" and "Magtein" name a magnesium compound without the word magnesium
    return "magnes" in simple or bool(_MAGNESIUM_ONLY_NAMES.search(simple))


def _is_elemental(base: str) -> bool:
    text = simplify(_ANY_PAREN.sub(" ", base))
    # "Elemental Magnesium", "Elemental chelated Magnesium": the word declares the element
    return text in _ELEMENTAL_NAMES or (text.startswith("elemental ") and text.endswith("magnesium"))


@lru_cache(maxsize=65536)
def read_row(name: str, forms: tuple[str, ...] = ()) -> RowReading:
    """Classify one row by its name (and DSLD forms) without looking at the amount."""
    base, sources = split_sources(name)
    sources = tuple(dict.fromkeys(sources + tuple(forms)))
    source_compounds = tuple((s, _source_compounds(s)) for s in sources)
    if _is_elemental(base):
        return RowReading("elemental", base, sources, (), source_compounds)
    simple = simplify(base)
    if not _names_magnesium(simple) and not any(c for _, c in source_compounds):
        # e.g. "Aquamin" under a non-magnesium parent, or unrelated rows
        return RowReading("none", base, sources, (), source_compounds)
    found = find_compounds(base)
    roles = {c.compound.role for c in found}
    if roles == {"excipient"}:
        return RowReading("excipient", base, sources, found, source_compounds)
    if not _names_magnesium(simple):
        return RowReading("none", base, sources, found, source_compounds)
    if OTHER_MINERALS_RE.search(simple):
        # "Calcium Magnesium Citrate", "Zinc Magnesium Aspartate": no magnesium-only mass
        return RowReading("mixture", base, sources, found, source_compounds)
    if not found:
        return RowReading("unknown", base, sources, found, source_compounds)
    if len(found) > 1:
        return RowReading("mixture", base, sources, found, source_compounds)
    return RowReading("compound", base, sources, found, source_compounds)


@lru_cache(maxsize=1 << 17)
def row_kind(name: str) -> str:
    """``read_row(name).kind``, cached on its own (a str per name, not a whole reading)."""
    return read_row(name).kind


# Every name the interpreter reads contains one of these once lower-cased: the kinds other than
# none/excipient need "magnes", "epsom" or "magtein" in the simplified base name, or an elemental
# name ("magnesium ...", "mg"), and neither split_sources nor simplify ever joins characters.
# Matched case-insensitively (re.I also matches a few non-ASCII look-alikes: more, never fewer).
_TRIGGER = re.compile("magnes|epsom|magtein|mg", re.I)
# The same search on ASCII text: there re.I matches exactly what lower-casing does, and a
# case-sensitive search of the lower-cased text is 3x faster (nearly every name is ASCII).
_LOWER_TRIGGER = re.compile("magnes|epsom|magtein|mg")


def _triggers(text: str) -> Iterator[re.Match[str]]:
    """Every trigger in ``text`` (``_TRIGGER.finditer``; the positions hold: lower() keeps ASCII lengths)."""
    if not text.isascii():
        return _TRIGGER.finditer(text)
    low = text.lower()
    if "mg" in low or "magnes" in low or "epsom" in low or "magtein" in low:  # substring scans: cheaper than the regex
        return _LOWER_TRIGGER.finditer(low)
    return iter(())


def may_name_magnesium(text: str, forms: tuple[str, ...] = ()) -> bool:
    """False when ``read_row(text, forms)`` is certainly "none" or "excipient" (forms are not searched:
    with any, the row must be read)."""
    if forms:
        return True
    return (_LOWER_TRIGGER.search(text.lower()) if text.isascii() else _TRIGGER.search(text)) is not None


def interpreted(name: str) -> bool:
    """Whether the interpreter reads a row of this name (``row_kind(name) not in IGNORED_KINDS``),
    answered without reading the name when it contains no trigger: the shared corpus has 65,000
    distinct row names at ~60 us per reading, and most name no magnesium at all."""
    return may_name_magnesium(name) and row_kind(name) not in IGNORED_KINDS


def naming_indices(names: list[str]) -> set[int]:
    """Positions of the names that may name magnesium (``may_name_magnesium``), found by one
    search over them all (a trigger is letters only, so a match never spans two names)."""
    joined = "\n".join(names)
    hits = [m.start() for m in _triggers(joined)]
    if not hits:
        return set()
    starts = list(itertools.accumulate((len(n) + 1 for n in names), initial=0))
    return {bisect.bisect_right(starts, at) - 1 for at in hits}


def names_magnesium(name: str, forms: tuple[str, ...] = ()) -> bool:
    """Whether a row names magnesium in any way (an excipient such as magnesium stearate too)."""
    return may_name_magnesium(name, forms) and read_row(name, forms).kind != "none"
