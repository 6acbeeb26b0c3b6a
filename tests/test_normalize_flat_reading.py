"""The ingest's reading of the flattened DSLD corpus (``read_flat_product``): the same frames as the
full parse, on real labels, at a fraction of the cost; which rows are stored; the version id."""
from __future__ import annotations

import gzip
import json
from dataclasses import fields
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from maglabels.normalize import contract
from maglabels.normalize.batch import normalize_labels
from maglabels.normalize.flat_dsld import _kept_rows, _rows, parse_flat_product, read_flat_product
from maglabels.normalize.magnesium import version_id
from maglabels.normalize.model import Label, LabelRecord, LabelRow
from maglabels.normalize.rowtext import (
    _TRIGGER,
    IGNORED_KINDS,
    interpreted,
    may_name_magnesium,
    naming_indices,
    read_row,
)

FIXTURES = Path(__file__).parent / "fixtures" / "dsld_flat"


def _docs() -> list[dict]:
    with gzip.open(FIXTURES / "sample400.jsonl.gz", "rt", encoding="utf-8") as fh:
        sample = [json.loads(line) for line in fh]
    return sample + [json.loads(line) for line in (FIXTURES / "products.jsonl").read_text("utf-8").splitlines()]


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return _docs()


@pytest.fixture(scope="module")
def batches(docs):
    return normalize_labels([read_flat_product(d) for d in docs]), normalize_labels([parse_flat_product(d) for d in docs])


def test_the_ingest_reading_gives_the_same_frames_as_the_full_parse(docs, batches):
    fast, full = batches
    for frame in contract.FRAMES:
        pd.testing.assert_frame_equal(getattr(fast, frame), getattr(full, frame), obj=frame)
    assert len(fast.labels) == len({d["dsld_id"] for d in docs}) and len(fast.magnesium_labels) > 50  # both kinds


def test_labels_without_a_magnesium_row_keep_their_labels_row_and_only_the_rows_naming_magnesium(docs, batches):
    fast, _ = batches
    stored = fast.ingredient_rows.groupby("source_id")["name"].apply(list).to_dict()
    with_summary = set(fast.magnesium_labels.source_id)
    excipient_only = 0
    for doc in docs:
        source_id, full = str(doc["dsld_id"]), parse_flat_product(doc)
        if source_id in with_summary:
            assert len(stored[source_id]) == len(full.rows)  # every row behind a figure
            continue
        naming = [r.name for r in full.rows if "magnesium" in r.name.lower()]
        assert sorted(stored.get(source_id, [])) == sorted(naming), source_id
        excipient_only += bool(naming)
    assert excipient_only > 20  # magnesium stearate as an excipient: kept, never counted
    assert set(fast.labels.source_id) == {str(d["dsld_id"]) for d in docs}


def _version(doc: dict) -> str:
    read = read_flat_product(doc)
    return read.record["version_id"] if isinstance(read, LabelRecord) else version_id(read)


@pytest.mark.parametrize("magnesium", [False, True])
def test_the_flat_version_id_hashes_the_whole_document_canonically(docs, magnesium):
    doc = next(d for d in docs if d.get("other_ingredients") and isinstance(read_flat_product(d), Label) == magnesium)
    vid = _version(doc)
    reordered = json.loads(json.dumps(dict(reversed(list(doc.items()))), indent=2))
    assert _version(reordered) == vid  # key order and whitespace are not content
    changed = json.loads(json.dumps(doc))
    changed["other_ingredients"][-1]["name"] += " (changed)"  # a row the warehouse does not store
    assert _version(changed) != vid
    assert version_id(parse_flat_product(doc)) == vid  # both readings: one id


def test_the_prefilter_agrees_with_the_reading_on_every_real_row_name(docs):
    names = {r.get("name") or "" for d in docs for key in ("nutrient_panel", "ingredients", "other_ingredients")
             for r in d.get(key) or ()}
    rows = Path(__file__).parent / "fixtures" / "rows"
    names |= set(json.loads((rows / "magnesium_row_readings.json").read_text("utf-8")))  # 187 real iHerb wordings
    names |= {n for p in json.loads((rows / "iherb-scraper-searcher-rows.json").read_text("utf-8"))
              for n in p.get("nutrients") or {}}
    assert len(names) > 2000
    for name in names:
        assert interpreted(name) == (read_row(name).kind not in IGNORED_KINDS), name


_WORDS = st.sampled_from(["Magnesium", "magnesium", "Mg", "MG", "Epsom", "Magtein", "oxide", "citrate", "stearate",
                          "(as", ")", "elemental", "Zinc", "Calcium", "glycinate", "salt", "-", "&", "®", "é", "İ"])


@given(st.lists(st.one_of(_WORDS, st.text(max_size=6)), max_size=8).map(" ".join))
def test_a_name_without_a_trigger_is_never_read_as_magnesium(name):
    if not may_name_magnesium(name):
        assert read_row(name).kind in IGNORED_KINDS


@given(st.lists(st.lists(st.one_of(_WORDS, st.text(max_size=6)), max_size=5).map(" ".join), max_size=12))
def test_one_search_finds_exactly_the_names_that_may_name_magnesium(names):
    assert naming_indices(names) == {i for i, name in enumerate(names) if may_name_magnesium(name)}


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=40) | st.lists(_WORDS, max_size=6).map(" ".join))
def test_the_ascii_search_finds_what_the_case_insensitive_pattern_finds(name):
    # may_name_magnesium lower-cases ASCII names instead of matching with re.I: the same answer
    assert may_name_magnesium(name) == (_TRIGGER.search(name) is not None)
    assert naming_indices([name, "x", name]) == ({0, 2} if _TRIGGER.search(name) else set())


_DEPTHS = st.lists(st.integers(min_value=0, max_value=4), max_size=12)


@given(_DEPTHS, st.data())
def test_the_kept_rows_are_the_walked_rows_at_those_positions(depths, data):
    # a label without an elemental panel row: each kept row's parent is the one the walk gives
    doc = {"nutrient_panel": [{"name": "Vitamin C", "quantity": 5.0, "unit": "mg"}],
           "ingredients": [{"name": f"Herb {i}", "depth": d, "quantity": float(i)} for i, d in enumerate(depths)],
           "other_ingredients": [{"name": "Magnesium Stearate"}]}
    walked = _rows(doc)
    keep = data.draw(st.sets(st.integers(min_value=0, max_value=len(walked) - 1)))
    assert _kept_rows(doc, keep) == [walked[i] for i in sorted(keep)]


def test_rows_are_built_without_init_yet_are_the_same_objects(docs):
    # _label_row bypasses the frozen dataclass __init__: every field must be set, in field order
    assert not hasattr(LabelRow, "__post_init__") and not hasattr(LabelRow, "__slots__")
    rows = [row for d in docs for row in _rows(d)]
    assert len(rows) > 5000 and {r.section for r in rows} == {"active", "other"}
    order = [f.name for f in fields(LabelRow)]
    for row in rows:
        assert list(vars(row)) == order
        assert LabelRow(*(getattr(row, name) for name in order)) == row
