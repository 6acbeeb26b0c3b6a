"""Audit flags on real products from the bundled DSLD corpus (scrapers/bundled/dsld/SOURCES.md)."""
import pytest
from maglabels.normalize.batch import normalize_labels

from tests.realdata import flat_label

CASES = ["258164", "295238", "306006", "46448", "313576", "336618", "333556", "306748", "55106",
         "273296", "323090", "269726", "186382", "328832", "262682"]


@pytest.fixture(scope="module")
def batch():
    return normalize_labels([flat_label(i) for i in CASES])


def summary(batch, dsld_id):
    return batch.magnesium_labels.set_index("source_id").loc[dsld_id]


def reasons(batch, dsld_id, flag):
    f = batch.label_flags
    return list(f[(f.source_id == dsld_id) & (f.flag == flag)].reason)


def test_dv_mismatch_when_no_reference_fits(batch):
    # Catie's Magnesium: 143 mg per 4 capsules printed as 48 % DV; 143/420 = 34 %, /400 = 36 %, /375 = 38 %.
    assert "dv_mismatch" in summary(batch, "258164")["flags"]
    assert "34 % of US DV 420 mg" in reasons(batch, "258164", "dv_mismatch")[0]


def test_compound_mass_declared_as_magnesium_is_caught_and_not_reported(batch):
    # Advanced Research Magnesium Orotate: "Magnesium 1000 mg, 15 % DV" with a nested
    # "Elemental Magnesium 63 mg": 63/420 = 15 %, so the 1000 mg is compound mass; 63 mg counts.
    row = summary(batch, "295238")
    assert row["mg_per_serving"] == pytest.approx(63.0)
    assert "compound_as_elemental" in row["flags"]
    assert "dv_mismatch" not in row["flags"]


def test_name_claim_in_compound_mass(batch):
    # Best Naturals "Magnesium Gluconate 600 mg": panel 35 mg Mg. 600 mg gluconate holds
    # 600 x 5.39-5.86 % = 32-35 mg: the name states compound mass.
    (reason,) = reasons(batch, "306006", "name_claim_mismatch")
    assert "supports the compound reading" in reason
    # Foods Plus "Magnesium Oxide 400 mg": 480 mg per 2 tablets = 240 per tablet = 400 x 60.3 %.
    (reason,) = reasons(batch, "46448", "name_claim_mismatch")
    assert "per unit" in reason and "compound reading" in reason


def test_form_inferred_from_product_name(batch):
    row = summary(batch, "306006")
    assert list(row["forms"]) == ["magnesium gluconate"] and row["forms_inferred"]


def test_implausible_fill(batch):
    # NOW Magnesium Citrate: 400 mg Mg in 1 capsule needs >= 400/0.1616 = 2,475 mg of citrate (size 000: ~1.4 g).
    (reason,) = reasons(batch, "313576", "implausible_fill")
    assert "2475 mg" in reason


def test_buffered_glycinate(batch):
    # Healthy Gut Magnesium-HP: 180 mg Mg from 900 mg glycinate = 20 %, above glycinate's 14.1 %.
    assert "buffered_blend" in summary(batch, "336618")["flags"]
    # "Magnesium Bisglycinate, Buffered" with only a compound mass cannot be converted.
    q = batch.quarantine[batch.quarantine.source_id == "323090"]
    assert "buffered_blend" in set(q.reason_code)


def test_consistent_nested_compound_is_a_cross_check_not_an_addition(batch):
    # Windmill Magnesium Gluconate 500 mg: Magnesium 27 mg with nested gluconate 500 mg;
    # 500 x 5.39 % (dihydrate) = 27 mg: consistent, and 27 (not 27 + 500) is reported.
    row = summary(batch, "333556")
    assert row["mg_per_serving"] == pytest.approx(27.0)
    assert not {"cross_check_mismatch", "buffered_blend", "compound_as_elemental"} & set(row["flags"])
    facts = batch.magnesium_facts[batch.magnesium_facts.source_id == "333556"]
    assert facts[~facts.counted].role.tolist() == ["cross_check"]


def test_nested_rows_that_split_the_elemental_total_by_source(batch):
    # Thorne Magnesium CitraMate: Magnesium 135 mg = citrate 55 mg + dimagnesium malate 80 mg.
    row = summary(batch, "328832")
    assert row["mg_per_serving"] == pytest.approx(135.0)
    assert not {"cross_check_mismatch", "compound_as_elemental"} & set(row["flags"])


def test_two_magnesium_rows_are_never_added(batch):
    # Nature's Truth Magnesium Glycinate 665 mg: panel rows 120 mg (29 % DV) and 665 mg (no DV).
    row = summary(batch, "306748")
    assert row["mg_per_serving"] == pytest.approx(120.0)
    assert "multiple_magnesium_rows" in row["flags"]


def test_upper_limit_follows_the_target_group(batch):
    # "Children (All)" -> the 1-3 y UL of 65 mg; "Children 4 or More Years" -> 110 mg.
    kids = summary(batch, "55106")
    assert kids["ul_mg"] == 65 and "above_ul" in kids["flags"]
    assert summary(batch, "273296")["ul_mg"] == 110


def test_quarantine_has_a_specific_reason_and_no_number(batch):
    q = batch.quarantine.set_index("source_id")
    assert q.loc["269726", "reason"] == "unknown compound: Magnesium Beta-Hydroxybutyrate"
    assert q.loc["186382", "reason"] == "unknown unit: 'mmg'"
    for dsld_id in ("269726", "186382"):
        facts = batch.magnesium_facts[batch.magnesium_facts.source_id == dsld_id]
        assert not set(q.loc[[dsld_id], "row_id"]) & set(facts.row_id)
    # Nature's Answer: its only magnesium row is "500 mmg": no number at all.
    assert summary(batch, "186382")["mg_per_serving"] != summary(batch, "186382")["mg_per_serving"]  # NaN


def test_named_blend_is_not_a_magnesium_source(batch):
    # NATURELO Magnesium 200 mg also lists "Magnesium-Rich Plants Blend 30 mg": not added, not quarantined.
    assert summary(batch, "262682")["mg_per_serving"] == pytest.approx(200.0)
    assert "262682" not in set(batch.quarantine.source_id)
