"""Bad input inside one label never stops the batch: it becomes a quarantine row with a reason
(issue 9). Faults are built FROM real labels (bundled DSLD v9 JSON and flattened corpus)."""
from __future__ import annotations

import copy
import math
from dataclasses import replace

import pytest
from maglabels.normalize.batch import normalize_labels
from maglabels.normalize.dsld_label import parse_label
from maglabels.normalize.flags import DoseBasis, Reason
from maglabels.normalize.limits import MAX_ROW_DEPTH
from maglabels.normalize.model import ServingSize

from tests.realdata import dsld_doc, flat_docs, flat_label

GOOD = ("2880", "6480")  # real corpus labels: Magnesium 100 mg per 1 capsule / per 3 tablets


def _with_serving(label, quantity):
    s = label.servings[0]
    return replace(label, source_id=f"{label.source_id}-bad", servings=(replace(s, min_quantity=quantity,
                                                                                max_quantity=quantity),))


@pytest.mark.parametrize("quantity, word", [(0.0, "0"), (-2.0, "-2"), (math.nan, "nan"), (math.inf, "inf"),
                                            (1e9, "1e+09")])
def test_bad_serving_quantity_is_quarantined_and_the_rest_goes_on(quantity, word):
    good = [flat_label(i) for i in GOOD]
    bad = _with_serving(flat_label(GOOD[0]), quantity)
    batch = normalize_labels([good[0], bad, good[1]])
    summary = batch.magnesium_labels.set_index("source_id")
    for label in good:  # the neighbours keep their numbers
        assert summary.loc[label.source_id, "mg_per_day_max"] > 0
    row = summary.loc[bad.source_id]
    assert math.isnan(row.mg_per_day_min) and math.isnan(row.mg_per_day_max)
    assert row.dose_basis == DoseBasis.NO_VALID_SERVING
    (q,) = batch.quarantine[batch.quarantine.source_id == bad.source_id].to_dict("records")
    assert q["reason_code"] == Reason.INVALID_SERVING and q["reason"].startswith(f"serving_quantity is {word}")


def test_zero_capsules_page_serving():
    # a page whose serving reads "0 Capsules": ServingSize(0, ...) as the HTML front end builds it
    label = flat_label(GOOD[0])
    page = replace(label, source="www.example.com", source_id="p1",
                   servings=(ServingSize(1, 0.0, 0.0, "Capsules", None, None),))
    batch = normalize_labels([page, flat_label(GOOD[1])])
    assert list(batch.quarantine.reason_code) == [Reason.INVALID_SERVING]
    assert batch.magnesium_labels.mg_per_day_max.notna().sum() == 1


def test_absurd_daily_servings_are_quarantined():
    doc = copy.deepcopy(dsld_doc("49495"))
    doc["servingSizes"][0]["maxDailyServings"] = 5000
    batch = normalize_labels([parse_label(doc)])
    assert batch.quarantine.reason_code.tolist() == [Reason.INVALID_SERVING]
    assert "daily_servings_max is 5000" in batch.quarantine.reason.iloc[0]


def _nest(doc: dict, depth: int) -> dict:
    """The real label with a chain of `depth` nested rows under its first ingredient row."""
    doc = copy.deepcopy(doc)
    chain: dict = {"name": "Leaf", "nestedRows": []}
    for i in range(depth):
        chain = {"name": f"Level {depth - i}", "nestedRows": [chain]}
    doc["ingredientRows"][0]["nestedRows"] = [chain]
    return doc


def test_nested_rows_thousands_deep_do_not_recurse():
    doc = _nest(dsld_doc("49495"), 5000)
    label = parse_label(doc)  # no RecursionError
    assert max(r.depth for r in label.rows) == MAX_ROW_DEPTH
    batch = normalize_labels([label])
    assert batch.quarantine.reason_code.tolist() == [Reason.TOO_DEEP]
    # the magnesium row of the real label is still read: Magnesium 50 mg (as Magnesium Oxide)
    assert batch.magnesium_labels.mg_per_serving.iloc[0] == pytest.approx(50.0)


def test_v9_label_relationships_and_market_status():
    label = parse_label(dsld_doc("49495"))
    assert label.extra["related_ids"] == ("17532", "29284", "4328")
    batch = normalize_labels([label])
    assert batch.labels.product_key.iloc[0] == "dsld:4328"  # the lowest id of the product's versions
    assert bool(batch.labels.on_market.iloc[0]) is True  # offMarket 0


def test_flat_corpus_off_market_and_upc_product_key():
    doc = flat_docs()[GOOD[0]]
    batch = normalize_labels([flat_label(GOOD[0])])
    digits = "".join(ch for ch in doc["upc"] if ch.isdigit())
    assert batch.labels.product_key.iloc[0].endswith("|" + digits)
    assert batch.labels.on_market.iloc[0] == (not doc["off_market"])


def test_grams_whose_percent_dv_fits_milligrams_are_read_as_milligrams():
    # Real DSLD entry slips: "Magnesium 190 gm, 45 % DV" in one capsule (260048) and "408 Gram(s),
    # 102 % DV" per scoop (231024). 45 % of 420 mg = 189 mg and 102 % of 400 mg = 408 mg: the %DV
    # says milligrams; read as grams they were 190,000 and 408,000 mg a day.
    # 230986 ("1.1 Gram(s), 262 % DV": 1,100 mg = 262 % of 420 mg) really is in grams: left alone.
    batch = normalize_labels([flat_label("260048"), flat_label("231024"), flat_label("230986")])
    daily = batch.magnesium_labels.set_index("source_id")
    assert daily.loc["260048", "mg_per_serving"] == 190.0
    assert daily.loc["231024", "mg_per_serving"] == 408.0
    assert daily.loc["230986", "mg_per_serving"] == 1100.0
    flagged = batch.label_flags[batch.label_flags.flag == "gram_as_milligram"]
    assert sorted(flagged.source_id) == ["231024", "260048"]
    assert "45 % DV fits 190 mg" in flagged.set_index("source_id").loc["260048", "reason"]
    counted = batch.magnesium_facts[batch.magnesium_facts.counted].set_index("source_id")
    assert "unit read as mg" in counted.loc["260048", "method"]
