"""Labels -> NormalizedBatch: the frames the warehouse loads (see docs/ARCHITECTURE.md)."""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from . import audit
from .compounds import by_key, find_compounds
from .magnesium import NormalizedBatch, _candidates, _interpret, _Outcome, version_id
from .model import Label

_KEY = ["source", "source_id", "version_id"]


def _best_fraction(forms: list[str]) -> tuple[float, str]:
    """The most Mg-dense of the label's defined forms (the reading most favourable to the label)."""
    table = by_key()
    defined = [table[f] for f in forms if f in table and table[f].defined and table[f].role == "source"]
    if not defined:
        oxide = table["magnesium oxide"]
        return oxide.mg_fraction(), "magnesium oxide (no form named; the densest common source)"
    best = max(defined, key=lambda c: c.fraction_range()[1])
    return best.fraction_range()[1], best.key


def _compound_reading(amount_mg: float, percent: float, forms: list[str], groups: set[str]):
    """(compound, hydrate, elemental mg, DV name) when the %DV fits the amount read as compound mass."""
    for key in forms:
        compound = by_key().get(key)
        if not (compound and compound.defined and compound.role == "source"):
            continue
        for hydrate in compound.hydrates:
            elemental = amount_mg * compound.mg_fraction(hydrate)
            fits = audit.fitting_reference(elemental, percent, groups)
            if fits:
                return compound, hydrate, elemental, fits
    return None


def _check_percent_dv(label: Label, out: _Outcome, forms: list[str], groups: set[str]) -> str | None:
    """dv_mismatch / compound_as_elemental from each counted row's printed %DV."""
    rows = {r.row_id: r for r in label.rows}
    reference = None
    for fact in (f for f in out.facts if f["counted"]):
        row = rows[fact["row_id"]]
        if not row.percent_dv or np.isnan(fact["elemental_mg"]):
            continue
        fits = audit.fitting_reference(fact["elemental_mg"], row.percent_dv, groups)
        if fits:
            reference = reference or fits
            continue
        reading = _compound_reading(fact["elemental_mg"], row.percent_dv, forms, groups) \
            if fact["role"] == "declared_elemental" else None
        if reading:
            compound, hydrate, elemental, fits = reading
            out.flags.append(("compound_as_elemental",
                              f"row {row.row_id} declares {fact['elemental_mg']:g} mg magnesium, but its "
                              f"{row.percent_dv:g} % DV fits {elemental:.1f} mg, the Mg in {fact['elemental_mg']:g} mg "
                              f"of {compound.formula_text(hydrate)} ({fits}): the amount is compound mass"))
            fact.update(role="converted_compound", elemental_mg=elemental, mg_fraction=compound.mg_fraction(hydrate),
                        method=f"declared as magnesium, but the %DV shows compound mass; converted via {compound.key}")
            reference = reference or fits
            continue
        pct = ", ".join(f"{100 * fact['elemental_mg'] / dv['mg']:.0f} % of {dv['name']}" for dv in audit.references()["daily_value"])
        out.flags.append(("dv_mismatch", f"row {row.row_id}: printed {row.percent_dv:g} % DV does not fit "
                                         f"{fact['elemental_mg']:.1f} mg under any reference ({pct})"))
    return reference


def _check_name(label: Label, forms: list[str], per_serving: float, per_day: tuple[float, float],
                per_unit: float | None, out: _Outcome) -> None:
    claim = audit.name_claim(label.product_name)
    if not claim or np.isnan(per_serving):
        return
    value, named = claim
    readings = {"per serving": per_serving, "per day (min)": per_day[0], "per day (max)": per_day[1]}
    if per_unit is not None:
        readings["per unit"] = per_unit
    if any(audit.close(value, v) for v in readings.values() if not np.isnan(v)):
        return
    compounds = [m.compound for m in named] or [by_key()[f] for f in forms if f in by_key()]
    compounds = [c for c in compounds if c.defined and c.role == "source"]
    for c in compounds:
        low, high = c.fraction_range()
        lo, hi = value * low * 0.80, value * high * 1.07
        hits = [k for k, v in readings.items() if not np.isnan(v) and lo <= v <= hi]
        if hits:
            out.flags.append(("name_claim_mismatch",
                              f"name states {value:g} mg; as {c.key} that is {value * low:.0f}-{value * high:.0f} mg Mg, "
                              f"matching the panel's elemental amount {hits[0]} ({readings[hits[0]]:.0f} mg): "
                              f"the label supports the compound reading"))
            return
    shown = ", ".join(f"{v:.0f} mg {k}" for k, v in readings.items() if not np.isnan(v))
    out.flags.append(("name_claim_mismatch", f"name states {value:g} mg; the panel gives {shown}: "
                                             f"neither the elemental nor a compound reading fits"))


def _summarise(label: Label, out: _Outcome, groups: set[str]) -> dict | None:
    counted = [f for f in out.facts if f["counted"]]
    if not counted and not out.quarantine:
        return None
    forms = [f for f in dict.fromkeys(out.forms) if f]
    inferred = False
    if not [f for f in forms if f in by_key()]:
        named = [m.compound.key for m in find_compounds(label.product_name or "") if m.compound.role == "source"]
        if named:
            forms, inferred = named, True
            out.flags.append(("form_inferred", f"no form on the panel; taken from the product name: {', '.join(named)}"))
    if "magnesium glycinate" in forms and "magnesium oxide" in forms:
        out.flags.append(("buffered_blend", "glycinate together with oxide: the share of the magnesium that "
                                            "comes from glycinate is not stated"))
    reference = _check_percent_dv(label, out, forms, groups)
    rows = {r.row_id: r for r in label.rows}
    first = rows[counted[0]["row_id"]] if counted else None
    serving = next((s for s in label.servings if first and s.order == first.serving_order), None) or \
        (label.servings[0] if label.servings else None)
    ssq = first.serving_quantity if first else None
    units_min = (serving.min_quantity if serving else None) or ssq or 1.0
    units_max = (serving.max_quantity if serving else None) or units_min
    if ssq is None:
        if units_max != units_min:
            # The source does not say which end of "1-3 capsules" the amount is for: do not scale.
            out.flags.append(("serving_range_unscaled", f"amount taken per serving; the serving range "
                                                        f"{units_min:g}-{units_max:g} {serving.unit} was not applied"))
        ssq = units_max = units_min
    daily_min = serving.min_daily_servings if serving else None
    daily_max = (serving.max_daily_servings if serving else None) or daily_min
    if daily_min is None:
        daily_min = daily_max = 1.0
        why = "the source format dropped daily servings" if not label.daily_servings_known else "the label gives none"
        out.flags.append(("daily_servings_assumed", f"1 serving a day assumed: {why}"))
    ul, ul_basis = audit.upper_limit(groups)
    return {
        "forms": forms, "forms_inferred": inferred,
        "mg_per_serving": sum(f["elemental_mg"] for f in counted) if counted else np.nan,
        "serving_quantity": ssq, "units_min": units_min, "units_max": units_max,
        "daily_servings_min": daily_min, "daily_servings_max": daily_max,
        "serving_unit": serving.unit if serving else None,
        "method": "; ".join(dict.fromkeys(f["method"].split(":")[0] for f in counted)) or None,
        "dv_reference": reference, "ul_mg": ul, "ul_basis": ul_basis,
    }


def _label_record(label: Label, vid: str) -> dict:
    serving = label.servings[0] if label.servings else None
    return {"source": label.source, "source_id": label.source_id, "version_id": vid, "raw_sha256": label.raw_sha256,
            "url": label.url, "brand": label.brand, "product_name": label.product_name, "upc": label.upc,
            "entry_date": label.entry_date, "dosage_form": label.dosage_form,
            "target_groups": list(label.target_groups),
            "serving": f"{serving.min_quantity:g} {serving.unit}" if serving and serving.min_quantity else None,
            "servings_per_container": label.servings_per_container, "price": label.price, "currency": label.currency}


def _row_records(label: Label, vid: str) -> list[dict]:
    return [{"source": label.source, "source_id": label.source_id, "version_id": vid, "row_id": r.row_id,
             "parent_id": r.parent_id, "depth": r.depth, "name": r.name, "category": r.category, "forms": list(r.forms),
             "amount": r.amount, "unit": r.unit, "operator": r.operator, "percent_dv": r.percent_dv,
             "dv_group": r.dv_group, "section": r.section, "text": r.text} for r in label.rows]


def _frame(records: list[dict], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame.from_records(records, columns=columns)


LABEL_COLUMNS = _KEY + ["raw_sha256", "url", "brand", "product_name", "upc", "entry_date", "dosage_form",
                        "target_groups", "serving", "servings_per_container", "price", "currency"]
FACT_COLUMNS = _KEY + ["row_id", "role", "compound", "amount", "unit", "amount_mg", "mg_fraction", "elemental_mg",
                       "counted", "method"]
SUMMARY_COLUMNS = _KEY + ["forms", "forms_inferred", "mg_per_serving", "mg_per_day_min", "mg_per_day_max",
                          "serving_quantity", "serving_unit", "daily_servings_min", "daily_servings_max", "method",
                          "dv_reference", "ul_mg", "ul_basis", "flags"]


def normalize_labels(labels: Iterable[Label]) -> NormalizedBatch:
    """Interpret every label; the first label seen for a (source, source_id) wins within a batch."""
    unique: dict[tuple[str, str], Label] = {}
    for label in labels:
        unique.setdefault((label.source, label.source_id), label)
    labels = list(unique.values())
    candidates = _candidates(labels)
    label_recs, row_recs, facts, summaries, flags, quarantine = [], [], [], [], [], []
    for label, cands in zip(labels, candidates):
        vid = version_id(label)
        key = {"source": label.source, "source_id": label.source_id, "version_id": vid}
        label_recs.append(_label_record(label, vid))
        row_recs.extend(_row_records(label, vid))
        groups = audit.label_groups(label)
        out = _interpret(label, cands, groups)
        summary = _summarise(label, out, groups)
        if summary is not None:
            summaries.append({**key, **summary, "_label": label, "_out": out})
        facts.extend({**key, **f} for f in out.facts)
        quarantine.extend({**key, "raw_sha256": label.raw_sha256, **q} for q in out.quarantine)
    records = _per_day(pd.DataFrame.from_records(summaries)).to_dict("records") if summaries else []
    for rec in records:
        label, out = rec["_label"], rec["_out"]
        per_unit = rec["mg_per_serving"] / rec["serving_quantity"] if audit.dosage_unit(rec["serving_unit"]) else None
        _check_fill(rec, per_unit, out)
        _check_name(label, rec["forms"], rec["mg_per_serving"], (rec["mg_per_day_min"], rec["mg_per_day_max"]), per_unit, out)
        if rec["ul_mg"] and rec["mg_per_day_max"] > rec["ul_mg"]:
            out.flags.append(("above_ul", f"up to {rec['mg_per_day_max']:.0f} mg/day is above the UL for supplemental "
                                          f"magnesium ({rec['ul_basis']})"))
        unique_flags = list(dict.fromkeys(out.flags))
        flags.extend({"source": rec["source"], "source_id": rec["source_id"], "version_id": rec["version_id"],
                      "flag": f, "reason": r} for f, r in unique_flags)
        rec["flags"] = list(dict.fromkeys(f for f, _ in unique_flags))
    summary = pd.DataFrame.from_records(records, columns=SUMMARY_COLUMNS)
    return NormalizedBatch(
        labels=_frame(label_recs, LABEL_COLUMNS),
        ingredient_rows=_frame(row_recs, _KEY + ["row_id", "parent_id", "depth", "name", "category", "forms", "amount",
                                                 "unit", "operator", "percent_dv", "dv_group", "section", "text"]),
        magnesium_facts=_frame(facts, FACT_COLUMNS),
        magnesium_labels=summary,
        label_flags=_frame(flags, _KEY + ["flag", "reason"]),
        quarantine=_frame(quarantine, _KEY + ["row_id", "raw_sha256", "row_text", "reason_code", "reason"]),
    )


def _per_day(summary: pd.DataFrame) -> pd.DataFrame:
    """Per-day range for every label at once: mg per serving x units a day / units per serving."""
    if summary.empty:
        return summary
    per_unit = summary["mg_per_serving"] / summary["serving_quantity"]
    summary["mg_per_day_min"] = per_unit * summary["units_min"] * summary["daily_servings_min"]
    summary["mg_per_day_max"] = per_unit * summary["units_max"] * summary["daily_servings_max"]
    return summary


def _check_fill(rec: dict, per_unit: float | None, out: _Outcome) -> None:
    kind = audit.dosage_unit(rec["serving_unit"])
    if per_unit is None or kind is None or np.isnan(per_unit):
        return
    fraction, basis = _best_fraction(rec["forms"])
    needed = per_unit / fraction
    capacity = audit.capacity_mg(kind)
    if needed > capacity:
        out.flags.append(("implausible_fill", f"{per_unit:.0f} mg Mg per {kind} needs at least {needed:.0f} mg of compound "
                                              f"as {basis} ({100 * fraction:.1f} % Mg); a {kind} holds about {capacity:.0f} mg"))
