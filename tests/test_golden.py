"""Golden cases as data: every ``tests/golden/<source>/<case>/`` runs through its front end.

A case folder holds its input (``page.html.gz`` for a product page, ``label.json`` for a DSLD
v9 label, or a path in ``case.json``), an optional ``case.json`` (``url``: where the page was
fetched; ``saved``: it came from a file; ``input``: a shared input file), and ``expected.json``:
what the front end produces (the `Label` as JSON, the page extraction, and the magnesium
summary the normaliser derives from that one label). One generic test compares them.

After a deliberate change, regenerate and read the diff (see tests/golden/README.md)::

    python -m tests.test_golden --update            # every case
    python -m tests.test_golden --update dsld/49495 # some cases
    git diff tests/golden

The real iHerb pages also have a ``hand-checked.json``, written by reading the HTML by hand (not
by dumping the parser); it is never regenerated and is checked separately below.
"""
from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from maglabels.normalize.batch import normalize_labels
from maglabels.normalize.dsld_label import parse_label
from maglabels.normalize.html import parse_page
from maglabels.normalize.model import Label, ServingSize

from tests.conftest import GOLDEN

INPUTS = ("page.html.gz", "label.json")


def case_dirs() -> list[Path]:
    return sorted(d for d in GOLDEN.glob("*/*") if d.is_dir() and (any((d / n).exists() for n in INPUTS) or (d / "case.json").exists()))


def _case_id(d: Path) -> str:
    return f"{d.parent.name}/{d.name}"


def _meta(d: Path) -> dict:
    p = d / "case.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}


def input_path(d: Path) -> Path:
    meta = _meta(d)
    if "input" in meta:
        return (d / meta["input"]).resolve()
    (found,) = [d / n for n in INPUTS if (d / n).exists()]
    return found


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


# --------------------------------------------------------------------------- to plain JSON


def plain(value: Any) -> Any:
    """JSON-ready: tuples/arrays -> lists, numpy scalars -> Python, NaN -> null, floats to 10 digits."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else list(value)
        return [plain(v) for v in items]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) else float(f"{value:.10g}")
    return value


_SUMMARY = ["forms", "forms_inferred", "mg_per_serving", "mg_per_day_min", "mg_per_day_max", "serving_quantity",
            "serving_unit", "daily_servings_min", "daily_servings_max", "dv_reference", "ul_mg"]
_FACTS = ["row_id", "role", "compound", "amount", "unit", "elemental_mg", "counted"]


def magnesium_summary(label: Label) -> dict:
    """What the normaliser makes of this one label (selected, stable columns)."""
    batch = normalize_labels([label])
    summary = batch.magnesium_labels
    return plain({
        "summary": summary[_SUMMARY].to_dict("records")[0] if len(summary) else None,
        "facts": batch.magnesium_facts[_FACTS].to_dict("records"),
        "flags": [[f, r] for f, r in batch.label_flags[["flag", "reason"]].itertuples(index=False)],
        "quarantine": [[r, c] for r, c in batch.quarantine[["row_id", "reason_code"]].itertuples(index=False)],
    })


def _panel(panel) -> dict | None:
    if panel is None:
        return None
    keep = ("kind", "via", "has_title", "has_header", "amount_header", "dv_header", "serving_text",
            "servings_per_container_text", "footnotes", "other_ingredients", "skipped")
    return {k: getattr(panel, k) for k in keep}


def produce(d: Path) -> dict:
    """The case's input through its front end, as the JSON document `expected.json` holds."""
    meta, path = _meta(d), input_path(d)
    raw = _read(path)
    if path.name.endswith((".html.gz", ".html")):
        ex = parse_page(raw, url=meta.get("url"), saved=bool(meta.get("saved")))
        extraction = {
            "facts_found": ex.facts_found, "reason": ex.reason, "site": ex.site, "canonical_url": ex.canonical_url,
            "suggested_use": ex.suggested_use, "daily_servings": ex.daily_servings,
            "other_ingredients": ex.other_ingredients, "panels_seen": ex.panels_seen, "notes": ex.notes,
            "flags": ex.flags, "panel": _panel(ex.panel),
        }
        identity = {k: v for k, v in dataclasses.asdict(ex.identity).items()}
        doc = {"front_end": "html", "label": ex.label, "extraction": extraction, "identity": identity}
        label = ex.label
    else:
        label = parse_label(json.loads(raw), raw_sha256=hashlib.sha256(raw).hexdigest(), url=meta.get("url"))
        doc = {"front_end": "dsld", "label": label}
    doc["magnesium"] = magnesium_summary(label)
    return plain(doc)


def _dump(doc: dict) -> str:
    return json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


# --------------------------------------------------------------------------- the generic test

CASES = case_dirs()


def test_there_are_cases_for_each_front_end():
    kinds = {input_path(d).name for d in CASES}
    assert {"page.html.gz", "label.json"} <= kinds
    assert all((d / "expected.json").exists() for d in CASES), "run: python -m tests.test_golden --update"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_golden(case: Path):
    expected = json.loads((case / "expected.json").read_text(encoding="utf-8"))
    got = produce(case)
    assert got == expected, f"{_case_id(case)} changed; if deliberate: python -m tests.test_golden --update {_case_id(case)}"


# --------------------------------------------------------------------------- inputs are the real files


def _sources_sha256(sources: Path, name_pattern: str) -> dict[str, str]:
    text = sources.read_text(encoding="utf-8")
    rx = r"^\|\s*`(" + name_pattern + r")`\s*\|.*?`([0-9a-f]{64})`\s*\|"
    return {m.group(1): m.group(2) for m in re.finditer(rx, text, re.M)}


def test_every_input_file_is_listed_with_its_sha256():
    listed = _sources_sha256(GOLDEN / "www.iherb.com" / "SOURCES.md", r"[^`]+/page\.html\.gz")
    listed |= {f"dsld/{k}": v for k, v in _sources_sha256(GOLDEN / "dsld" / "SOURCES.md", r"[^`]+/label\.json").items()}
    inputs = {p.relative_to(GOLDEN).as_posix().removeprefix("www.iherb.com/"): p
              for p in GOLDEN.glob("*/*/*") if p.name in INPUTS}
    assert sorted(listed) == sorted(inputs)
    for name, path in inputs.items():
        assert hashlib.sha256(_read(path)).hexdigest() == listed[name], name


# --------------------------------------------------------------------------- hand-checked pages

HAND = sorted(GOLDEN.glob("*/*/hand-checked.json"))


@pytest.mark.parametrize("hand", HAND, ids=lambda p: p.parent.name)
def test_hand_checked_page(hand: Path):
    exp = json.loads(hand.read_text(encoding="utf-8"))
    raw = _read(hand.parent / exp["page"])
    ex = parse_page(raw, url=exp["url"])
    label = ex.label
    assert (ex.facts_found, ex.reason, ex.site) == (exp["facts_found"], exp["reason"], exp["site"])
    assert label.raw_sha256 == exp["sha256"] == hashlib.sha256(raw).hexdigest()
    for key, want in exp["label"].items():
        assert getattr(label, key) == want, key
    for key, want in exp["identity"].items():
        assert getattr(ex.identity, key) == want, key

    s = exp["serving"]
    assert ex.panel.serving_text == s["text"]
    assert ex.panel.servings_per_container_text == exp["servings_per_container_text"]
    assert label.servings == (
        ServingSize(order=s["order"], min_quantity=s["min_quantity"], max_quantity=s["max_quantity"], unit=s["unit"],
                    min_daily_servings=s["min_daily_servings"], max_daily_servings=s["max_daily_servings"]),
    )
    assert ex.suggested_use == exp["suggested_use"]
    assert list(ex.panel.footnotes) == exp["footnotes"]

    active = [r for r in label.rows if r.section == "active"]
    assert len(active) == len(exp["rows"])
    for got, want in zip(active, exp["rows"], strict=True):
        assert (got.row_id, got.name, got.depth) == (want["row_id"], want["name"], want["depth"])
        assert (got.amount, got.unit, got.percent_dv) == (want["amount"], want["unit"], want["percent_dv"]), got.name
        assert got.parent_id is None and got.operator == "=" and got.forms == ()
        assert got.serving_order == 1 and got.serving_quantity == s["min_quantity"]
        # the row text is the row's cells as on the page
        assert got.text.startswith(want["name"].split(" (")[0])

    other = [r for r in label.rows if r.section == "other"]
    assert [r.name for r in other] == exp["other_ingredients"]
    assert [r.row_id for r in other] == [f"other.{i}" for i in range(1, len(other) + 1)]
    assert all(r.amount is None and r.unit is None for r in other)
    assert [r.name for r in active if "magnesium" in r.name.lower()] == exp["magnesium_rows"]


# --------------------------------------------------------------------------- regenerate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Regenerate tests/golden/*/*/expected.json from the current code.")
    ap.add_argument("--update", action="store_true", help="write expected.json (else: only report what differs)")
    ap.add_argument("cases", nargs="*", help="<source>/<case> to regenerate (default: all)")
    args = ap.parse_args(argv)
    chosen = [d for d in CASES if not args.cases or _case_id(d) in args.cases]
    unknown = set(args.cases) - {_case_id(d) for d in chosen}
    if unknown:
        print(f"no such case: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    changed = 0
    for d in chosen:
        text = _dump(produce(d))
        path = d / "expected.json"
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        changed += 1
        print(f"{'wrote' if args.update else 'differs'}: {path.relative_to(GOLDEN.parent.parent)}")
        if args.update:
            path.write_text(text, encoding="utf-8")
    print(f"{changed} of {len(chosen)} cases {'updated' if args.update else 'differ'}; review with: git diff tests/golden")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
