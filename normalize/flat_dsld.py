"""Front end: the flattened third-party DSLD corpus (ingredient-scanner JSONL) -> Label.

That format (see scrapers/bundled/dsld/SOURCES.md) keeps only the first serving size, drops
daily servings and the serving quantity each amount refers to, and moves nutrient rows such as "Magnesium" (with their `forms`) out of the
ingredient tree into `nutrient_panel`. So daily servings are unknown, and a nested compound row
whose parent went to the panel is re-attached to the panel's magnesium row.
"""
from __future__ import annotations

import json
from typing import Any

from .dsld_label import LabelFormatError, _float
from .model import Label, LabelRow, ServingSize
from .rowtext import read_row

# one encoder for every row: json.dumps with arguments builds a new JSONEncoder per call (same output)
_row_text = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


def _is_magnesium(name: str) -> bool:
    return read_row(name).kind != "none"


def parse_flat_product(doc: Any, *, raw_sha256: str | None = None, url: str | None = None) -> Label:
    if not isinstance(doc, dict) or "dsld_id" not in doc:
        raise LabelFormatError("not an ingredient-scanner product: expected an object with 'dsld_id'")
    serving = doc.get("serving") or {}
    qty = _float(serving.get("quantity"))
    rows: list[LabelRow] = []
    panel_magnesium: str | None = None
    for i, n in enumerate(doc.get("nutrient_panel") or [], start=1):
        row_id = f"panel.{i}"
        if panel_magnesium is None and read_row(n.get("name") or "").kind == "elemental":
            panel_magnesium = row_id
        rows.append(LabelRow(row_id=row_id, name=n.get("name") or "", category="nutrient",
                             amount=_float(n.get("quantity")), unit=n.get("unit"),
                             percent_dv=_float(n.get("percent_dv")), serving_order=1,
                             text=_row_text(n)))
    stack: list[tuple[int, str, str]] = []  # (depth, row_id, name) of open ancestors
    for i, ing in enumerate(doc.get("ingredients") or [], start=1):
        depth = int(ing.get("depth") or 0)
        name = ing.get("name") or ""
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1] if stack and stack[-1][0] == depth - 1 else None
        parent_id = parent[1] if parent else None
        if depth > 0 and panel_magnesium and _is_magnesium(name) and not (parent and _is_magnesium(parent[2])):
            parent_id = panel_magnesium  # its real parent was moved to the nutrient panel
        row_id = f"ing.{i}"
        rows.append(LabelRow(row_id=row_id, name=name, depth=depth, parent_id=parent_id,
                             category=ing.get("dsld_category"), amount=_float(ing.get("quantity")),
                             unit=ing.get("unit"), percent_dv=_float(ing.get("percent_dv")),
                             serving_order=1,
                             text=_row_text(ing)))
        stack.append((depth, row_id, name))
    rows.extend(LabelRow(row_id=f"other.{i}", name=o.get("name") or "", category=o.get("dsld_category"),
                         section="other", text=_row_text(o))
                for i, o in enumerate(doc.get("other_ingredients") or [], start=1))
    return Label(
        source="dsld",
        source_id=str(doc["dsld_id"]),
        brand=doc.get("brand"),
        product_name=doc.get("name"),
        rows=tuple(rows),
        servings=(ServingSize(order=1, min_quantity=qty, max_quantity=_float(serving.get("max_quantity")) or qty,
                              unit=serving.get("unit") or "", min_daily_servings=None, max_daily_servings=None,
                              notes=serving.get("note") or ""),) if serving else (),
        raw_sha256=raw_sha256,
        url=url,
        upc=doc.get("upc") or None,
        entry_date=doc.get("entry_date") or None,
        dosage_form=doc.get("physical_state"),
        target_groups=tuple(doc.get("target_groups") or ()),
        servings_per_container=_float(serving.get("per_container")),
        daily_servings_known=False,
        extra={"format": "ingredient-scanner",
               "off_market": bool(doc["off_market"]) if isinstance(doc.get("off_market"), (bool, int)) else None},
    )
