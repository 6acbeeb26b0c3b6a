"""The interpreter: Labels -> magnesium facts, per-label summaries, flags and quarantine.

Reading rules (US Supplement Facts, 21 CFR 101.36(b)(2)(ii)):
- a "Magnesium" row declares ELEMENTAL magnesium; its "(as ...)"/forms name the compounds;
- a compound row nested under it ("Albion Magnesium Bisglycinate 2,500 mg") is compound mass:
  converted only to cross-check the parent, never added on top;
- a compound-named row with no elemental parent is compound mass, unless its %DV shows that the
  amount is elemental; the reading that won, and why, is kept in `method`;
- amounts that cannot be read (NP, IU, unknown compound, no formula) go to quarantine, never
  become a number.

Unit and compound conversions run column-wise (normalize.units); only the small per-label
decision runs row by row.
"""
from __future__ import annotations

import hashlib
import marshal
import operator
from collections.abc import Iterable
from dataclasses import dataclass, field, fields

import numpy as np

from . import audit
from .compounds import CompoundMatch
from .flags import Flag, Reason
from .limits import MAX_AMOUNT_MG, SLACK_HIGH, SLACK_LOW
from .model import Label, LabelRow, ServingSize
from .rowtext import IGNORED_KINDS, may_name_magnesium, read_row
from .units import compound_to_elemental, to_milligrams

_VOLATILE = {"raw_sha256", "url", "price", "currency", "extra", "content_id"}  # where/when/at what price
_KEPT = tuple(f.name for f in fields(Label) if f.name not in _VOLATILE)
_label_values = operator.attrgetter(*_KEPT)
_ROWS, _SERVINGS = _KEPT.index("rows"), _KEPT.index("servings")
ROW_FIELDS = tuple(f.name for f in fields(LabelRow))  # a row's content, in this order (all plain values)
row_values = operator.attrgetter(*ROW_FIELDS)
_serving_values = operator.attrgetter(*(f.name for f in fields(ServingSize)))


def version_id(label: Label) -> str:
    """Hash of what the label says (not where, when or at what price it was fetched): same label,
    same id. A front end that hashes its whole document canonically gives that hash
    (``content_id``). Otherwise the canonical form is marshal format version 2 of the kept field
    values in declaration order, rows and servings as tuples of their field values (version 2
    writes no back-references, so equal values give equal bytes whatever object identities are
    shared; 3.5x faster than repr, 8x than JSON)."""
    if label.content_id:
        return label.content_id
    values = list(_label_values(label))
    values[_ROWS] = tuple(map(row_values, label.rows))
    values[_SERVINGS] = tuple(map(_serving_values, label.servings))
    return hashlib.sha256(marshal.dumps(tuple(values), 2)).hexdigest()[:20]


@dataclass
class _Candidate:
    row: LabelRow
    kind: str
    matches: tuple[CompoundMatch, ...]
    amount_mg: float = np.nan
    unit_code: str | None = None
    unit_message: str | None = None
    converted_mg: float = np.nan  # elemental Mg if the amount is compound mass


@dataclass
class _Outcome:
    facts: list[dict] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)
    flags: list[tuple[str, str]] = field(default_factory=list)
    forms: list[str] = field(default_factory=list)


def _candidates(labels: list[Label]) -> list[list[_Candidate]]:
    per_label = []
    for label in labels:
        found = []
        for row in label.rows:
            if row.section != "active" or not may_name_magnesium(row.name, row.forms):
                continue  # the prefilter spares reading the many names that cannot be magnesium
            reading = read_row(row.name, row.forms)
            if reading.kind not in IGNORED_KINDS:
                found.append(_Candidate(row, reading.kind, reading.compounds))
        per_label.append(found)
    _convert(c for cands in per_label for c in cands)
    return per_label


def _convert(candidates: Iterable[_Candidate]) -> None:
    """Units -> mg and compound mass -> elemental mg, one pint conversion per column."""
    cands = list(candidates)
    if not cands:
        return
    amounts = np.array([c.row.amount if c.row.amount is not None else np.nan for c in cands], dtype="float64")
    declared = ~np.isnan(amounts) & (amounts != 0)
    units = np.where(declared, np.array([c.row.unit for c in cands], dtype=object), "NP")
    with np.errstate(invalid="ignore", over="ignore"):
        mg, codes, messages = to_milligrams(np.where(np.isfinite(amounts), amounts, np.nan), units)
        invalid = declared & (~np.isfinite(amounts) | (amounts < 0) | (np.nan_to_num(mg) > MAX_AMOUNT_MG))
    for i in np.flatnonzero(invalid).tolist():
        mg[i], codes[i], messages[i] = np.nan, Reason.INVALID_AMOUNT, \
            f"amount {amounts[i]:g} {units[i]} is negative, infinite or above {MAX_AMOUNT_MG:g} mg"
    molar_mass = np.full(len(cands), np.nan)
    mg_atoms = np.zeros(len(cands))
    for i, c in enumerate(cands):
        c.amount_mg, c.unit_code, c.unit_message = mg[i], codes[i], messages[i]
        if c.kind == "compound" and c.matches[0].compound.defined:
            m = c.matches[0]
            molar_mass[i] = m.compound.molar_mass(m.hydrate)
            mg_atoms[i] = m.compound.mg_atoms()
    convertible = ~np.isnan(molar_mass) & ~np.isnan(mg)
    if convertible.any():
        elemental = compound_to_elemental(mg[convertible], molar_mass[convertible], mg_atoms[convertible])
        for i, value in zip(np.flatnonzero(convertible).tolist(), elemental, strict=False):
            cands[i].converted_mg = float(value)


def _describe(m: CompoundMatch) -> str:
    c = m.compound
    hydrate = "stated" if m.hydrate is not None else "assumed"
    return f"{c.key} ({c.formula_text(m.hydrate)}, {hydrate}; {100 * c.mg_fraction(m.hydrate):.2f} % Mg)"


def _fact(c: _Candidate, role: str, elemental: float, counted: bool, method: str) -> dict:
    m = c.matches[0] if c.matches else None
    return {"row_id": c.row.row_id, "role": role, "compound": m.compound.key if m else None,
            "amount": c.row.amount, "unit": c.row.unit, "amount_mg": c.amount_mg,
            "mg_fraction": (elemental / c.amount_mg) if c.amount_mg and not np.isnan(c.amount_mg) else np.nan,
            "elemental_mg": elemental, "counted": counted, "method": method}


def _quarantine(c: _Candidate, code: str, reason: str) -> dict:
    return {"row_id": c.row.row_id, "row_text": c.row.text or c.row.name, "reason_code": code, "reason": reason}


def _elemental_ancestor(c: _Candidate, by_id: dict[str, _Candidate], rows: dict[str, LabelRow]) -> _Candidate | None:
    parent = c.row.parent_id
    while parent:
        if parent in by_id and by_id[parent].kind == "elemental":
            return by_id[parent]
        parent = rows[parent].parent_id if parent in rows else None
    return None


def _read_compound_row(c: _Candidate, groups: set[str], out: _Outcome) -> None:
    """A compound-named row with no elemental parent: compound mass unless the %DV says otherwise."""
    m = c.matches[0]
    if c.row.percent_dv and not np.isnan(c.amount_mg):
        as_elemental = audit.fitting_reference(c.amount_mg, c.row.percent_dv, groups)
        as_compound = audit.fitting_reference(c.converted_mg, c.row.percent_dv, groups)
        if as_elemental and not as_compound:
            out.facts.append(_fact(c, "declared_elemental", c.amount_mg, True,
                                   f"compound-named row read as elemental: its {c.row.percent_dv:g} % DV fits "
                                   f"{c.amount_mg:g} mg under {as_elemental}, not the converted {c.converted_mg:.1f} mg"))
            return
    out.facts.append(_fact(c, "converted_compound", c.converted_mg, True,
                           f"compound mass converted via formula: {_describe(m)}"))


def _problem(c: _Candidate) -> tuple[str, str] | None:
    """Why this candidate cannot give a number, if it cannot."""
    if c.kind == "unknown":
        return Reason.UNKNOWN_COMPOUND, f"unknown compound: {c.row.name}"
    if c.kind == "mixture":
        return Reason.MIXTURE, f"mixture without a magnesium-only amount: {c.row.name}"
    if c.kind == "compound":
        m = c.matches[0]
        if m.buffered:
            return Reason.BUFFERED_BLEND, f"buffered blend, % Mg unknown without the supplier's figure: {c.row.name}"
        if not m.compound.defined:
            return Reason.UNDEFINED_FORMULA, f"no defined formula ({m.compound.key}): {c.row.name}"
    if c.unit_code:
        return c.unit_code, c.unit_message or c.unit_code  # set together in _convert
    return None


def _cross_check(children: list[_Candidate], parent: _Candidate, out: _Outcome) -> None:
    """Nested compound rows: convert them to check the parent's elemental amount, never add them."""
    usable = [c for c in children if not _problem(c)]
    if not usable:
        return
    masses = sum(c.amount_mg for c in usable)
    names = " + ".join(f"{c.amount_mg:g} mg {c.matches[0].compound.key}" for c in usable)
    low = sum(c.amount_mg * c.matches[0].compound.fraction_range()[0] for c in usable)
    high = sum(c.amount_mg * c.matches[0].compound.fraction_range()[1] for c in usable)
    declared = parent.amount_mg
    if audit.close(masses, declared, 0.02) and len(usable) > 1:
        verdict = f"consistent: the nested rows ({names}) give the magnesium from each source"
        role = "elemental_breakdown"
    elif low * SLACK_LOW <= declared <= high * SLACK_HIGH:
        verdict = f"consistent: {names} hold {low:.1f}-{high:.1f} mg Mg"
        role = "cross_check"
    else:
        role = "cross_check"
        verdict = f"declared {declared:g} mg Mg, but {names} hold {low:.1f}-{high:.1f} mg Mg"
        glycinate_only = all("glycinate" in c.matches[0].compound.key for c in usable)
        if audit.close(masses, declared, 0.05):
            out.flags.append((Flag.COMPOUND_AS_ELEMENTAL, f"the nested compound mass equals the magnesium amount: {verdict}"))
        elif declared > high and glycinate_only:
            out.flags.append((Flag.BUFFERED_BLEND, f"more magnesium than glycinate can hold, so it is buffered "
                                                f"(mixed with oxide) or wrong: {verdict}"))
        else:
            out.flags.append((Flag.CROSS_CHECK_MISMATCH, verdict))
    for c in usable:
        out.facts.append(_fact(c, role, c.converted_mg if role == "cross_check" else c.amount_mg, False,
                               f"nested row, not added: {verdict}"))


def _choose_totals(rows: list[_Candidate], out: _Outcome) -> list[_Candidate]:
    """Several top-level magnesium rows: keep the total, not its parts (flat formats lose nesting)."""
    rows = [r for r in rows if not np.isnan(r.amount_mg) and r.amount_mg > 0]
    if len(rows) <= 1:
        return rows
    for r in rows:
        rest = sum(o.amount_mg for o in rows if o is not r)
        if audit.close(r.amount_mg, rest, 0.02):
            return [r]
    amounts = ", ".join(f"{r.amount_mg:g} mg" for r in rows)
    with_dv = [r for r in rows if r.row.percent_dv]
    chosen = with_dv[0] if len(with_dv) == 1 else rows[0]
    # Never add them up: on real labels they are alternative servings (adult/child) or a compound
    # mass moved into the panel, so the sum would overstate the dose.
    out.flags.append((Flag.MULTIPLE_MAGNESIUM_ROWS, f"magnesium rows of {amounts}; counted {chosen.amount_mg:g} mg "
                                                 f"({'the one with a %DV' if len(with_dv) == 1 else 'the first, the primary serving'})"))
    return [chosen]


def _nested_elemental(e: _Candidate, parts: list[_Candidate], groups: set[str], out: _Outcome) -> bool:
    """Magnesium rows nested under a magnesium row. True when they, not the parent, are counted."""
    parts = [p for p in parts if not np.isnan(p.amount_mg)]
    if not parts:
        return False
    total = sum(p.amount_mg for p in parts)
    pct = e.row.percent_dv
    if not audit.close(total, e.amount_mg, 0.02) and pct and audit.fitting_reference(total, pct, groups) \
            and not audit.fitting_reference(e.amount_mg, pct, groups):
        out.flags.append((Flag.COMPOUND_AS_ELEMENTAL, f"row {e.row.row_id} declares {e.amount_mg:g} mg magnesium, but its "
                                                   f"nested elemental rows give {total:g} mg and the {pct:g} % DV fits those"))
        out.facts.append(_fact(e, "compound_mass", np.nan, False, "magnesium row that is compound mass (see flags)"))
        for p in parts:
            out.facts.append(_fact(p, "declared_elemental", p.amount_mg, True, "declared elemental magnesium (nested row)"))
        return True
    if not audit.close(total, e.amount_mg, 0.02):
        out.flags.append((Flag.CROSS_CHECK_MISMATCH, f"nested magnesium rows sum to {total:g} mg, the parent says {e.amount_mg:g} mg"))
    for p in parts:
        out.facts.append(_fact(p, "elemental_breakdown", p.amount_mg, False, "nested magnesium row, part of the parent's total"))
    return False


def _collect_forms(cands: list[_Candidate], out: _Outcome) -> None:
    """The magnesium sources each row names (and the buffered-blend flag they may raise)."""
    for c in cands:
        sources = read_row(c.row.name, c.row.forms).source_compounds
        out.forms.extend(ms[0].compound.key if ms else text for text, ms in sources)
        if c.kind != "elemental" and c.matches:
            out.forms.extend(m.compound.key for m in c.matches)
        for text, ms in sources:
            if any(m.buffered for m in ms) or "buffered" in text.lower():
                out.flags.append((Flag.BUFFERED_BLEND, f"source named as buffered: {text}"))


def _read_other_elemental(e: _Candidate, children: list[_Candidate], totals: list[_Candidate],
                          out: _Outcome) -> None:
    """An elemental row that is not the label's total: a breakdown, or a header over compound rows."""
    if not np.isnan(e.amount_mg) and e.amount_mg > 0:
        out.facts.append(_fact(e, "elemental_breakdown", e.amount_mg, False, "magnesium row, part of another row's total"))
        return
    usable = [ch for ch in children if ch.kind == "compound" and not _problem(ch)]
    for ch in usable:
        out.facts.append(_fact(ch, "converted_compound", ch.converted_mg, True,
                               f"magnesium row declares no amount; nested compound converted: {_describe(ch.matches[0])}"))
    if not usable and not totals:
        out.quarantine.append(_quarantine(e, e.unit_code or Reason.NOT_DECLARED, e.unit_message or "magnesium amount not declared"))
    for ch in children:
        problem = _problem(ch)
        if ch not in usable and ch.kind != "elemental" and problem and ch.row.amount:
            out.quarantine.append(_quarantine(ch, *problem))


def _read_orphans(orphans: list[_Candidate], elemental: list[_Candidate], totals: list[_Candidate],
                  groups: set[str], out: _Outcome) -> None:
    """Compound rows under no elemental row: quarantined, or read as compound mass if nothing else is."""
    for c in orphans:
        problem = _problem(c)
        if problem:
            # "Magnesium-Rich Plants Blend" beside a declared magnesium row is a blend, not a source
            named_blend = c.kind in ("unknown", "mixture") and c.row.category == "blend" and totals
            if (c.row.amount or not elemental) and not named_blend:
                out.quarantine.append(_quarantine(c, *problem))
        elif not totals:
            _read_compound_row(c, groups, out)


def _interpret(label: Label, cands: list[_Candidate], groups: set[str]) -> _Outcome:
    out = _Outcome()
    by_id = {c.row.row_id: c for c in cands}
    rows = {r.row_id: r for r in label.rows}
    ancestor = {c.row.row_id: _elemental_ancestor(c, by_id, rows) for c in cands}
    _collect_forms(cands, out)
    elemental = [c for c in cands if c.kind == "elemental" and not ancestor[c.row.row_id]]
    totals = _choose_totals(elemental, out)
    for e in elemental:
        children = [c for c in cands if c is not e and ancestor[c.row.row_id] is e]
        if e in totals:
            if not _nested_elemental(e, [c for c in children if c.kind == "elemental"], groups, out):
                out.facts.append(_fact(e, "declared_elemental", e.amount_mg, True,
                                       "declared elemental magnesium (Supplement Facts row)"))
            _cross_check([c for c in children if c.kind != "elemental"], e, out)
        else:
            _read_other_elemental(e, children, totals, out)
    orphans = [c for c in cands if c.kind != "elemental" and not ancestor[c.row.row_id]]
    if totals:
        # A label that declares elemental magnesium: compound rows elsewhere only cross-check it
        # (flattened formats lose the nesting that would have said so).
        _cross_check(orphans, totals[0], out)
    _read_orphans(orphans, elemental, totals, groups, out)
    return out
