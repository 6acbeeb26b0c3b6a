"""Front end: one DSLD API v9 label document (`GET /dsld/v9/label/{id}`) -> Label.

Any JSON value may arrive here: fields of the wrong type are read as absent, and the ingredient
tree is walked with an explicit stack down to `limits.MAX_ROW_DEPTH` (deeper rows are counted in
`extra["too_deep"]` and quarantined by the batch), so no document can exhaust the call stack.
"""
from __future__ import annotations

import json
import math
from typing import Any

from .limits import MAX_ROW_DEPTH
from .model import Label, LabelRow, ServingSize


class LabelFormatError(ValueError):
    """The document is not a DSLD label (a specific reason, for the quarantine)."""


def _float(value: Any) -> float | None:
    if type(value) is float:  # most amounts: float(value) would return it unchanged
        return value
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value)


def _excerpt(row: dict) -> str:
    # The raw row minus its children, so each fact points at the exact JSON it came from.
    try:
        return json.dumps({k: v for k, v in row.items() if k != "nestedRows"}, ensure_ascii=False, sort_keys=True,
                          default=str)
    except (RecursionError, ValueError, TypeError):
        return "<row not representable as JSON>"


def _forms(row: dict) -> tuple[str, ...]:
    return tuple(str(f["name"]) for f in _list(row.get("forms")) if isinstance(f, dict) and _str(f.get("name")))


def _primary_quantity(quantities: list) -> dict:
    """The quantity entry for the first serving size that has one (labels may list adult/child)."""
    entries = [q for q in quantities if isinstance(q, dict)]
    if not entries:
        return {}
    return min(entries, key=lambda q: _float(q.get("servingSizeOrder")) or 0.0)


def _row(row: dict, row_id: str, parent: str | None, depth: int) -> LabelRow:
    q = _primary_quantity(_list(row.get("quantity")))
    dv = [d for d in _list(q.get("dailyValueTargetGroup")) if isinstance(d, dict)]
    order = _float(q.get("servingSizeOrder"))
    return LabelRow(
        row_id=row_id, name=(_str(row.get("name")) or "").strip(), depth=depth, parent_id=parent,
        category=_str(row.get("category")), forms=_forms(row), amount=_float(q.get("quantity")),
        unit=_str(q.get("unit")), operator=_str(q.get("operator")),
        percent_dv=_float(dv[0].get("percent")) if dv else None, dv_group=_str(dv[0].get("name")) if dv else None,
        serving_order=int(order) if order is not None and math.isfinite(order) else None,
        serving_quantity=_float(q.get("servingSizeQuantity")), text=_excerpt(row),
    )


def _rows(top: list) -> tuple[list[LabelRow], list[str]]:
    """Pre-order walk of the ingredient tree; returns rows and the ids of rows cut at the depth cap."""
    out: list[LabelRow] = []
    too_deep: list[str] = []
    # stack of (rows, next index, parent id, depth); iterative so depth cannot overflow the stack
    stack: list[tuple[list, int, str | None, int]] = [(top, 0, None, 0)]
    while stack:
        rows, index, parent, depth = stack.pop()
        if index >= len(rows):
            continue
        stack.append((rows, index + 1, parent, depth))
        row = rows[index]
        if not isinstance(row, dict):
            continue
        row_id = f"{parent}.{index + 1}" if parent else str(index + 1)
        out.append(_row(row, row_id, parent, depth))
        children = _list(row.get("nestedRows"))
        if children and depth + 1 > MAX_ROW_DEPTH:
            too_deep.append(row_id)
        elif children:
            stack.append((children, 0, row_id, depth + 1))
    return out, too_deep


def _servings(doc: dict) -> tuple[ServingSize, ...]:
    out = []
    for i, s in enumerate(_list(doc.get("servingSizes")), start=1):
        if not isinstance(s, dict):
            continue
        order = _float(s.get("order"))
        out.append(ServingSize(
            order=int(order) if order is not None and math.isfinite(order) and order else i,
            min_quantity=_float(s.get("minQuantity")), max_quantity=_float(s.get("maxQuantity")),
            unit=_str(s.get("unit")) or "", min_daily_servings=_float(s.get("minDailyServings")),
            max_daily_servings=_float(s.get("maxDailyServings")), notes=_str(s.get("notes")) or "",
        ))
    return tuple(out)


def _related_ids(doc: dict) -> tuple[str, ...]:
    """DSLD ids of other versions of the same product (labelRelationships '... same product')."""
    return tuple(str(r["labelId"]) for r in _list(doc.get("labelRelationships"))
                 if isinstance(r, dict) and "same product" in (_str(r.get("type")) or "").lower()
                 and _str(r.get("labelId")) is not None)


def _other_rows(doc: dict) -> list[LabelRow]:
    other = [o for o in _list(_dict(doc.get("otheringredients")).get("ingredients")) if isinstance(o, dict)]
    return [LabelRow(row_id=f"other.{i}", name=(_str(o.get("name")) or "").strip(), category=_str(o.get("category")),
                     forms=_forms(o), section="other", text=_excerpt(o))
            for i, o in enumerate(other, start=1)]


def parse_label(doc: Any, *, raw_sha256: str | None = None, url: str | None = None) -> Label:
    if not isinstance(doc, dict) or "id" not in doc or "ingredientRows" not in doc:
        raise LabelFormatError("not a DSLD label: expected an object with 'id' and 'ingredientRows'")
    if _str(doc["id"]) is None:
        raise LabelFormatError(f"not a DSLD label: 'id' is a {type(doc['id']).__name__}")
    rows, too_deep = _rows(_list(doc.get("ingredientRows")))
    rows.extend(_other_rows(doc))
    groups = [_str(g.get("dailyValueTargetGroupName")) for g in _list(doc.get("userGroups")) if isinstance(g, dict)]
    targets = [_str(g) for g in _list(doc.get("targetGroups"))]
    off = doc.get("offMarket")
    extra: dict[str, Any] = {"related_ids": _related_ids(doc),
                             "off_market": bool(off) if isinstance(off, (bool, int, float)) else None}
    if too_deep:
        extra["too_deep"] = tuple(too_deep)
    return Label(
        source="dsld", source_id=str(doc["id"]), brand=_str(doc.get("brandName")),
        product_name=_str(doc.get("fullName")), rows=tuple(rows), servings=_servings(doc),
        raw_sha256=raw_sha256, url=url, upc=_str(doc.get("upcSku")) or None,
        entry_date=_str(doc.get("entryDate")) or None,
        dosage_form=_str(_dict(doc.get("physicalState")).get("langualCodeDescription")),
        target_groups=tuple(g for g in groups + targets if g),
        servings_per_container=_float(doc.get("servingsPerContainer")),
        extra=extra,
    )
