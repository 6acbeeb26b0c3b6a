"""The hand-built warehouse batches (tests/warehouse_data.py) stand on the real bundled labels."""
from __future__ import annotations

from tests.warehouse_data import BUNDLED, label_246811, real_specs


def test_specs_are_the_real_labels():
    # the bundled files exist and the hand-typed identities match their file names
    for spec in real_specs():
        assert (BUNDLED / f"{spec['label']['source_id']}.json").exists()
        assert len(spec["label"]["raw_sha256"]) == 64
    # 246811: 20 mg per 5 g, 1-3 servings a day
    s = label_246811()["summary"]
    assert (s["mg_per_day_min"], s["mg_per_day_max"]) == (20.0, 60.0)
