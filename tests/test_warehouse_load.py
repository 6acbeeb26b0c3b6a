from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest
from maglabels.normalize.contract import NormalizedBatch
from maglabels.warehouse import load as load_mod

from maglabels import warehouse
from tests.warehouse_data import (
    ADULTS,
    DV_420,
    archive_records,
    label_49495,
    label_220884,
    label_246811,
    load,
    make_batch,
    real_specs,
    snapshot,
    variant,
    version_of,
)

CONTENT = ["labels", "ingredient_rows", "magnesium_facts", "magnesium_labels", "label_flags", "quarantine"]


def counts(c) -> dict[str, int]:
    return {
        t: c.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]
        for t in CONTENT + ["label_versions", "raw_documents", "raw_fetches", "scrape_runs"]
    }


def test_first_load(con):
    run_id, stats = load(con, real_specs(), now="2026-01-05 10:00:00")
    assert stats.labels == 3 and stats.new_versions == 3 and stats.changed_versions == 0
    assert stats.inserted == {
        "labels": 3, "ingredient_rows": 6, "magnesium_facts": 3, "magnesium_labels": 3,
        "label_flags": 1, "quarantine": 1,
    }
    assert (stats.documents, stats.fetches) == (3, 3)
    assert counts(con)["label_versions"] == 3
    run = con.execute(
        "SELECT status, documents, labels, new_versions, facts, quarantined, ended_at IS NOT NULL "
        "FROM scrape_runs WHERE run_id = ?", [run_id]
    ).fetchone()
    assert run == ("ok", 3, 3, 3, 3, 1, True)
    # list columns round-trip as lists; text ids; dates typed
    row = con.execute(
        "SELECT target_groups, entry_date, servings_per_container FROM labels WHERE source_id = '49495'"
    ).fetchone()
    assert row[0] == [ADULTS, "Seniors/Mature (>50 Years) - Men ONLY", "Dairy Free", "Sugar Free"]
    assert row[1] == dt.date(2015, 8, 25) and row[2] is None  # DSLD leaves servingsPerContainer empty
    fetch = con.execute("SELECT fetched_at, headers->>'content-type' FROM raw_fetches LIMIT 1").fetchone()
    assert fetch == (dt.datetime(2026, 1, 5, 10, 0), "application/json")


def test_reload_adds_nothing(con):
    run1, _ = load(con, real_specs(), now="2026-01-05 10:00:00")
    before = snapshot(con, exclude=("scrape_runs", "label_versions"))
    versions_before = con.execute(
        "SELECT source, source_id, version_id, valid_from, valid_to, first_run_id FROM label_versions ORDER BY ALL"
    ).fetchall()
    run2, stats = load(con, real_specs(), now="2026-01-06 10:00:00")
    assert stats.new_versions == 0 and stats.changed_versions == 0 and stats.unchanged_versions == 3
    assert all(n == 0 for n in stats.inserted.values())
    assert (stats.documents, stats.fetches) == (0, 0)
    # every table exactly as before, except the run log and the last-seen marker
    assert snapshot(con, exclude=("scrape_runs", "label_versions")) == before
    assert con.execute(
        "SELECT source, source_id, version_id, valid_from, valid_to, first_run_id FROM label_versions ORDER BY ALL"
    ).fetchall() == versions_before
    assert {r[0] for r in con.execute("SELECT last_seen_run_id FROM label_versions").fetchall()} == {run2}
    assert con.execute("SELECT count(*) FROM scrape_runs").fetchone()[0] == 2


def test_duplicates_inside_one_batch_inserted_once(con):
    specs = real_specs()
    run_id = warehouse.start_run(con, "dup")
    batch = make_batch(specs + specs)
    docs = pd.concat([archive_records(specs)] * 2)
    stats = warehouse.load_batch(con, batch, run_id=run_id, documents_df=docs)
    assert stats.inserted["labels"] == 3 and stats.inserted["ingredient_rows"] == 6
    assert stats.new_versions == 3 and stats.superseded_in_batch == 0
    assert (stats.documents, stats.fetches) == (3, 3)


def test_same_body_two_urls_and_times(con):
    spec = label_49495()
    run_id = warehouse.start_run(con, "docs")
    docs = pd.concat([
        archive_records([spec], fetched_at="2026-01-05T10:00:00Z"),
        archive_records([spec], fetched_at="2026-01-06T10:00:00+00:00"),
        archive_records([spec], fetched_at="2026-01-06T10:00:00Z").assign(url="https://dsld.od.nih.gov/label/49495"),
    ])
    stats = warehouse.load_batch(con, make_batch([spec]), run_id=run_id, documents_df=docs)
    assert (stats.documents, stats.fetches) == (1, 3)
    first = con.execute("SELECT first_fetched_at FROM raw_documents").fetchone()[0]
    assert first == dt.datetime(2026, 1, 5, 10, 0)
    # offsets are converted to UTC, not dropped
    extra = archive_records([spec], fetched_at="2026-01-07T12:00:00+02:00")
    stats = warehouse.load_batch(con, make_batch([spec]), run_id=run_id, documents_df=extra)
    assert stats.fetches == 1
    assert con.execute("SELECT max(fetched_at) FROM raw_fetches").fetchone()[0] == dt.datetime(2026, 1, 7, 10, 0)


def test_changed_version_closes_the_old_one(con):
    v1 = label_246811()
    run1, _ = load(con, [v1], now="2026-01-05 10:00:00")
    # reformulated: 25 mg per 5 g, as magnesium citrate
    v2 = label_246811()
    v2["rows"][1].update(amount=25.0, forms=["Magnesium Citrate"])
    v2["facts"][0].update(amount=25.0, amount_mg=25.0, elemental_mg=25.0)
    v2["summary"].update(mg_per_serving=25.0, mg_per_day_min=25.0, mg_per_day_max=75.0, forms=["magnesium citrate"])
    assert version_of(v1) != version_of(v2)
    run2, stats = load(con, [v2], now="2026-02-01 08:00:00")
    assert (stats.new_versions, stats.changed_versions, stats.unchanged_versions) == (1, 1, 0)
    hist = con.execute(
        "SELECT version_id, valid_from, valid_to, first_run_id, last_seen_run_id "
        "FROM label_versions ORDER BY valid_from"
    ).fetchall()
    assert hist == [
        (version_of(v1), dt.datetime(2026, 1, 5, 10), dt.datetime(2026, 2, 1, 8), run1, run1),
        (version_of(v2), dt.datetime(2026, 2, 1, 8), None, run2, run2),
    ]
    # both contents are kept
    assert con.execute("SELECT count(*) FROM labels").fetchone()[0] == 2
    # history view: both versions, the new one current
    lh = con.execute(
        "SELECT version_number, is_current, mg_per_serving, forms FROM label_history ORDER BY version_number"
    ).fetchall()
    assert lh == [(1, False, 20.0, ["magnesium oxide"]), (2, True, 25.0, ["magnesium citrate"])]
    ref = con.execute(
        "SELECT source_id, changed_at, before_mg_per_serving, after_mg_per_serving, before_forms, "
        "after_forms, mg_changed, forms_changed FROM reformulations"
    ).fetchall()
    assert ref == [(
        "246811", dt.datetime(2026, 2, 1, 8), 20.0, 25.0, ["magnesium oxide"], ["magnesium citrate"], True, True,
    )]
    # magnesium_daily shows only the current version
    assert con.execute("SELECT version_id, mg_per_day_max FROM magnesium_daily").fetchall() == [(version_of(v2), 75.0)]


def test_version_that_reappears_gets_a_new_history_row(con):
    v1 = label_220884()
    v2 = label_220884()
    v2["label"]["product_name"] = "Vegan Organic All in One Nutritional Shake French Vanilla (new look)"
    load(con, [v1], now="2026-01-01 00:00:00")
    load(con, [v2], now="2026-01-02 00:00:00")
    run3, stats = load(con, [v1], now="2026-01-03 00:00:00")
    assert (stats.new_versions, stats.changed_versions) == (1, 1)
    assert stats.inserted["labels"] == 0  # content of v1 already stored
    hist = con.execute("SELECT version_id, valid_from, valid_to FROM label_versions ORDER BY valid_from").fetchall()
    assert [h[0] for h in hist] == [version_of(v1), version_of(v2), version_of(v1)]
    assert hist[-1][2] is None and all(h[2] is not None for h in hist[:-1])
    assert con.execute("SELECT count(*) FROM reformulations").fetchone()[0] == 2
    # and a plain re-run changes nothing
    _, stats = load(con, [v1], now="2026-01-04 00:00:00")
    assert (stats.new_versions, stats.changed_versions, stats.unchanged_versions) == (0, 0, 1)
    assert con.execute("SELECT count(*) FROM label_versions").fetchone()[0] == 3


def test_version_back_at_the_same_instant_reopens_its_period(con):
    # chunks of one run may share `now` (seconds): A -> B -> A must keep the history key
    # (source, source_id, version_id, valid_from) unique without a primary key (009)
    v1 = label_220884()
    v2 = label_220884()
    v2["label"]["product_name"] = "Vegan Organic All in One Nutritional Shake French Vanilla (new look)"
    load(con, [v1], now="2026-01-01 00:00:00")
    load(con, [v2], now="2026-01-01 00:00:00")
    _, stats = load(con, [v1], now="2026-01-01 00:00:00")
    assert (stats.new_versions, stats.changed_versions, stats.unchanged_versions) == (1, 1, 0)
    t = dt.datetime(2026, 1, 1)
    hist = con.execute("SELECT version_id, valid_from, valid_to FROM label_versions ORDER BY valid_to NULLS LAST")
    assert hist.fetchall() == [(version_of(v2), t, t), (version_of(v1), t, None)]
    _, stats = load(con, [v1], now="2026-01-01 00:00:00")
    assert (stats.new_versions, stats.changed_versions, stats.unchanged_versions) == (0, 0, 1)
    assert con.execute("SELECT count(*) FROM label_versions").fetchone()[0] == 2


def test_labels_missing_from_a_batch_stay_current(con):
    load(con, real_specs(), now="2026-01-01 00:00:00")
    load(con, [label_49495()], now="2026-01-02 00:00:00")
    assert con.execute("SELECT count(*) FROM label_versions WHERE valid_to IS NULL").fetchone()[0] == 3


def test_two_versions_of_one_label_in_a_batch(con):
    old = label_49495()
    new = label_49495()
    new["label"]["entry_date"] = "2019-01-01"
    new["summary"]["dv_reference"] = DV_420
    run_id = warehouse.start_run(con, "two")
    stats = warehouse.load_batch(con, make_batch([new, old]), run_id=run_id)  # newer one first
    assert stats.labels == 2 and stats.superseded_in_batch == 1 and stats.new_versions == 1
    assert con.execute("SELECT version_id FROM label_versions").fetchall() == [(version_of(new),)]
    assert con.execute("SELECT count(*) FROM labels").fetchone()[0] == 2


def test_numeric_ids_and_tuples_accepted(con):
    batch = make_batch([label_246811()])
    batch.labels["source_id"] = [246811]  # an int id is stored as text
    batch.magnesium_labels["forms"] = [("magnesium oxide",)]
    batch.magnesium_labels = batch.magnesium_labels.drop(columns=["daily_servings_min", "daily_servings_max"])
    run_id = warehouse.start_run(con, "coerce")
    warehouse.load_batch(con, batch, run_id=run_id)
    assert con.execute("SELECT source_id FROM labels").fetchone() == ("246811",)
    assert con.execute("SELECT forms, daily_servings_max FROM magnesium_labels").fetchone() == (["magnesium oxide"], None)


def test_empty_frames_may_lack_columns(con):
    batch = make_batch([label_246811()])
    batch.quarantine = pd.DataFrame()
    batch.label_flags = pd.DataFrame()
    run_id = warehouse.start_run(con, "empty")
    stats = warehouse.load_batch(con, batch, run_id=run_id)
    assert stats.inserted["quarantine"] == 0 and stats.inserted["labels"] == 1


def test_unknown_run_rejected(con):
    with pytest.raises(ValueError, match="start_run"):
        warehouse.load_batch(con, make_batch([label_246811()]), run_id=12345)


def test_finish_run(con):
    run_id = warehouse.start_run(con, "maglabels scrape")
    assert con.execute("SELECT status, ended_at FROM scrape_runs WHERE run_id = ?", [run_id]).fetchone() == ("running", None)
    warehouse.finish_run(con, run_id, "failed", {"errors": 2}, "boom: something broke")
    assert con.execute(
        "SELECT status, errors, message, ended_at IS NOT NULL FROM scrape_runs WHERE run_id = ?", [run_id]
    ).fetchone() == ("failed", 2, "boom: something broke", True)
    with pytest.raises(ValueError):
        warehouse.finish_run(con, run_id, "done")
    # counts without a column of their own are kept as JSON (the CLI reports "skipped")
    warehouse.finish_run(con, run_id, "ok", {"errors": 0, "skipped": 3, "labels": None}, None)
    assert con.execute(
        "SELECT status, errors, extra_counts->>'skipped', labels FROM scrape_runs WHERE run_id = ?", [run_id]
    ).fetchone() == ("ok", 0, "3", None)
    with pytest.raises(ValueError):
        warehouse.finish_run(con, 999, "ok")
    assert warehouse.start_run(con, "next") == run_id + 1


# ------------------------------------------------------------------------------------------
# failures leave every table exactly as it was


@pytest.fixture
def loaded(con):
    load(con, real_specs(), now="2026-01-05 10:00:00")
    return con


def _changed_specs():
    v2 = label_246811()
    v2["summary"].update(mg_per_day_max=90.0)
    extra = variant(label_220884(), source_id="220884-copy")
    return [label_49495(), v2, extra]


def _assert_failure_leaves_state(con, batch, exc_type, match=None, documents_df=None):
    before = snapshot(con)
    run_id = warehouse.start_run(con, "failing")
    after_start = snapshot(con)
    with pytest.raises(exc_type, match=match):
        warehouse.load_batch(con, batch, run_id=run_id, documents_df=documents_df,
                             now=dt.datetime(2026, 3, 1))
    assert snapshot(con) == after_start
    # the caller records the failure in its own small transaction
    warehouse.finish_run(con, run_id, "failed", message="load failed")
    after = snapshot(con, exclude=("scrape_runs",))
    assert after == {k: v for k, v in before.items() if k != "scrape_runs"}
    assert con.execute("SELECT status FROM scrape_runs WHERE run_id = ?", [run_id]).fetchone() == ("failed",)
    # no leftover registrations, connection usable, not inside a transaction
    assert not [v for (v,) in con.execute("SELECT view_name FROM duckdb_views() WHERE view_name LIKE '_wh_in_%'").fetchall()]
    assert not con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()  # _wh_versions
    con.begin()
    con.rollback()


def test_missing_column_fails_cleanly(loaded):
    batch = make_batch(_changed_specs())
    batch.magnesium_facts = batch.magnesium_facts.drop(columns=["elemental_mg"])
    _assert_failure_leaves_state(loaded, batch, ValueError, match="magnesium_facts.*elemental_mg")


def test_batch_missing_attribute(loaded):
    class Partial:
        labels = make_batch(real_specs()).labels

    _assert_failure_leaves_state(loaded, Partial(), TypeError, match="ingredient_rows")


def test_bad_value_fails_cleanly(loaded):
    batch = make_batch(_changed_specs())
    batch.labels.loc[0, "entry_date"] = "25/08/2015 or so"
    _assert_failure_leaves_state(loaded, batch, ValueError, match="entry_date")


def test_constraint_violation_midway_rolls_back(loaded):
    # labels, ingredient_rows and magnesium_facts insert fine, then label_flags hits NOT NULL
    batch = make_batch(_changed_specs())
    batch.label_flags = pd.DataFrame(
        [{"source": "dsld", "source_id": "220884-copy", "version_id": version_of(_changed_specs()[2]),
          "flag": None, "reason": "flag name lost"}]
    )
    _assert_failure_leaves_state(
        loaded, batch, duckdb.ConstraintException,
        documents_df=archive_records(_changed_specs(), fetched_at="2026-03-01T00:00:00Z"),
    )


def test_forced_exception_in_history_step_rolls_back(loaded, monkeypatch):
    calls = []
    real_update = load_mod._update_history

    def exploding(con, view, run_id, now, stats):
        real_update(con, view, run_id, now, stats)  # history written too ...
        calls.append(dict(stats.inserted))
        raise RuntimeError("forced failure after every write")  # ... then the load dies

    monkeypatch.setattr(load_mod, "_update_history", exploding)
    _assert_failure_leaves_state(
        loaded, make_batch(_changed_specs()), RuntimeError, match="forced",
        documents_df=archive_records(_changed_specs(), fetched_at="2026-03-01T00:00:00Z"),
    )
    assert calls and calls[0]["labels"] == 2  # the writes really happened before the rollback


def test_interrupt_rolls_back(loaded, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(load_mod, "_update_history", interrupted)
    _assert_failure_leaves_state(loaded, make_batch(_changed_specs()), KeyboardInterrupt)


def test_load_after_failure_works(loaded, monkeypatch):
    batch = make_batch(_changed_specs())
    bad = make_batch(_changed_specs())
    bad.labels = bad.labels.drop(columns=["brand"])
    run_id = warehouse.start_run(loaded, "retry")
    with pytest.raises(ValueError):
        warehouse.load_batch(loaded, bad, run_id=run_id)
    stats = warehouse.load_batch(loaded, batch, run_id=run_id, now=dt.datetime(2026, 3, 1))
    assert (stats.new_versions, stats.changed_versions, stats.unchanged_versions) == (2, 1, 1)


def test_batch_protocol():
    assert isinstance(make_batch(real_specs()), warehouse.BatchLike)
    assert isinstance(make_batch(real_specs()), NormalizedBatch)


def test_stats_of_chunks_add_up(con):
    run_id = warehouse.start_run(con, "chunks")
    a = warehouse.load_batch(con, make_batch([label_49495()]), run_id=run_id)
    b = warehouse.load_batch(con, make_batch([label_246811(), label_220884()]), run_id=run_id)
    total = a + b
    assert total.new_versions == 3 and total.inserted["labels"] == 3 and total.facts == 3
    warehouse.finish_run(con, run_id, "ok", total)
    assert con.execute("SELECT labels, facts FROM scrape_runs WHERE run_id = ?", [run_id]).fetchone() == (3, 3)


def test_renormalising_unchanged_labels_replaces_their_derived_rows(con):
    # The same real labels normalised by "improved code": same version ids, different derived rows.
    from maglabels.normalize.batch import normalize_labels

    from tests.realdata import dsld_label

    batch = normalize_labels([dsld_label("49495"), dsld_label("246811")])
    warehouse.load_batch(con, batch, run_id=warehouse.start_run(con, "first"))
    before = counts(con)
    improved = normalize_labels([dsld_label("49495"), dsld_label("246811")])
    improved.magnesium_labels.loc[improved.magnesium_labels.source_id == "49495", "mg_per_serving"] = 51.0
    improved.label_flags = pd.concat([improved.label_flags, pd.DataFrame([{
        **improved.magnesium_labels.iloc[0][["source", "source_id", "version_id"]].to_dict(),
        "flag": "dv_mismatch", "reason": "new rule"}])], ignore_index=True)
    stats = warehouse.load_batch(con, improved, run_id=warehouse.start_run(con, "again"))
    assert stats.new_versions == 0
    assert con.execute("SELECT mg_per_serving FROM magnesium_labels WHERE source_id = '49495'").fetchall() == [(51.0,)]
    after = counts(con)
    assert after["label_flags"] == before["label_flags"] + 1
    assert {k: v for k, v in after.items() if k not in ("label_flags", "scrape_runs")} == \
        {k: v for k, v in before.items() if k not in ("label_flags", "scrape_runs")}


# ------------------------------------------------------------------------------------------
# content decided per label version; natural keys held by the loader (008: no primary key)


KEY_COLUMNS = ["source", "source_id", "version_id"]


def _real_batch(ids=("49495", "246811"), normalizer_version="nv-test-1"):
    """Real DSLD labels through the real normaliser, stamped as the pipeline stamps them."""
    from maglabels.normalize.batch import normalize_labels

    from tests.realdata import dsld_label

    batch = normalize_labels([dsld_label(i) for i in ids])
    batch.labels["normalizer_version"] = normalizer_version
    return batch


def _with_extra_flag(batch):
    key = batch.labels.loc[batch.labels.source_id == "49495", KEY_COLUMNS].iloc[0].to_dict()
    batch.label_flags = pd.concat([batch.label_flags, pd.DataFrame([{**key, "flag": "dv_mismatch",
                                                                      "reason": "new rule"}])], ignore_index=True)
    return batch


def test_versions_stored_by_this_normaliser_get_none_of_their_rows(con):
    warehouse.load_batch(con, _real_batch(), run_id=warehouse.start_run(con, "first"))
    before = snapshot(con, exclude=("scrape_runs", "label_versions"))
    # same versions, same normaliser version: decided per version, so even a row the warehouse
    # lacks is not inserted (that normaliser version already produced these versions' rows)
    stats = warehouse.load_batch(con, _with_extra_flag(_real_batch()), run_id=warehouse.start_run(con, "again"))
    assert all(n == 0 for n in stats.inserted.values()) and stats.unchanged_versions == 2
    assert snapshot(con, exclude=("scrape_runs", "label_versions")) == before
    # a new normaliser version: the versions are stale, their rows replaced (one flag more)
    stats = warehouse.load_batch(con, _with_extra_flag(_real_batch(normalizer_version="nv-test-2")),
                                 run_id=warehouse.start_run(con, "improved"))
    assert stats.inserted["label_flags"] == 1 and stats.inserted["ingredient_rows"] == 0
    after = counts(con)
    assert after["label_flags"] == len(before["label_flags"]) + 1
    assert after["ingredient_rows"] == len(before["ingredient_rows"])
    assert con.execute("SELECT DISTINCT normalizer_version FROM labels").fetchall() == [("nv-test-2",)]


def test_overlapping_chunks_store_every_natural_key_once(con):
    # 246811 is in both chunks of the run; the warehouse must equal one load of the three labels
    run_id = warehouse.start_run(con, "chunks")
    warehouse.load_batch(con, _real_batch(("49495", "246811")), run_id=run_id)
    stats = warehouse.load_batch(con, _real_batch(("246811", "220884")), run_id=run_id)
    assert stats.inserted["labels"] == 1 and stats.unchanged_versions == 1
    once = warehouse.connect(":memory:")
    try:
        warehouse.load_batch(once, _real_batch(("49495", "246811", "220884")), run_id=warehouse.start_run(once, "one"))
        chunked, whole = snapshot(con), snapshot(once)
    finally:
        once.close()
    for table in CONTENT:
        assert chunked[table] == whole[table], table
    for table, spec in load_mod.CONTENT_TABLES.items():
        key = ", ".join(spec.key)
        assert not con.execute(f"SELECT {key} FROM {table} GROUP BY ALL HAVING count(*) > 1").fetchall(), table
    assert counts(con)["ingredient_rows"] > 100  # real panels, not a toy


def test_unreadable_documents_are_quarantined_once(con):
    # a real label file cut short: the pipeline's quarantine row has a sha-prefix version_id and
    # no labels row, so the loader checks it row by row
    import json

    from maglabels.scrapers.files import json_error

    from maglabels.pipeline import DocumentProblem, problem_rows
    from tests.realdata import LABEL_DIR

    try:
        json.loads((LABEL_DIR / "49495.json").read_bytes()[:300])
    except ValueError as exc:
        lost = problem_rows([DocumentProblem(None, json_error(exc), "labels/49495-cut.json")])

    def batch():
        b = _real_batch()
        b.quarantine = pd.concat([b.quarantine, lost], ignore_index=True)
        return b

    first = warehouse.load_batch(con, batch(), run_id=warehouse.start_run(con, "first"))
    assert first.quarantined == len(_real_batch().quarantine) + 1
    again = warehouse.load_batch(con, batch(), run_id=warehouse.start_run(con, "again"))
    alone = warehouse.load_batch(
        con, SimpleBatch(quarantine=lost), run_id=warehouse.start_run(con, "alone"))
    assert again.quarantined == 0 and alone.quarantined == 0
    rows = con.execute("SELECT source, reason FROM quarantine WHERE reason_code = 'unreadable_document'").fetchall()
    assert rows == [("file", lost.reason[0])] and rows[0][1].startswith("invalid JSON")
    assert counts(con)["quarantine"] == first.quarantined


class SimpleBatch:
    """A batch with only some frames filled (the others empty)."""

    def __init__(self, **frames: pd.DataFrame) -> None:
        for name in CONTENT:
            setattr(self, name, frames.get(name, pd.DataFrame()))


class Recorder:
    """The connection, with the text of every statement ``load_batch`` executes kept."""

    def __init__(self, con) -> None:
        self._con, self.sql = con, []

    def execute(self, sql, *args):
        self.sql.append(" ".join(sql.split()))
        return self._con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._con, name)


def test_new_labels_with_unique_keys_are_plain_inserts(con):
    # the ingest's case (every label new, keys unique): no per-key window over the rows, no
    # look-up filter, and the history is only inserted (the general path scanned label_versions
    # with three UPDATEs per chunk)
    rec = Recorder(con)
    stats = warehouse.load_batch(rec, _real_batch(), run_id=warehouse.start_run(con, "new"),
                                 documents_df=archive_records([label_49495(), label_246811()]))
    content = [s for s in rec.sql if s.startswith("INSERT INTO") and s.split()[2].strip('"') in CONTENT]
    assert len(content) == sum(1 for t in CONTENT if len(getattr(_real_batch(), t)))
    assert not [s for s in content if "row_number" in s or "EXISTS" in s]
    assert not [s for s in rec.sql if s.startswith("INSERT") and "row_number" in s]  # history, fetches too
    assert not [s for s in rec.sql if s.startswith("UPDATE")]
    assert (stats.new_versions, stats.changed_versions, stats.unchanged_versions) == (2, 0, 0)
    assert stats.inserted == {t: len(getattr(_real_batch(), t)) for t in CONTENT}
    # the general path, on the same labels again: a stored version's rows are filtered out
    rec.sql.clear()
    again = warehouse.load_batch(rec, _real_batch(), run_id=warehouse.start_run(con, "again"))
    assert [s for s in rec.sql if s.startswith("UPDATE label_versions")]
    assert all(n == 0 for n in again.inserted.values()) and again.unchanged_versions == 2


def test_a_repeated_key_among_new_labels_keeps_its_first_row(con):
    # keys repeat in one table only, with other content: the first row of the frame wins
    batch = _real_batch()
    first = batch.ingredient_rows.iloc[[0]]
    batch.ingredient_rows = pd.concat([batch.ingredient_rows, first.assign(name="a later copy")], ignore_index=True)
    stats = warehouse.load_batch(con, batch, run_id=warehouse.start_run(con, "repeat"))
    assert stats.inserted["ingredient_rows"] == len(batch.ingredient_rows) - 1
    key = first[list(load_mod.CONTENT_TABLES["ingredient_rows"].key)].iloc[0].tolist()
    names = con.execute("SELECT name FROM ingredient_rows WHERE source = ? AND source_id = ? AND version_id = ? "
                        "AND row_id = ?", key).fetchall()
    assert names == [(first["name"].iloc[0],)]
    # and a repeated fetch record is stored once
    docs = pd.concat([archive_records([label_220884()])] * 2)
    assert warehouse.load_batch(con, make_batch([label_220884()]), run_id=warehouse.start_run(con, "docs"),
                                documents_df=docs).fetches == 1
