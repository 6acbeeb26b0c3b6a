"""Front end: the flattened third-party DSLD corpus (ingredient-scanner JSONL) -> Label.

That format (see scrapers/bundled/dsld/SOURCES.md) keeps only the first serving size, drops
daily servings and the serving quantity each amount refers to, and moves nutrient rows such as "Magnesium" (with their `forms`) out of the
ingredient tree into `nutrient_panel`. So daily servings are unknown, and a nested compound row
whose parent went to the panel is re-attached to the panel's magnesium row.

Speed (the shared corpus is 112,539 labels, 1.3 M rows, ~88 % of the labels without a magnesium
row): ``read_flat_product`` finds the names that may name magnesium with one search per label, and
reads only those (cached per distinct name). A label without a row the interpreter reads comes back
as its labels record plus those rows (``LabelRecord``), which is all the batch keeps of it
(normalize/batch.py); the tests check that both readings give the same frames. The version id is
the hash of the whole document serialised canonically (orjson, keys sorted), so it changes when any
row does, stored or not.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

from .dsld_label import LabelFormatError, _float
from .model import Label, LabelRecord, LabelRow, ServingSize, serving_text
from .product_key import key_of
from .rowtext import IGNORED_KINDS, interpreted, naming_indices, row_kind

_SORTED = orjson.OPT_SORT_KEYS
_fallback_text = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode


def _canonical(value: dict) -> str:
    """Compact JSON, keys sorted (the row excerpts, and what the version id hashes)."""
    try:
        return orjson.dumps(value, option=_SORTED).decode()
    except orjson.JSONEncodeError:  # integers past 64 bits (read by the stdlib fallback): same text
        return _fallback_text(value)


def _rows(doc: dict, keep: set[int] | None = None) -> list[tuple]:
    """The label's rows as tuples in ``LabelRow`` field order (row_id, name, depth, parent_id,
    category, forms, amount, unit, operator, percent_dv, dv_group, serving_order, serving_quantity,
    section, text); with ``keep``, only the rows at those positions (panel, ingredients, others)."""
    rows: list[tuple] = []
    panel_magnesium: str | None = None
    panel = doc.get("nutrient_panel") or []
    ingredients = doc.get("ingredients") or []
    for i, n in enumerate(panel, start=1):
        name = n.get("name") or ""
        row_id = f"panel.{i}"
        if panel_magnesium is None and interpreted(name) and row_kind(name) == "elemental":
            panel_magnesium = row_id
        if keep is not None and i - 1 not in keep:
            continue
        rows.append((row_id, name, 0, None, "nutrient", (), _float(n.get("quantity")), n.get("unit"), None,
                     _float(n.get("percent_dv")), None, 1, None, "active", _canonical(n)))
    stack: list[tuple[int, str, str]] = []  # (depth, row_id, name) of open ancestors
    for i, ing in enumerate(ingredients, start=1):
        depth = int(ing.get("depth") or 0)
        name = ing.get("name") or ""
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1] if stack and stack[-1][0] == depth - 1 else None
        parent_id = parent[1] if parent else None
        if depth > 0 and panel_magnesium and row_kind(name) != "none" \
                and not (parent and row_kind(parent[2]) != "none"):
            parent_id = panel_magnesium  # its real parent was moved to the nutrient panel
        row_id = f"ing.{i}"
        stack.append((depth, row_id, name))
        if keep is not None and len(panel) + i - 1 not in keep:
            continue
        rows.append((row_id, name, depth, parent_id, ing.get("dsld_category"), (), _float(ing.get("quantity")),
                     ing.get("unit"), None, _float(ing.get("percent_dv")), None, 1, None, "active", _canonical(ing)))
    rows.extend((f"other.{i}", o.get("name") or "", 0, None, o.get("dsld_category"), (), None, None, None, None,
                 None, None, None, "other", _canonical(o))
                for i, o in enumerate(doc.get("other_ingredients") or [], start=1)
                if keep is None or len(panel) + len(ingredients) + i - 1 in keep)
    return rows


def _fields(doc: dict, raw_sha256: str | None, url: str | None) -> dict:
    """What both readings take from the document besides its rows (Label field names)."""
    serving = doc.get("serving") or {}
    off = doc.get("off_market")
    return {"source_id": str(doc["dsld_id"]), "brand": doc.get("brand"), "product_name": doc.get("name"),
            "raw_sha256": raw_sha256, "url": url, "upc": doc.get("upc") or None,
            "entry_date": doc.get("entry_date") or None, "dosage_form": doc.get("physical_state"),
            "target_groups": tuple(doc.get("target_groups") or ()),
            "servings_per_container": _float(serving.get("per_container")),
            "content_id": hashlib.sha256(_canonical(doc).encode()).hexdigest()[:20],  # the version id
            "serving": serving, "off_market": bool(off) if isinstance(off, (bool, int)) else None}


def _label(f: dict, rows: tuple[LabelRow, ...]) -> Label:
    serving, off_market = f.pop("serving"), f.pop("off_market")
    qty = _float(serving.get("quantity"))
    return Label(
        source="dsld", rows=rows, daily_servings_known=False,
        servings=(ServingSize(order=1, min_quantity=qty, max_quantity=_float(serving.get("max_quantity")) or qty,
                              unit=serving.get("unit") or "", min_daily_servings=None, max_daily_servings=None,
                              notes=serving.get("note") or ""),) if serving else (),
        extra={"format": "ingredient-scanner", "off_market": off_market}, **f)


def _record(f: dict, rows: list[tuple]) -> LabelRecord:
    """The labels row ``normalize_labels`` makes of ``_label(f, rows)``, without the Label."""
    serving, off_market = f["serving"], f["off_market"]
    return LabelRecord({
        "source": "dsld", "source_id": f["source_id"], "version_id": f["content_id"], "raw_sha256": f["raw_sha256"],
        "url": f["url"], "brand": f["brand"], "product_name": f["product_name"], "upc": f["upc"],
        "entry_date": f["entry_date"], "dosage_form": f["dosage_form"], "target_groups": list(f["target_groups"]),
        "serving": serving_text(_float(serving.get("quantity")), serving.get("unit") or "") if serving else None,
        "servings_per_container": f["servings_per_container"], "price": None, "currency": None,
        "product_key": key_of("dsld", f["source_id"], f["brand"], f["upc"], f["product_name"]),
        "on_market": None if off_market is None else not off_market}, tuple(rows))


def _checked(doc: Any) -> dict:
    if not isinstance(doc, dict) or "dsld_id" not in doc:
        raise LabelFormatError("not an ingredient-scanner product: expected an object with 'dsld_id'")
    return doc


def parse_flat_product(doc: Any, *, raw_sha256: str | None = None, url: str | None = None) -> Label:
    """The label with every row."""
    doc = _checked(doc)
    return _label(_fields(doc, raw_sha256, url), tuple(LabelRow(*row) for row in _rows(doc)))


def read_flat_product(doc: Any, *, raw_sha256: str | None = None, url: str | None = None) -> Label | LabelRecord:
    """``parse_flat_product`` for the ingest: a label without a row the interpreter reads comes
    back as its labels record with only the rows that may name magnesium (normalize_labels keeps
    no others of such a label), so the batch is the same either way."""
    doc = _checked(doc)
    names = [n.get("name") or "" for key in ("nutrient_panel", "ingredients") for n in doc.get(key) or ()]
    active = len(names)
    names += [o.get("name") or "" for o in doc.get("other_ingredients") or ()]
    hits = naming_indices(names)
    if any(i < active and row_kind(names[i]) not in IGNORED_KINDS for i in hits):
        return _label(_fields(doc, raw_sha256, url), tuple(LabelRow(*row) for row in _rows(doc)))
    return _record(_fields(doc, raw_sha256, url), _rows(doc, keep=hits) if hits else [])
