"""Every flag and quarantine reason the normaliser raises, with its meaning: defined once.

The source for the warehouse's `flag_glossary` view (scripts/render_docs.py renders
warehouse/sql/views/05_flag_glossary.sql) and for the generated glossary in docs/audit.md;
tests check both are current. No logic here, so the warehouse may import it.
"""
from __future__ import annotations

from enum import StrEnum

LABEL_PROBLEM = "label_problem"  # the label contradicts itself or a reference value
ASSUMPTION = "assumption"  # the number rests on a reading the label does not state


class Flag(StrEnum):
    """Label-level flags (table `label_flags`, column `magnesium_daily.flags`)."""

    DV_MISMATCH = "dv_mismatch"
    COMPOUND_AS_ELEMENTAL = "compound_as_elemental"
    GRAM_AS_MILLIGRAM = "gram_as_milligram"
    NAME_CLAIM_MISMATCH = "name_claim_mismatch"
    IMPLAUSIBLE_FILL = "implausible_fill"
    BUFFERED_BLEND = "buffered_blend"
    ABOVE_UL = "above_ul"
    CROSS_CHECK_MISMATCH = "cross_check_mismatch"
    MULTIPLE_MAGNESIUM_ROWS = "multiple_magnesium_rows"
    FORM_INFERRED = "form_inferred"
    DAILY_SERVINGS_ASSUMED = "daily_servings_assumed"
    SERVING_RANGE_ASSUMED = "serving_range_assumed"
    # page front end (normalize/html): where a page's identity and serving come from
    CANONICAL_OFFSITE = "canonical_offsite"
    IDENTITY_FROM_PAGE = "identity_from_page"
    SERVING_SIZE_ZERO = "serving_size_zero"


FLAG_INFO: dict[Flag, tuple[str, str]] = {
    Flag.DV_MISMATCH: (LABEL_PROBLEM, "the printed %DV fits the magnesium amount under none of the Daily Values "
                                      "the label could use (US 420 mg, pre-2016 US 400 mg, EU NRV 375 mg, children "
                                      "1-3 y 80 mg, infants 75 mg; tolerance 1 point or 2 %)"),
    Flag.COMPOUND_AS_ELEMENTAL: (LABEL_PROBLEM, "a 'Magnesium' amount that is compound mass: its %DV fits the "
                                                "converted amount (then that is reported), nested elemental rows "
                                                "carry the %DV, or nested compound masses equal it"),
    Flag.GRAM_AS_MILLIGRAM: (LABEL_PROBLEM, "a magnesium amount given in grams whose %DV fits the same number in "
                                            "milligrams (e.g. '190 gm, 45 % DV' in one capsule): a data-entry slip; "
                                            "the amount is read as mg"),
    Flag.NAME_CLAIM_MISMATCH: (LABEL_PROBLEM, "the mg in the product name matches neither the elemental amount per "
                                              "serving, per day nor per unit; the reason says if the compound "
                                              "reading (name = compound mass) fits"),
    Flag.IMPLAUSIBLE_FILL: (LABEL_PROBLEM, "the Mg per capsule/tablet/softgel/gummy, as the most Mg-dense named "
                                           "form (oxide if none), needs more powder than the unit holds"),
    Flag.BUFFERED_BLEND: (LABEL_PROBLEM, "glycinate with oxide, a source called buffered, or more Mg than "
                                         "glycinate can hold: the share of each source is not stated"),
    Flag.ABOVE_UL: (LABEL_PROBLEM, "the highest daily dose the label allows is above the UL for supplemental "
                                   "magnesium of its target group (350 mg adults and 9+, 110 mg 4-8 y, 65 mg 1-3 y)"),
    Flag.CROSS_CHECK_MISMATCH: (LABEL_PROBLEM, "nested compound rows hold a different amount of Mg than the "
                                               "parent row declares"),
    Flag.MULTIPLE_MAGNESIUM_ROWS: (ASSUMPTION, "several magnesium rows; never added: the total, else the one with "
                                               "a %DV, else the first (the primary serving) was counted"),
    Flag.FORM_INFERRED: (ASSUMPTION, "no form on the panel; the form is taken from the product name"),
    Flag.DAILY_SERVINGS_ASSUMED: (ASSUMPTION, "the source gives no daily servings (or the format dropped them): "
                                              "1 serving a day is assumed (dose_basis assumed_*)"),
    Flag.SERVING_RANGE_ASSUMED: (ASSUMPTION, "the serving is a range ('1-4 capsules') and the source does not say "
                                             "which end the amounts are for: read as for the smallest serving, so "
                                             "mg_per_day_max assumes the largest serving"),
    Flag.CANONICAL_OFFSITE: (LABEL_PROBLEM, "the page names a product on another host as its canonical (or og:url) "
                                            "link; it is ignored: the page is keyed to the host it was fetched from"),
    Flag.IDENTITY_FROM_PAGE: (ASSUMPTION, "a saved page without the URL it was fetched from: its source and id are "
                                          "taken from the page's own canonical link (or --url), which the page "
                                          "itself asserts"),
    Flag.SERVING_SIZE_ZERO: (LABEL_PROBLEM, "the page's serving size or daily servings read 0: no quantity to "
                                            "scale by, so the amount is taken per serving as printed"),
}


class Reason(StrEnum):
    """Quarantine reason codes (table `quarantine.reason_code`): a row that gives no number."""

    NOT_DECLARED = "not_declared"
    UNKNOWN_UNIT = "unknown_unit"
    NOT_A_MASS = "not_a_mass"
    INVALID_AMOUNT = "invalid_amount"
    UNKNOWN_COMPOUND = "unknown_compound"
    MIXTURE = "mixture"
    BUFFERED_BLEND = "buffered_blend"
    UNDEFINED_FORMULA = "undefined_formula"
    INVALID_SERVING = "invalid_serving"
    TOO_DEEP = "too_deep"
    UNREADABLE_DOCUMENT = "unreadable_document"


REASON_INFO: dict[Reason, str] = {
    Reason.NOT_DECLARED: "no amount declared (unit NP, quantity 0 or missing)",
    Reason.UNKNOWN_UNIT: "the unit is not one pint or the label-unit table knows",
    Reason.NOT_A_MASS: "the unit is not a mass (IU, mL, ...)",
    Reason.INVALID_AMOUNT: "a negative, infinite or absurd amount",
    Reason.UNKNOWN_COMPOUND: "a magnesium-named row whose compound is not in the table",
    Reason.MIXTURE: "a row naming magnesium with other minerals or compounds, no magnesium-only mass",
    Reason.BUFFERED_BLEND: "buffered compound mass: % Mg unknown without the supplier's figure",
    Reason.UNDEFINED_FORMULA: "a compound without a defined formula (e.g. amino acid chelate)",
    Reason.INVALID_SERVING: "serving quantity or daily servings are 0, negative, NaN, infinite or absurd: "
                            "no per-day dose (mg_per_day_* NULL)",
    Reason.TOO_DEEP: "ingredient rows nested deeper than the parser reads; deeper rows are not read",
    Reason.UNREADABLE_DOCUMENT: "the archived document could not be parsed into a label",
}


class DoseBasis(StrEnum):
    """Where `mg_per_day_min` / `mg_per_day_max` come from (column `dose_basis`)."""

    DECLARED = "declared"
    DECLARED_RANGE = "declared_range"
    ASSUMED_ONE_SERVING_PER_DAY = "assumed_one_serving_per_day"
    ASSUMED_ONE_SERVING_PER_DAY_SERVING_RANGE = "assumed_one_serving_per_day_serving_range"
    NO_VALID_SERVING = "no_valid_serving"


DOSE_BASIS_INFO: dict[DoseBasis, str] = {
    DoseBasis.DECLARED: "serving size and daily servings as the label states them (one value)",
    DoseBasis.DECLARED_RANGE: "serving size and daily servings as the label states them, with a range "
                              "(serving or daily servings): min and max are the label's own ends",
    DoseBasis.ASSUMED_ONE_SERVING_PER_DAY: "no daily servings in the source: one serving a day assumed",
    DoseBasis.ASSUMED_ONE_SERVING_PER_DAY_SERVING_RANGE: "one serving a day assumed, and a serving range whose "
                                                         "amounts are read as for the smallest serving",
    DoseBasis.NO_VALID_SERVING: "the serving cannot give a per-day dose (quarantined: invalid_serving)",
}

