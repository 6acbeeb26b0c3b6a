"""The market-wide corpus: the panel's elemental mg for labels with one Magnesium row, nothing for
labels without magnesium. The bundled corpus is always tested; the shared 112,539-label corpus
when ../shared is present (skipped with a reason otherwise)."""
from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest
from maglabels.normalize.batch import normalize_labels
from maglabels.normalize.flat_dsld import parse_flat_product

from tests.realdata import FLAT_CORPUS

SHARED = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "dsld" / "derived" / \
    "ingredient_scanner_products.jsonl.gz"
# Panel units and their factor to mg, written out so the arithmetic is the test's own.
TO_MG = {"mg": 1.0, "milligram(s)": 1.0, "g": 1000.0, "gram(s)": 1000.0, "mcg": 0.001, "microgram(s)": 0.001}


def _magnesium_rows(doc: dict) -> list[dict]:
    return [r for r in doc.get("nutrient_panel") or [] if (r.get("name") or "").strip().lower() == "magnesium"]


def _sample(path: Path, every: int) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for i, line in enumerate(fh) if i % every == 0]


def _check_panel_amounts(docs: list[dict]) -> dict[str, int]:
    """Every label with one Magnesium row in a mass unit: mg_per_serving = quantity x factor, unless the
    label's own %DV shows the amount is compound mass (flag compound_as_elemental) or grams that are
    milligrams (flag gram_as_milligram: quantity read as mg); the reasons are stored."""
    batch = normalize_labels([parse_flat_product(d) for d in docs])
    summary = batch.magnesium_labels.set_index("source_id")
    flags = batch.label_flags.groupby("source_id")["flag"].apply(set).to_dict()
    quarantined = set(batch.quarantine.source_id)
    seen = {"checked": 0, "compound_as_elemental": 0, "gram_as_milligram": 0, "not_declared": 0}
    for doc in docs:
        rows, sid = _magnesium_rows(doc), str(doc["dsld_id"])
        if len(rows) != 1:
            continue
        quantity, unit = rows[0].get("quantity"), (rows[0].get("unit") or "").lower()
        if unit in TO_MG and quantity and quantity > 0:
            got = summary.loc[sid, "mg_per_serving"]
            if "compound_as_elemental" in flags.get(sid, set()):
                seen["compound_as_elemental"] += 1
                continue
            if "gram_as_milligram" in flags.get(sid, set()):  # the %DV shows the grams are milligrams
                assert TO_MG[unit] == 1000 and got == pytest.approx(quantity, rel=1e-9), (sid, quantity, unit)
                seen["gram_as_milligram"] += 1
                continue
            assert got == pytest.approx(quantity * TO_MG[unit], rel=1e-9), (sid, quantity, unit)
            seen["checked"] += 1
        elif unit == "np" and sid in summary.index and math.isnan(summary.loc[sid, "mg_per_serving"]):
            assert sid in quarantined  # not declared: a quarantine row, never a number
            seen["not_declared"] += 1
    return seen


def test_bundled_corpus_is_the_magnesium_selection():
    docs = _sample(FLAT_CORPUS, 1)
    assert len(docs) == 12410
    assert all(_magnesium_rows(d) for d in docs)
    assert len({d["dsld_id"] for d in docs}) == 12410


def test_bundled_sample_gives_the_panels_elemental_mg():
    seen = _check_panel_amounts(_sample(FLAT_CORPUS, 20))  # 621 real labels
    assert seen["checked"] >= 580 and seen["not_declared"] >= 10
    assert seen["compound_as_elemental"] <= 2


@pytest.mark.skipif(not SHARED.exists(), reason=f"shared corpus not present at {SHARED} (fresh clone)")
def test_shared_corpus_magnesium_and_its_absence():
    docs = _sample(SHARED, 10)  # 11,254 of the 112,539 labels, deterministic
    with_mg = [d for d in docs if _magnesium_rows(d)]
    without = [d for d in docs if not _magnesium_rows(d)]
    assert len(docs) == 11254 and len(with_mg) == 1207
    seen = _check_panel_amounts(with_mg)
    assert seen["checked"] >= 1150
    batch = normalize_labels([parse_flat_product(d) for d in without])
    facts = batch.magnesium_facts
    counted = facts[facts["counted"].astype(bool)]
    # Labels without a Magnesium panel row: no counted magnesium except where an active ingredient
    # row itself names a magnesium source (a compound row such as "Magnesium Citrate 100 mg").
    named = {str(d["dsld_id"]) for d in without
             if any("magnes" in (i.get("name") or "").lower() and "stearate" not in (i.get("name") or "").lower()
                    for i in d.get("ingredients") or [])}
    assert set(counted.source_id) <= named
    assert len(batch.labels) == len(without) == 10047
    assert len(set(batch.magnesium_labels.source_id)) <= len(named)
