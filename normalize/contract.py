"""The batch contract: every NormalizedBatch frame, its columns and their types, defined once.

The normaliser builds its frames from these lists, the tests check frames against them, and the
warehouse can import this module without importing any normaliser logic (it imports nothing
but the standard library). Types are DuckDB type names, as in warehouse/sql/*.sql.

``NormalizedBatch`` lives here, not with the interpreter, for the same reason: the ingest's main
process unpickles the batches its parse workers send without importing the normaliser (pint).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

KEY: tuple[tuple[str, str], ...] = (("source", "VARCHAR"), ("source_id", "VARCHAR"), ("version_id", "VARCHAR"))

FRAMES: dict[str, tuple[tuple[str, str], ...]] = {
    "labels": KEY + (
        ("raw_sha256", "VARCHAR"), ("url", "VARCHAR"), ("brand", "VARCHAR"), ("product_name", "VARCHAR"),
        ("upc", "VARCHAR"), ("entry_date", "DATE"), ("dosage_form", "VARCHAR"), ("target_groups", "VARCHAR[]"),
        ("serving", "VARCHAR"), ("servings_per_container", "DOUBLE"), ("price", "DOUBLE"), ("currency", "VARCHAR"),
        ("product_key", "VARCHAR"),  # groups the label versions of one product (normalize/products.py)
        ("on_market", "BOOLEAN"),  # NULL: the source does not say
    ),
    "ingredient_rows": KEY + (
        ("row_id", "VARCHAR"), ("parent_id", "VARCHAR"), ("depth", "INTEGER"), ("name", "VARCHAR"),
        ("category", "VARCHAR"), ("forms", "VARCHAR[]"), ("amount", "DOUBLE"), ("unit", "VARCHAR"),
        ("operator", "VARCHAR"), ("percent_dv", "DOUBLE"), ("dv_group", "VARCHAR"), ("section", "VARCHAR"),
        ("text", "VARCHAR"),
    ),
    "magnesium_facts": KEY + (
        ("row_id", "VARCHAR"), ("role", "VARCHAR"), ("compound", "VARCHAR"), ("amount", "DOUBLE"),
        ("unit", "VARCHAR"), ("amount_mg", "DOUBLE"), ("mg_fraction", "DOUBLE"), ("elemental_mg", "DOUBLE"),
        ("counted", "BOOLEAN"), ("method", "VARCHAR"),
    ),
    "magnesium_labels": KEY + (
        ("forms", "VARCHAR[]"), ("forms_inferred", "BOOLEAN"), ("mg_per_serving", "DOUBLE"),
        ("mg_per_day_min", "DOUBLE"), ("mg_per_day_max", "DOUBLE"), ("serving_quantity", "DOUBLE"),
        ("serving_unit", "VARCHAR"), ("daily_servings_min", "DOUBLE"), ("daily_servings_max", "DOUBLE"),
        ("method", "VARCHAR"), ("dv_reference", "VARCHAR"), ("ul_mg", "DOUBLE"), ("ul_basis", "VARCHAR"),
        ("flags", "VARCHAR[]"),
        ("units_min", "DOUBLE"), ("units_max", "DOUBLE"),  # serving units per serving, the label's range
        ("dose_basis", "VARCHAR"),  # normalize.flags.DoseBasis
    ),
    "label_flags": KEY + (("flag", "VARCHAR"), ("reason", "VARCHAR")),
    "quarantine": KEY + (
        ("row_id", "VARCHAR"), ("raw_sha256", "VARCHAR"), ("row_text", "VARCHAR"), ("reason_code", "VARCHAR"),
        ("reason", "VARCHAR"),
    ),
}


def columns(frame: str) -> list[str]:
    """Column names of one frame, in order."""
    return [name for name, _ in FRAMES[frame]]


@dataclass
class NormalizedBatch:
    """The six frames of normalised labels, columns as in ``FRAMES``."""

    labels: pd.DataFrame
    ingredient_rows: pd.DataFrame
    magnesium_facts: pd.DataFrame
    magnesium_labels: pd.DataFrame
    label_flags: pd.DataFrame
    quarantine: pd.DataFrame

    def counts(self) -> dict[str, int]:
        return {"labels": len(self.labels), "facts": len(self.magnesium_facts),
                "magnesium_labels": len(self.magnesium_labels), "quarantined": len(self.quarantine)}
