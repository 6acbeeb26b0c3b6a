"""Hand-built normalized batches for the warehouse tests, in the shape of the batch contract.

The values come from real NIH DSLD labels bundled in scrapers/bundled/dsld/labels/ (read by eye;
the warehouse never parses label JSON, and this module does not either, except to hash the files):

* 49495  Nature's Bounty "Your Life Multi Men's 50+": row 14 Magnesium 50 mg (as Magnesium
  Oxide) per 1 tablet, 1 tablet/day, 13 % DV (entry 2015-08-25, i.e. the old 400 mg DV),
  90 tablets (DSLD leaves servingsPerContainer empty).
* 246811 Sport Formula 99 "Multivitamin with BCAA + Essential Amino Acids Fruit Punch": row 16
  (label order 20) Magnesium 20 mg (as Magnesium Oxide) per 5 g, 1-3 servings/day -> 20-60 mg/day,
  5 % DV, 30 servings per container; children 4+ among its groups, so the 110 mg UL.
* 220884 Natural Factors VegiDay "Vegan Organic All in One Nutritional Shake French Vanilla":
  row 20 (label order 25) Magnesium 50 mg (Magnesium Citrate) per 43 g scoop, 1/day, 12 % DV,
  10 servings.

Column names come from the batch contract (maglabels.normalize.contract), and every value is what
``normalize_labels`` writes for these labels (tests/test_warehouse_data.py checks that), except:
the ingredient rows are a few of each label's and their ``text`` is shortened; ``with_test_additions``
on 49495 (a dv_mismatch flag and a not_declared quarantine row, in the normaliser's wording) give
the views something to count. Prices are NOT on DSLD labels; where a test needs one it sets it.
This module also holds the shared warehouse fixtures (registered in tests/conftest.py) and helpers.
"""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from maglabels.normalize import contract
from maglabels.normalize.contract import NormalizedBatch
from maglabels.normalize.flags import DoseBasis, Flag, Reason

from maglabels import warehouse

BUNDLED = Path(__file__).resolve().parents[1] / "scrapers" / "bundled" / "dsld" / "labels"

KEY = [name for name, _ in contract.KEY]
FRAME_COLUMNS = {frame: contract.columns(frame) for frame in contract.FRAMES}


def bundled_sha(dsld_id: int | str) -> str:
    return hashlib.sha256((BUNDLED / f"{dsld_id}.json").read_bytes()).hexdigest()


ADULTS = "Adults and children 4 or more years of age"
DECLARED = "declared elemental magnesium (Supplement Facts row)"  # normalize/magnesium.py's method text
DV_420, DV_400 = "US DV 420 mg", "US DV 400 mg (pre-2016 labels)"  # normalize/reference/*.toml names
UL_ADULT, UL_CHILD = (350.0, "adults and children 9+: 350 mg/day"), (110.0, "children 4-8 y: 110 mg/day")


def with_test_additions(spec: dict) -> dict:
    """Adds to 49495 a label flag and a quarantine row (the normaliser raises neither for this label),
    worded as the normaliser words them, so the views have something to count."""
    spec["summary"]["flags"] = [str(Flag.DV_MISMATCH)]
    spec["flags"] = [
        {"flag": str(Flag.DV_MISMATCH),
         "reason": "row 14: printed 13 % DV does not fit 50.0 mg under any reference (12 % of US DV 420 mg)"},
    ]
    spec["quarantine"] = [
        {"row_id": "other.2", "raw_sha256": spec["label"]["raw_sha256"], "row_text": "Magnesium",
         "reason_code": str(Reason.NOT_DECLARED), "reason": "magnesium amount not declared"},
    ]
    return spec


def label_49495() -> dict:
    return with_test_additions(normalised_49495())


def normalised_49495() -> dict:
    """49495 exactly as the normaliser reads it (no flag, no quarantine row)."""
    sha = bundled_sha(49495)
    return {
        "label": {
            "source": "dsld", "source_id": "49495", "raw_sha256": sha,
            "url": "https://api.ods.od.nih.gov/dsld/v9/label/49495",
            "brand": "Nature's Bounty", "product_name": "Your Life Multi Men's 50+",
            "upc": "0 74312 27669 9", "entry_date": "2015-08-25", "dosage_form": "Tablet or Pill",
            "target_groups": [ADULTS, "Seniors/Mature (>50 Years) - Men ONLY", "Dairy Free", "Sugar Free"],
            "serving": "1 Tablet(s)", "servings_per_container": None, "price": None, "currency": None,
            "product_key": "dsld:4328", "on_market": True,
        },
        "rows": [
            {"row_id": "1", "parent_id": None, "depth": 0, "name": "Vitamin A", "category": "vitamin",
             "forms": ["Beta-Carotene", "Retinyl Acetate"], "amount": 2500.0, "unit": "IU",
             "operator": "=", "percent_dv": 50.0, "dv_group": ADULTS, "section": "active",
             "text": '{"name": "Vitamin A", "quantity": 2500, "unit": "IU"}'},
            {"row_id": "14", "parent_id": None, "depth": 0, "name": "Magnesium", "category": "mineral",
             "forms": ["Magnesium Oxide"], "amount": 50.0, "unit": "mg", "operator": "=",
             "percent_dv": 13.0, "dv_group": ADULTS, "section": "active",
             "text": '{"name": "Magnesium", "notes": "Magnesium (Form: as Magnesium Oxide) ", "quantity": 50, "unit": "mg"}'},
            {"row_id": "other.1", "parent_id": None, "depth": 0, "name": "Vegetable Cellulose",
             "category": "fiber", "forms": [], "amount": None, "unit": None, "operator": None,
             "percent_dv": None, "dv_group": None, "section": "other", "text": "Vegetable Cellulose"},
        ],
        "facts": [
            {"row_id": "14", "role": "declared_elemental", "compound": None, "amount": 50.0,
             "unit": "mg", "amount_mg": 50.0, "mg_fraction": 1.0, "elemental_mg": 50.0,
             "counted": True, "method": DECLARED},
        ],
        "summary": {
            "forms": ["magnesium oxide"], "forms_inferred": False, "mg_per_serving": 50.0,
            "mg_per_day_min": 50.0, "mg_per_day_max": 50.0, "serving_quantity": 1.0, "serving_unit": "Tablet(s)",
            "daily_servings_min": 1.0, "daily_servings_max": 1.0, "method": DECLARED,
            "dv_reference": DV_400, "ul_mg": UL_ADULT[0], "ul_basis": UL_ADULT[1], "flags": [],
            "units_min": 1.0, "units_max": 1.0, "dose_basis": str(DoseBasis.DECLARED),
        },
        "flags": [],
        "quarantine": [],
    }


def label_246811() -> dict:
    sha = bundled_sha(246811)
    return {
        "label": {
            "source": "dsld", "source_id": "246811", "raw_sha256": sha,
            "url": "https://api.ods.od.nih.gov/dsld/v9/label/246811",
            "brand": "Sport Formula 99",
            "product_name": "Multivitamin with BCAA + Essential Amino Acids Fruit Punch",
            "upc": "1 89035 00014 5", "entry_date": "2021-04-22", "dosage_form": "Powder",
            "target_groups": [ADULTS, "Children 4 or More Years of Age", "Vegan", "Vegetarian",
                              "Adult (18 - 50 Years)", "Gluten Free"],
            "serving": "5 Gram(s)", "servings_per_container": 30.0, "price": None, "currency": None,
            "product_key": "upc:sport formula 99|189035000145", "on_market": True,
        },
        "rows": [
            {"row_id": "1", "parent_id": None, "depth": 0, "name": "Calories", "category": "other",
             "forms": [], "amount": 0.0, "unit": "Calorie(s)", "operator": "=", "percent_dv": None,
             "dv_group": None, "section": "active", "text": '{"name": "Calories", "quantity": 0}'},
            {"row_id": "16", "parent_id": None, "depth": 0, "name": "Magnesium", "category": "mineral",
             "forms": ["Magnesium Oxide"], "amount": 20.0, "unit": "mg", "operator": "=",
             "percent_dv": 5.0, "dv_group": ADULTS, "section": "active",
             "text": '{"name": "Magnesium", "quantity": 20, "unit": "mg", "servingSizeQuantity": 5}'},
        ],
        "facts": [
            {"row_id": "16", "role": "declared_elemental", "compound": None, "amount": 20.0,
             "unit": "mg", "amount_mg": 20.0, "mg_fraction": 1.0, "elemental_mg": 20.0,
             "counted": True, "method": DECLARED},
        ],
        "summary": {
            "forms": ["magnesium oxide"], "forms_inferred": False, "mg_per_serving": 20.0,
            "mg_per_day_min": 20.0, "mg_per_day_max": 60.0, "serving_quantity": 5.0, "serving_unit": "Gram(s)",
            "daily_servings_min": 1.0, "daily_servings_max": 3.0, "method": DECLARED,
            "dv_reference": DV_420, "ul_mg": UL_CHILD[0], "ul_basis": UL_CHILD[1], "flags": [],
            "units_min": 5.0, "units_max": 5.0, "dose_basis": str(DoseBasis.DECLARED_RANGE),
        },
        "flags": [],
        "quarantine": [],
    }


def label_220884() -> dict:
    sha = bundled_sha(220884)
    return {
        "label": {
            "source": "dsld", "source_id": "220884", "raw_sha256": sha,
            "url": "https://api.ods.od.nih.gov/dsld/v9/label/220884",
            "brand": "Natural Factors VegiDay",
            "product_name": "Vegan Organic All in One Nutritional Shake French Vanilla",
            "upc": "0 68958 02969 6", "entry_date": "2020-05-22", "dosage_form": "Powder",
            "target_groups": [ADULTS, "Vegan", "Vegetarian", "Adult (18 - 50 Years)", "Organic",
                              "Gluten Free", "Dairy Free"],
            "serving": "43 Gram(s)", "servings_per_container": 10.0, "price": None, "currency": None,
            "product_key": "dsld:220527", "on_market": True,
        },
        "rows": [
            {"row_id": "20", "parent_id": None, "depth": 0, "name": "Magnesium", "category": "mineral",
             "forms": ["Magnesium Citrate"], "amount": 50.0, "unit": "mg", "operator": "=",
             "percent_dv": 12.0, "dv_group": ADULTS, "section": "active",
             "text": '{"name": "Magnesium", "quantity": 50, "unit": "mg", "servingSizeQuantity": 43}'},
        ],
        "facts": [
            {"row_id": "20", "role": "declared_elemental", "compound": None, "amount": 50.0,
             "unit": "mg", "amount_mg": 50.0, "mg_fraction": 1.0, "elemental_mg": 50.0,
             "counted": True, "method": DECLARED},
        ],
        "summary": {
            "forms": ["magnesium citrate"], "forms_inferred": False, "mg_per_serving": 50.0,
            "mg_per_day_min": 50.0, "mg_per_day_max": 50.0, "serving_quantity": 43.0, "serving_unit": "Gram(s)",
            "daily_servings_min": 1.0, "daily_servings_max": 1.0, "method": DECLARED,
            "dv_reference": DV_420, "ul_mg": UL_ADULT[0], "ul_basis": UL_ADULT[1], "flags": [],
            "units_min": 43.0, "units_max": 43.0, "dose_basis": str(DoseBasis.DECLARED),
        },
        "flags": [],
        "quarantine": [],
    }


def real_specs() -> list[dict]:
    return [label_49495(), label_246811(), label_220884()]


def version_of(spec: dict) -> str:
    """A content hash, as the normalizer's version_id is."""
    body = {k: v for k, v in spec.items() if k != "version_id"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def variant(spec: dict, *, source_id: str | None = None, **summary) -> dict:
    """A copy of ``spec`` with a different source_id (another product, so its own product_key)
    and/or magnesium summary values."""
    out = copy.deepcopy(spec)
    if source_id is not None:
        out["label"].update(source_id=source_id, product_key=f"dsld:{source_id}")
    out["summary"].update(summary)
    return out


def make_batch(specs: list[dict]) -> NormalizedBatch:
    rows: dict[str, list[dict]] = {name: [] for name in FRAME_COLUMNS}
    for spec in specs:
        key = {
            "source": spec["label"]["source"],
            "source_id": spec["label"]["source_id"],
            "version_id": spec.get("version_id") or version_of(spec),
        }
        rows["labels"].append({**key, **spec["label"]})
        rows["ingredient_rows"] += [{**key, **r} for r in spec["rows"]]
        rows["magnesium_facts"] += [{**key, **r} for r in spec["facts"]]
        if spec.get("summary") is not None:
            rows["magnesium_labels"].append({**key, **spec["summary"]})
        rows["label_flags"] += [{**key, **r} for r in spec["flags"]]
        rows["quarantine"] += [{**key, **r} for r in spec["quarantine"]]
    frames = {
        name: pd.DataFrame(rows[name], columns=FRAME_COLUMNS[name]) for name in FRAME_COLUMNS
    }
    return NormalizedBatch(**frames)


def archive_records(specs: list[dict], fetched_at: str = "2026-01-05T10:00:00Z") -> pd.DataFrame:
    """Archive index records for the bundled files behind ``specs``."""
    recs = []
    for spec in specs:
        sid = spec["label"]["source_id"]
        path = BUNDLED / f"{sid}.json"
        recs.append({
            "sha256": spec["label"]["raw_sha256"],
            "url": spec["label"]["url"],
            "status": 200,
            "headers": json.dumps({"content-type": "application/json"}),
            "fetched_at": fetched_at,
            "source": "dsld",
            "kind": "label",
            "size": path.stat().st_size if path.exists() else 0,
        })
    return pd.DataFrame(recs)


# ------------------------------------------------------------------------------------------
# shared fixtures / helpers


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "maglabels.duckdb"


@pytest.fixture
def con(db_path: Path):
    c = warehouse.connect(db_path)
    yield c
    c.close()


def tables(c) -> list[str]:
    return [
        r[0]
        for r in c.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND NOT temporary "
            "ORDER BY table_name"
        ).fetchall()
    ]


def snapshot(c, exclude: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
    """Full contents of every table, rows sorted (for before/after comparisons)."""
    out = {}
    for t in tables(c):
        if t in exclude:
            continue
        out[t] = sorted(c.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr)
    return out


def load(c, specs: list[dict], *, now: str, documents: bool = True, command: str = "test"):
    """start_run + load_batch + finish_run, as the pipeline does."""
    run_id = warehouse.start_run(c, command)
    stats = warehouse.load_batch(
        c,
        make_batch(specs),
        run_id=run_id,
        documents_df=archive_records(specs) if documents else None,
        now=pd.Timestamp(now).to_pydatetime(),
    )
    warehouse.finish_run(c, run_id, "ok", stats)
    return run_id, stats

