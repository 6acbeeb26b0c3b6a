"""The hand-built warehouse batches (tests/warehouse_data.py) are what the normaliser writes for
the same real labels, column for column, so the warehouse tests load the values it really gets."""
from __future__ import annotations

import math

import numpy as np
import pytest
from maglabels.normalize import contract
from maglabels.normalize.batch import normalize_labels
from maglabels.normalize.dsld_label import parse_label

from tests.realdata import dsld_doc
from tests.warehouse_data import (
    BUNDLED,
    bundled_sha,
    label_49495,
    label_220884,
    label_246811,
    make_batch,
    normalised_49495,
)

# version_id hashes the parsed label (not the hand-built dict); the ingredient text is shortened by hand.
NOT_COMPARED = {"version_id", "text"}


def _plain(value):
    """NaN/None -> None, numpy scalars and arrays -> Python values, for comparing frame cells."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _rows(frame, columns):
    return {(r["source_id"], r.get("row_id")): {c: _plain(r[c]) for c in columns}
            for r in frame.to_dict("records")}


@pytest.mark.parametrize("spec", [normalised_49495, label_246811, label_220884], ids=lambda f: f.__name__)
def test_hand_built_batch_is_what_the_normaliser_writes(spec):
    spec = spec()
    label_id = spec["label"]["source_id"]
    assert (BUNDLED / f"{label_id}.json").exists() and spec["label"]["raw_sha256"] == bundled_sha(label_id)
    hand = make_batch([spec])
    real = normalize_labels([parse_label(dsld_doc(label_id), raw_sha256=bundled_sha(label_id),
                                         url=spec["label"]["url"])])
    for frame in contract.FRAMES:
        got, want = getattr(hand, frame), getattr(real, frame)
        assert list(got.columns) == contract.columns(frame)
        columns = [c for c in contract.columns(frame) if c not in NOT_COMPARED]
        got_rows, want_rows = _rows(got, columns), _rows(want, columns)
        if frame == "ingredient_rows":  # a few of the label's rows, each as the normaliser has it
            assert got_rows and set(got_rows) <= set(want_rows)
            want_rows = {k: want_rows[k] for k in got_rows}
        assert got_rows == want_rows, frame


def test_test_additions_only_on_49495():
    added = label_49495()
    assert [f["flag"] for f in added["flags"]] == added["summary"]["flags"] == ["dv_mismatch"]
    assert [q["reason_code"] for q in added["quarantine"]] == ["not_declared"]
    assert normalised_49495()["flags"] == normalised_49495()["quarantine"] == []
    assert all(not s()["flags"] and not s()["quarantine"] for s in (label_246811, label_220884))
