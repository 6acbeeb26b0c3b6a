"""Labels -> NormalizedBatch: the frames the warehouse loads (see docs/ARCHITECTURE.md)."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from . import audit, contract
from .compounds import by_key, find_compounds
from .contract import NormalizedBatch
from .flags import DoseBasis, Flag, Reason
from .limits import MAX_DAILY_SERVINGS, MAX_ROW_DEPTH, MAX_SERVING_UNITS, SLACK_HIGH, SLACK_LOW
from .magnesium import ROW_FIELDS, _candidates, _interpret, _Outcome, row_values, version_id
from .model import Label, LabelRecord, serving_text
from .product_key import on_market, product_key
from .rowtext import names_magnesium


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


def _gram_slip(fact: dict, percent: float, groups: set[str]) -> str | None:
    """The DV that a row's %DV fits when its amount, given in grams, is read as milligrams."""
    amount, amount_mg = fact.get("amount"), fact.get("amount_mg")
    if not amount or amount_mg is None or np.isnan(amount_mg) or not np.isclose(amount_mg, amount * 1000):
        return None
    return audit.fitting_reference(fact["elemental_mg"] / 1000, percent, groups)


def _read_grams_as_mg(row_id: str, fact: dict, percent: float, fits: str, out: _Outcome) -> None:
    """DSLD has rows like "Magnesium 190 gm, 45 % DV" in one capsule: the %DV says milligrams."""
    out.flags.append((Flag.GRAM_AS_MILLIGRAM,
                      f"row {row_id} gives {fact['amount']:g} {fact['unit']} ({fact['elemental_mg']:g} mg Mg), but its "
                      f"{percent:g} % DV fits {fact['elemental_mg'] / 1000:g} mg ({fits}): the unit is read as mg"))
    fact.update(elemental_mg=fact["elemental_mg"] / 1000, amount_mg=fact["amount_mg"] / 1000,
                method=f"{fact['method']}; unit read as mg: the %DV fits mg, not g")


def _check_percent_dv(label: Label, out: _Outcome, forms: list[str], groups: set[str]) -> str | None:
    """dv_mismatch / compound_as_elemental / gram_as_milligram from each counted row's printed %DV."""
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
            out.flags.append((Flag.COMPOUND_AS_ELEMENTAL,
                              f"row {row.row_id} declares {fact['elemental_mg']:g} mg magnesium, but its "
                              f"{row.percent_dv:g} % DV fits {elemental:.1f} mg, the Mg in {fact['elemental_mg']:g} mg "
                              f"of {compound.formula_text(hydrate)} ({fits}): the amount is compound mass"))
            fact.update(role="converted_compound", elemental_mg=elemental, mg_fraction=compound.mg_fraction(hydrate),
                        method=f"declared as magnesium, but the %DV shows compound mass; converted via {compound.key}")
            reference = reference or fits
            continue
        slip = _gram_slip(fact, row.percent_dv, groups)
        if slip:
            _read_grams_as_mg(row.row_id, fact, row.percent_dv, slip, out)
            reference = reference or slip
            continue
        pct = ", ".join(f"{100 * fact['elemental_mg'] / dv['mg']:.0f} % of {dv['name']}" for dv in audit.references()["daily_value"])
        out.flags.append((Flag.DV_MISMATCH, f"row {row.row_id}: printed {row.percent_dv:g} % DV does not fit "
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
        lo, hi = value * low * SLACK_LOW, value * high * SLACK_HIGH
        hits = [k for k, v in readings.items() if not np.isnan(v) and lo <= v <= hi]
        if hits:
            out.flags.append((Flag.NAME_CLAIM_MISMATCH,
                              f"name states {value:g} mg; as {c.key} that is {value * low:.0f}-{value * high:.0f} mg Mg, "
                              f"matching the panel's elemental amount {hits[0]} ({readings[hits[0]]:.0f} mg): "
                              f"the label supports the compound reading"))
            return
    shown = ", ".join(f"{v:.0f} mg {k}" for k, v in readings.items() if not np.isnan(v))
    out.flags.append((Flag.NAME_CLAIM_MISMATCH, f"name states {value:g} mg; the panel gives {shown}: "
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
            out.flags.append((Flag.FORM_INFERRED, f"no form on the panel; taken from the product name: {', '.join(named)}"))
    if "magnesium glycinate" in forms and "magnesium oxide" in forms:
        out.flags.append((Flag.BUFFERED_BLEND, "glycinate together with oxide: the share of the magnesium that "
                                            "comes from glycinate is not stated"))
    reference = _check_percent_dv(label, out, forms, groups)
    ul, ul_basis = audit.upper_limit(groups)
    return {
        "forms": forms, "forms_inferred": inferred,
        "mg_per_serving": sum(f["elemental_mg"] for f in counted) if counted else np.nan,
        **_serving_basis(label, counted, out),
        "method": "; ".join(dict.fromkeys(f["method"].split(":")[0] for f in counted)) or None,
        "dv_reference": reference, "ul_mg": ul, "ul_basis": ul_basis,
    }


def _value(x: float | None) -> float:
    return np.nan if x is None else x


def _serving_basis(label: Label, counted: list[dict], out: _Outcome) -> dict:
    """Serving units per serving (range), units the amount is for, daily servings, and the basis.

    Values pass through unchecked (0, NaN, negative): _per_day validates them column-wise."""
    rows = {r.row_id: r for r in label.rows}
    first = rows[counted[0]["row_id"]] if counted else None
    serving = next((s for s in label.servings if first and s.order == first.serving_order), None) or \
        (label.servings[0] if label.servings else None)
    ssq = first.serving_quantity if first else None
    units_min = serving.min_quantity if serving and serving.min_quantity is not None else (ssq if ssq is not None else 1.0)
    units_max = serving.max_quantity if serving and serving.max_quantity is not None else units_min
    ranged = units_max != units_min
    if ssq is None:
        ssq = units_min
        if ranged:
            # The source does not say which end of "1-3 capsules" the amounts are for: read them as
            # for the smallest serving (DSLD's servingSizeQuantity is the minimum where it is given).
            out.flags.append((Flag.SERVING_RANGE_ASSUMED, f"serving range {units_min:g}-{units_max:g} "
                                                          f"{serving.unit if serving else ''}: amounts read as for "
                                                          f"{units_min:g}, so the maximum assumes {units_max:g}"))
    daily_min = serving.min_daily_servings if serving else None
    daily_max = serving.max_daily_servings if serving else None
    daily_min, daily_max = (daily_min if daily_min is not None else daily_max), \
        (daily_max if daily_max is not None else daily_min)
    if daily_min is None:
        daily_min = daily_max = 1.0
        why = "the source format dropped daily servings" if not label.daily_servings_known else "the label gives none"
        out.flags.append((Flag.DAILY_SERVINGS_ASSUMED, f"1 serving a day assumed: {why}"))
        basis = DoseBasis.ASSUMED_ONE_SERVING_PER_DAY_SERVING_RANGE if ranged else DoseBasis.ASSUMED_ONE_SERVING_PER_DAY
    else:
        basis = DoseBasis.DECLARED_RANGE if ranged or daily_min != daily_max else DoseBasis.DECLARED
    return {"serving_quantity": _value(ssq), "units_min": _value(units_min), "units_max": _value(units_max),
            "daily_servings_min": _value(daily_min), "daily_servings_max": _value(daily_max),
            "serving_unit": serving.unit if serving else None, "dose_basis": str(basis)}


def _label_record(label: Label, vid: str) -> dict:
    serving = label.servings[0] if label.servings else None
    return {"source": label.source, "source_id": label.source_id, "version_id": vid, "raw_sha256": label.raw_sha256,
            "url": label.url, "brand": label.brand, "product_name": label.product_name, "upc": label.upc,
            "entry_date": label.entry_date, "dosage_form": label.dosage_form,
            "target_groups": list(label.target_groups),
            "serving": serving_text(serving.min_quantity, serving.unit) if serving else None,
            "servings_per_container": label.servings_per_container, "price": label.price, "currency": label.currency,
            "product_key": product_key(label), "on_market": on_market(label)}


_ROW_COLUMNS = contract.columns("ingredient_rows")[len(contract.KEY):]
_ROW_AT = [ROW_FIELDS.index(name) for name in _ROW_COLUMNS]  # where each row column sits in a row tuple


def _rows_frame(keys: list[tuple[str, str, str]], rows: list[tuple]) -> pd.DataFrame:
    """ingredient_rows built column-wise (not a dict per row): ``rows`` are ``row_values`` tuples,
    ``keys`` their labels' keys."""
    columns = dict(zip(("source", "source_id", "version_id"), map(list, zip(*keys, strict=True)), strict=True)) \
        if keys else {name: [] for name, _ in contract.KEY}
    values = list(zip(*rows, strict=True)) if rows else [()] * len(ROW_FIELDS)
    for name, at in zip(_ROW_COLUMNS, _ROW_AT, strict=True):
        columns[name] = list(values[at]) if name != "forms" else [list(f) for f in values[at]]
    return pd.DataFrame(columns, columns=contract.columns("ingredient_rows"))


def _frame(records: list[dict], frame: str) -> pd.DataFrame:
    return pd.DataFrame.from_records(records, columns=contract.columns(frame))


def _label_problems(label: Label, key: dict) -> list[dict]:
    """Document-level findings of the front end (rows cut at the depth cap)."""
    return [{**key, "row_id": row_id, "raw_sha256": label.raw_sha256, "row_text": None,
             "reason_code": str(Reason.TOO_DEEP),
             "reason": f"row {row_id} has rows nested deeper than {MAX_ROW_DEPTH} levels; they were not read"}
            for row_id in label.extra.get("too_deep") or ()]


def normalize_labels(labels: Iterable[Label | LabelRecord]) -> NormalizedBatch:
    """Interpret every label; the first label seen for a (source, source_id) wins within a batch.
    A ``LabelRecord`` (a front end's label without a row to interpret) gives its record and rows.

    ingredient_rows holds every row of a label with a row the interpreter reads (the rows behind
    every magnesium figure and finding); of any other label only the rows that name magnesium
    (magnesium stearate as an excipient). The rest of those labels (a vitamin D, a fish oil: most
    of the DSLD corpus, ~1.2 M rows) stays in the raw document their labels row points to."""
    unique: dict[tuple[str, str], Label | LabelRecord] = {}
    for item in labels:
        ident = (item.record["source"], item.record["source_id"]) if isinstance(item, LabelRecord) \
            else (item.source, item.source_id)
        unique.setdefault(ident, item)
    label_recs: list[dict] = []
    row_keys: list[tuple[str, str, str]] = []
    all_rows: list[tuple] = []
    facts: list[dict] = []
    summaries: list[dict] = []
    flags: list[dict] = []
    quarantine: list[dict] = []
    candidates = iter(_candidates([item for item in unique.values() if isinstance(item, Label)]))
    for label in unique.values():
        if isinstance(label, LabelRecord):
            label_recs.append(label.record)
            row_keys.extend([(label.record["source"], label.record["source_id"], label.record["version_id"])] * len(label.rows))
            all_rows.extend(label.rows)
            continue
        cands = next(candidates)
        vid = version_id(label)
        key = {"source": label.source, "source_id": label.source_id, "version_id": vid}
        label_recs.append(_label_record(label, vid))
        front_end = [(Flag(f["flag"]), f["reason"]) for f in label.extra.get("flags") or ()]
        rows = label.rows if cands else [r for r in label.rows if names_magnesium(r.name, r.forms)]
        row_keys.extend([(label.source, label.source_id, vid)] * len(rows))
        all_rows.extend(map(row_values, rows))
        if not cands:  # nothing the interpreter reads: no facts, no summary; the front end's flags stay findings
            flags.extend({**key, "flag": str(f), "reason": r} for f, r in dict.fromkeys(front_end))
            quarantine.extend(_label_problems(label, key))
            continue
        groups = audit.label_groups(label)
        out = _interpret(label, cands, groups)
        out.flags[:0] = front_end  # the front end's findings (page identity, serving) come first
        summary = _summarise(label, out, groups)
        if summary is not None:
            summaries.append({**key, **summary, "_label": label, "_out": out})
        else:  # no magnesium: the front end's flags are still findings about the label
            flags.extend({**key, "flag": str(f), "reason": r} for f, r in dict.fromkeys(front_end))
        facts.extend({**key, **f} for f in out.facts)
        quarantine.extend({**key, "raw_sha256": label.raw_sha256, **q} for q in out.quarantine)
        quarantine.extend(_label_problems(label, key))
    quarantine.extend(_per_day(summaries))
    records = summaries
    for rec in records:
        label, out = rec["_label"], rec["_out"]
        per_unit = rec["per_unit"] if audit.dosage_unit(rec["serving_unit"]) else None
        _check_fill(rec, per_unit, out)
        _check_name(label, rec["forms"], rec["mg_per_serving"], (rec["mg_per_day_min"], rec["mg_per_day_max"]), per_unit, out)
        if rec["ul_mg"] and rec["mg_per_day_max"] > rec["ul_mg"]:
            out.flags.append((Flag.ABOVE_UL, f"up to {rec['mg_per_day_max']:.0f} mg/day is above the UL for supplemental "
                                             f"magnesium ({rec['ul_basis']})"))
        unique_flags = list(dict.fromkeys((str(f), r) for f, r in out.flags))
        flags.extend({"source": rec["source"], "source_id": rec["source_id"], "version_id": rec["version_id"],
                      "flag": f, "reason": r} for f, r in unique_flags)
        rec["flags"] = list(dict.fromkeys(f for f, _ in unique_flags))
    return NormalizedBatch(
        labels=_frame(label_recs, "labels"),
        ingredient_rows=_rows_frame(row_keys, all_rows),
        magnesium_facts=_frame(facts, "magnesium_facts"),
        magnesium_labels=_frame(records, "magnesium_labels"),
        label_flags=_frame(flags, "label_flags"),
        quarantine=_frame(quarantine, "quarantine"),
    )


_SERVING_FIELDS = ("serving_quantity", "units_min", "units_max", "daily_servings_min", "daily_servings_max")


def _column(records: list[dict], name: str) -> np.ndarray:
    return np.array([r[name] for r in records], dtype="float64")


def _invalid_servings(cols: dict[str, np.ndarray]) -> np.ndarray:
    """Per label, the first serving field that cannot give a per-day dose ('' when all are fine)."""
    why = np.full(len(cols["serving_quantity"]), "", dtype=object)
    with np.errstate(invalid="ignore"):
        for name in reversed(_SERVING_FIELDS):
            values = cols[name]
            limit = MAX_DAILY_SERVINGS if name.startswith("daily") else MAX_SERVING_UNITS
            why[~np.isfinite(values) | (values <= 0) | (values > limit)] = name
    return why


def _per_day(records: list[dict]) -> list[dict]:
    """Per-day range for every label at once: mg per serving x units a day / units per serving.

    Labels whose serving cannot give a dose (0, negative, NaN, inf, absurd) get NaN per-day values,
    dose_basis no_valid_serving and a quarantine row saying why (returned). No per-row try: the
    checks are column-wise (numpy), so one bad label never stops the batch."""
    if not records:
        return []
    cols = {name: _column(records, name) for name in (*_SERVING_FIELDS, "mg_per_serving")}
    why = _invalid_servings(cols)
    valid = why == ""
    ssq = np.where(valid, cols["serving_quantity"], np.nan)
    low = np.minimum(cols["units_min"], cols["units_max"])
    high = np.maximum(cols["units_min"], cols["units_max"])
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        per_unit = cols["mg_per_serving"] / ssq
        day_min = per_unit * low * np.minimum(cols["daily_servings_min"], cols["daily_servings_max"])
        day_max = per_unit * high * np.maximum(cols["daily_servings_min"], cols["daily_servings_max"])
    for i, rec in enumerate(records):
        rec.update(per_unit=per_unit[i], mg_per_day_min=day_min[i], mg_per_day_max=day_max[i])
    problems = []
    for i in np.flatnonzero(~valid).tolist():
        rec, field = records[i], str(why[i])
        rec["dose_basis"] = str(DoseBasis.NO_VALID_SERVING)
        limit = MAX_DAILY_SERVINGS if field.startswith("daily") else MAX_SERVING_UNITS
        problems.append({"source": rec["source"], "source_id": rec["source_id"], "version_id": rec["version_id"],
                         "row_id": "serving", "raw_sha256": rec["_label"].raw_sha256,
                         "row_text": f"{rec['units_min']:g}-{rec['units_max']:g} {rec['serving_unit'] or ''}".strip(),
                         "reason_code": str(Reason.INVALID_SERVING),
                         "reason": f"{field} is {rec[field]:g}: no per-day dose (must be finite, > 0 and <= {limit:g})"})
    return problems


def _check_fill(rec: dict, per_unit: float | None, out: _Outcome) -> None:
    kind = audit.dosage_unit(rec["serving_unit"])
    if per_unit is None or kind is None or np.isnan(per_unit):
        return
    fraction, basis = _best_fraction(rec["forms"])
    needed = per_unit / fraction
    capacity = audit.capacity_mg(kind)
    if needed > capacity:
        out.flags.append((Flag.IMPLAUSIBLE_FILL, f"{per_unit:.0f} mg Mg per {kind} needs at least {needed:.0f} mg of compound "
                                              f"as {basis} ({100 * fraction:.1f} % Mg); a {kind} holds about {capacity:.0f} mg"))
