"""Front end: one DSLD API v9 label document (`GET /dsld/v9/label/{id}`) -> Label."""
from __future__ import annotations

import json
from typing import Any

from .model import Label, LabelRow, ServingSize


class LabelFormatError(ValueError):
    """The document is not a DSLD label (a specific reason, for the quarantine)."""


def _float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _excerpt(row: dict) -> str:
    # The raw row minus its children, so each fact points at the exact JSON it came from.
    return json.dumps({k: v for k, v in row.items() if k != "nestedRows"}, ensure_ascii=False, sort_keys=True)


def _primary_quantity(quantities: list[dict]) -> dict | None:
    """The quantity entry for the first serving size that has one (labels may list adult/child)."""
    entries = [q for q in quantities or [] if isinstance(q, dict)]
    if not entries:
        return None
    return min(entries, key=lambda q: q.get("servingSizeOrder") or 0)


def _rows(rows: list[dict], parent: str | None, depth: int, out: list[LabelRow]) -> None:
    for index, row in enumerate(rows or [], start=1):
        row_id = f"{parent}.{index}" if parent else str(index)
        q = _primary_quantity(row.get("quantity") or [])
        dv = (q or {}).get("dailyValueTargetGroup") or []
        out.append(
            LabelRow(
                row_id=row_id,
                name=(row.get("name") or "").strip(),
                depth=depth,
                parent_id=parent,
                category=row.get("category"),
                forms=tuple(f["name"] for f in row.get("forms") or [] if f.get("name")),
                amount=_float((q or {}).get("quantity")),
                unit=(q or {}).get("unit"),
                operator=(q or {}).get("operator"),
                percent_dv=_float(dv[0].get("percent")) if dv else None,
                dv_group=dv[0].get("name") if dv else None,
                serving_order=(q or {}).get("servingSizeOrder"),
                serving_quantity=_float((q or {}).get("servingSizeQuantity")),
                text=_excerpt(row),
            )
        )
        _rows(row.get("nestedRows") or [], row_id, depth + 1, out)


def _servings(doc: dict) -> tuple[ServingSize, ...]:
    return tuple(
        ServingSize(
            order=int(s.get("order") or i),
            min_quantity=_float(s.get("minQuantity")),
            max_quantity=_float(s.get("maxQuantity")),
            unit=s.get("unit") or "",
            min_daily_servings=_float(s.get("minDailyServings")),
            max_daily_servings=_float(s.get("maxDailyServings")),
            notes=s.get("notes") or "",
        )
        for i, s in enumerate(doc.get("servingSizes") or [], start=1)
    )


def parse_label(doc: Any, *, raw_sha256: str | None = None, url: str | None = None) -> Label:
    if not isinstance(doc, dict) or "id" not in doc or "ingredientRows" not in doc:
        raise LabelFormatError("not a DSLD label: expected an object with 'id' and 'ingredientRows'")
    rows: list[LabelRow] = []
    _rows(doc.get("ingredientRows") or [], None, 0, rows)
    other = (doc.get("otheringredients") or {}).get("ingredients") or []
    rows.extend(
        LabelRow(row_id=f"other.{i}", name=(o.get("name") or "").strip(), category=o.get("category"),
                 forms=tuple(f["name"] for f in o.get("forms") or [] if f.get("name")), section="other",
                 text=_excerpt(o))
        for i, o in enumerate(other, start=1)
    )
    groups = [g.get("dailyValueTargetGroupName") for g in doc.get("userGroups") or [] if isinstance(g, dict)]
    return Label(
        source="dsld",
        source_id=str(doc["id"]),
        brand=doc.get("brandName"),
        product_name=doc.get("fullName"),
        rows=tuple(rows),
        servings=_servings(doc),
        raw_sha256=raw_sha256,
        url=url,
        upc=doc.get("upcSku") or None,
        entry_date=doc.get("entryDate") or None,
        dosage_form=(doc.get("physicalState") or {}).get("langualCodeDescription"),
        target_groups=tuple(g for g in groups + list(doc.get("targetGroups") or []) if g),
        servings_per_container=_float(doc.get("servingsPerContainer")),
    )
