"""Front end: the flattened third-party DSLD corpus (ingredient-scanner JSONL) -> Label.

That format (see scrapers/bundled/dsld/SOURCES.md) keeps only the first serving size, drops
daily servings and the serving quantity each amount refers to, and moves nutrient rows such as "Magnesium" (with their `forms`) out of the
ingredient tree into `nutrient_panel`. So daily servings are unknown, and a nested compound row
whose parent went to the panel is re-attached to the panel's magnesium row.

Speed (the shared corpus is 112,539 labels, 1.3 M rows, ~88 % of the labels without a magnesium
row): ``read_flat_product`` finds the names that may name magnesium with one search per label, and
reads only those (cached per distinct name). A label without a row the interpreter reads comes back
as its labels record plus the rows among those that name magnesium (``LabelRecord``), which is all
the batch keeps of it (normalize/batch.py); the tests check that both readings give the same
frames. Rows are LabelRow objects built without the dataclass __init__ (``_label_row``). The version id is
the hash of the whole document serialised canonically (orjson, keys sorted), so it changes when any
row does, stored or not.
"""
from __future__ import annotations

import hashlib
import json
import operator
from dataclasses import fields
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


_row_values = operator.attrgetter(*(f.name for f in fields(LabelRow)))  # a LabelRecord's row tuples


def _label_row(values: dict) -> LabelRow:
    """``LabelRow(**values)`` at half the cost: a frozen dataclass's __init__ sets each of the 15
    fields through object.__setattr__, the slowest step of reading a magnesium label. The object is
    the same (``values`` name every field in order; LabelRow has no __post_init__ and no slots: the
    tests check)."""
    row = object.__new__(LabelRow)
    row.__dict__.update(values)
    return row


def _panel_row(i: int, n: dict, name: str) -> LabelRow:
    return _label_row({
        "row_id": f"panel.{i}", "name": name, "depth": 0, "parent_id": None, "category": "nutrient", "forms": (),
        "amount": _float(n.get("quantity")), "unit": n.get("unit"), "operator": None,
        "percent_dv": _float(n.get("percent_dv")), "dv_group": None, "serving_order": 1, "serving_quantity": None,
        "section": "active", "text": _canonical(n)})


def _ingredient_row(i: int, ing: dict, name: str, depth: int, parent_id: str | None) -> LabelRow:
    return _label_row({
        "row_id": f"ing.{i}", "name": name, "depth": depth, "parent_id": parent_id, "category": ing.get("dsld_category"),
        "forms": (), "amount": _float(ing.get("quantity")), "unit": ing.get("unit"), "operator": None,
        "percent_dv": _float(ing.get("percent_dv")), "dv_group": None, "serving_order": 1, "serving_quantity": None,
        "section": "active", "text": _canonical(ing)})


def _other_row(i: int, o: dict) -> LabelRow:
    return _label_row({
        "row_id": f"other.{i}", "name": o.get("name") or "", "depth": 0, "parent_id": None,
        "category": o.get("dsld_category"), "forms": (), "amount": None, "unit": None, "operator": None,
        "percent_dv": None, "dv_group": None, "serving_order": None, "serving_quantity": None, "section": "other",
        "text": _canonical(o)})


def _depths(ingredients: list) -> list[int]:
    return [int(ing.get("depth") or 0) for ing in ingredients]


def _rows(doc: dict) -> list[LabelRow]:
    """Every row of the label (panel, ingredients, others)."""
    rows: list[LabelRow] = []
    panel_magnesium: str | None = None
    for i, n in enumerate(doc.get("nutrient_panel") or [], start=1):
        name = n.get("name") or ""
        if panel_magnesium is None and interpreted(name) and row_kind(name) == "elemental":
            panel_magnesium = f"panel.{i}"
        rows.append(_panel_row(i, n, name))
    ingredients = doc.get("ingredients") or []
    stack: list[tuple[int, str, str]] = []  # (depth, row_id, name) of open ancestors
    for i, (ing, depth) in enumerate(zip(ingredients, _depths(ingredients), strict=True), start=1):
        name = ing.get("name") or ""
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1] if stack and stack[-1][0] == depth - 1 else None
        parent_id = parent[1] if parent else None
        if depth > 0 and panel_magnesium and row_kind(name) != "none" \
                and not (parent and row_kind(parent[2]) != "none"):
            parent_id = panel_magnesium  # its real parent was moved to the nutrient panel
        stack.append((depth, f"ing.{i}", name))
        rows.append(_ingredient_row(i, ing, name, depth, parent_id))
    rows.extend(_other_row(i, o) for i, o in enumerate(doc.get("other_ingredients") or [], start=1))
    return rows


def _kept_rows(doc: dict, keep: set[int]) -> list[LabelRow]:
    """``_rows(doc)`` at the positions ``keep``, for a label without a row the interpreter reads:
    then no panel row is elemental magnesium, so a row's parent is its nearest preceding row of
    lower depth when that is one level up (what the walk's stack gives), found without the walk."""
    panel = doc.get("nutrient_panel") or []
    ingredients = doc.get("ingredients") or []
    others = doc.get("other_ingredients") or []
    depths = _depths(ingredients)  # every depth, as the walk reads them (a bad one fails the same)
    rows: list[LabelRow] = []
    for at in sorted(keep):
        if at < len(panel):
            rows.append(_panel_row(at + 1, panel[at], panel[at].get("name") or ""))
        elif at < len(panel) + len(ingredients):
            i = at - len(panel)
            depth = depths[i]
            above = next((j for j in range(i - 1, -1, -1) if depths[j] < depth), None)
            parent_id = f"ing.{above + 1}" if above is not None and depths[above] == depth - 1 else None
            rows.append(_ingredient_row(i + 1, ingredients[i], ingredients[i].get("name") or "", depth, parent_id))
        else:
            i = at - len(panel) - len(ingredients)
            rows.append(_other_row(i + 1, others[i]))
    return rows


def _version_id(doc: dict) -> str:
    return hashlib.sha256(_canonical(doc).encode()).hexdigest()[:20]


def _off_market(doc: dict) -> bool | None:
    off = doc.get("off_market")
    return bool(off) if isinstance(off, (bool, int)) else None


def _label(doc: dict, vid: str, raw_sha256: str | None, url: str | None, rows: tuple[LabelRow, ...]) -> Label:
    serving = doc.get("serving") or {}
    return Label(
        source="dsld", source_id=str(doc["dsld_id"]), brand=doc.get("brand"), product_name=doc.get("name"),
        raw_sha256=raw_sha256, url=url, upc=doc.get("upc") or None, entry_date=doc.get("entry_date") or None,
        dosage_form=doc.get("physical_state"), target_groups=tuple(doc.get("target_groups") or ()),
        servings_per_container=_float(serving.get("per_container")), content_id=vid,
        rows=rows, daily_servings_known=False, servings=_servings(serving),
        extra={"format": "ingredient-scanner", "off_market": _off_market(doc)})


def _servings(serving: dict) -> tuple[ServingSize, ...]:
    """The one serving size the format keeps (none without a serving)."""
    if not serving:
        return ()
    qty = _float(serving.get("quantity"))
    return (ServingSize(order=1, min_quantity=qty, max_quantity=_float(serving.get("max_quantity")) or qty,
                        unit=serving.get("unit") or "", min_daily_servings=None, max_daily_servings=None,
                        notes=serving.get("note") or ""),)


def _record(doc: dict, vid: str, raw_sha256: str | None, url: str | None, rows: list[LabelRow]) -> LabelRecord:
    """The labels row ``normalize_labels`` makes of ``_label(doc, ...)``, without the Label."""
    serving = doc.get("serving") or {}
    source_id, brand, product_name, upc = str(doc["dsld_id"]), doc.get("brand"), doc.get("name"), doc.get("upc") or None
    off_market = _off_market(doc)
    return LabelRecord({
        "source": "dsld", "source_id": source_id, "version_id": vid, "raw_sha256": raw_sha256,
        "url": url, "brand": brand, "product_name": product_name, "upc": upc,
        "entry_date": doc.get("entry_date") or None, "dosage_form": doc.get("physical_state"),
        "target_groups": list(doc.get("target_groups") or ()),
        "serving": serving_text(_float(serving.get("quantity")), serving.get("unit") or "") if serving else None,
        "servings_per_container": _float(serving.get("per_container")), "price": None, "currency": None,
        "product_key": key_of("dsld", source_id, brand, upc, product_name),
        "on_market": None if off_market is None else not off_market}, tuple(map(_row_values, rows)))


def _checked(doc: Any) -> dict:
    if not isinstance(doc, dict) or "dsld_id" not in doc:
        raise LabelFormatError("not an ingredient-scanner product: expected an object with 'dsld_id'")
    return doc


def parse_flat_product(doc: Any, *, raw_sha256: str | None = None, url: str | None = None) -> Label:
    """The label with every row."""
    doc = _checked(doc)
    return _label(doc, _version_id(doc), raw_sha256, url, tuple(_rows(doc)))


def read_flat_product(doc: Any, *, raw_sha256: str | None = None, url: str | None = None) -> Label | LabelRecord:
    """``parse_flat_product`` for the ingest: a label without a row the interpreter reads comes
    back as its labels record with only the rows that name magnesium (all normalize_labels keeps
    of such a label), so the batch is the same either way."""
    doc = _checked(doc)
    names = [n.get("name") or "" for key in ("nutrient_panel", "ingredients") for n in doc.get(key) or ()]
    active = len(names)
    names += [o.get("name") or "" for o in doc.get("other_ingredients") or ()]
    hits = naming_indices(names)
    vid = _version_id(doc)
    if not hits:  # most labels: no name can name magnesium
        return _record(doc, vid, raw_sha256, url, [])
    kinds = {i: row_kind(names[i]) for i in hits}  # flat rows have no forms
    if any(i < active and kind not in IGNORED_KINDS for i, kind in kinds.items()):
        return _label(doc, vid, raw_sha256, url, tuple(_rows(doc)))
    keep = {i for i, kind in kinds.items() if kind != "none"}  # names_magnesium(name)
    return _record(doc, vid, raw_sha256, url, _kept_rows(doc, keep) if keep else [])
