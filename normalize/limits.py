"""Thresholds and word lists the normaliser uses, defined once (reference values with a
citation live in data/references.toml: Daily Values, the UL, dosage-unit capacities)."""
from __future__ import annotations

import re

# Cross-check slack around a compound's theoretical Mg fraction: commercial material runs below
# theory (bound water, purity; Magtein ~7.2 % vs 8.25 %), and glycinate whose declared Mg exceeds
# 1.07 x its share is buffered or wrong (reference §1.4: anhydrous glycinate is 14.10 % Mg).
SLACK_LOW = 0.80
SLACK_HIGH = 1.07

# How far a printed %DV may sit from amount/DV: whole-percent rounding (1 point) or 2 % of it.
DV_TOLERANCE_POINTS = 1.0
DV_TOLERANCE_RELATIVE = 0.02

# The US UL for supplemental magnesium (adults, 9+), also the view's fallback when ul_mg is NULL.
UL_ADULT_MG = 350.0

# Serving sizes beyond these are not a label's serving but a data error: quarantined.
MAX_SERVING_UNITS = 10_000.0  # e.g. 240 Gram(s) of a shake is real; 10,000 units of anything is not
MAX_DAILY_SERVINGS = 100.0

# A declared amount above this (1 kg of anything per serving) is a data error: quarantined.
MAX_AMOUNT_MG = 1e6

# Ingredient rows nested deeper than this are not read (real labels nest 3-4 levels).
MAX_ROW_DEPTH = 50

# Minerals whose presence in a name means a figure or a compound may not be magnesium's alone.
OTHER_MINERALS = ("calcium", "cal", "zinc", "potassium", "sodium", "iron", "manganese", "copper", "chromium",
                  "selenium", "boron", "zma")
OTHER_MINERALS_RE = re.compile(r"\b(" + "|".join(OTHER_MINERALS) + r")\b", re.I)

# Discrete dosage units (a capacity applies) and the label spellings that name them; powders and
# liquids are none of these.
DOSAGE_UNITS: tuple[tuple[str, re.Pattern], ...] = (
    ("softgel", re.compile(r"soft\s*-?\s*gel|licap", re.I)),
    ("capsule", re.compile(r"cap(?:sule)?s?\b|capsule|vcap|vegcap|veg cap", re.I)),
    ("gummy", re.compile(r"gumm|chew|lozenge|wafer", re.I)),
    ("tablet", re.compile(r"tablet|caplet|tab\b", re.I)),
)
