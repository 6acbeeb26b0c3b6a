"""End to end through the CLI on the bundled real data (offline replay; no network)."""
import duckdb
from click.testing import CliRunner

from maglabels.cli import cli

TABLES = ["labels", "label_versions", "ingredient_rows", "magnesium_facts", "magnesium_labels", "label_flags",
          "quarantine"]


def invoke(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def snapshot(db):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in TABLES}
    finally:
        con.close()


def test_offline_run_builds_the_database_and_prints_the_report(env):
    result = invoke("run", "--offline")
    assert result.exit_code == 0, result.output
    assert "Magnesium range report" in result.output
    db = env / "data" / "maglabels.duckdb"
    con = duckdb.connect(str(db), read_only=True)
    daily = con.execute("SELECT source, source_id, mg_per_day_min, mg_per_day_max, range_status, above_ul "
                        "FROM magnesium_daily").fetchdf().set_index("source_id")
    # the six magnesium labels of the replayed DSLD API, plus the 12,410 corpus labels with a Magnesium
    # panel row (the six ids are among them: the API label, read first, is kept)
    assert {"49495", "220884", "246811", "249664", "261967", "276336"} <= set(daily.index)
    assert len(daily) == 12410
    assert daily.loc["246811", ["mg_per_day_min", "mg_per_day_max"]].tolist() == [20.0, 60.0]
    assert daily.loc["246811", "range_status"] == "below"
    runs = con.execute("SELECT status FROM scrape_runs").fetchall()
    assert runs == [("ok",)]
    con.close()


def test_rerun_adds_no_duplicates(env):
    assert invoke("run", "--offline").exit_code == 0
    db = env / "data" / "maglabels.duckdb"
    before = snapshot(db)
    assert invoke("run", "--offline").exit_code == 0
    after = snapshot(db)
    for table in TABLES:
        if table == "label_versions":  # only last_seen_run_id moves on
            assert [r[:5] for r in after[table]] == [r[:5] for r in before[table]]
        else:
            assert after[table] == before[table], table


def test_failed_run_leaves_the_warehouse_as_it_was(env, monkeypatch):
    assert invoke("run", "--offline").exit_code == 0
    db = env / "data" / "maglabels.duckdb"
    before = snapshot(db)

    import maglabels.warehouse.load

    def broken(*args, **kwargs):
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(maglabels.warehouse.load, "_update_history", broken)
    # a changed label would otherwise write new rows: ingest a real label under another file name
    result = CliRunner().invoke(cli, ["normalize"])
    assert result.exit_code == 1
    assert "load failed, warehouse unchanged" in result.output
    assert "Traceback" not in result.output
    assert snapshot(db) == before
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT status FROM scrape_runs ORDER BY run_id").fetchall()[-1] == ("failed",)


def test_ingest_files_and_directories(env):
    from tests.realdata import LABEL_DIR

    result = invoke("ingest", str(LABEL_DIR / "49495.json"), str(LABEL_DIR))
    assert result.exit_code == 0, result.output
    con = duckdb.connect(str(env / "data" / "maglabels.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM labels").fetchone()[0] == 15
    assert con.execute("SELECT count(*) FROM magnesium_daily").fetchone()[0] == 6


def test_unreadable_database_is_one_clear_line(env):
    bad = env / "not-a-db.duckdb"
    bad.write_text("this is not a database")
    result = CliRunner().invoke(cli, ["report", "--db", str(bad)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "maglabels: error:" in result.output


def test_bad_arguments_exit_non_zero(env):
    result = CliRunner().invoke(cli, ["run", "--limit", "0"])
    assert result.exit_code == 2 and "Invalid value for '--limit'" in result.output


def test_offline_run_fills_the_crawl_frontier_and_status(env):
    import json

    assert invoke("run", "--offline", "--no-corpus").exit_code == 0
    info = json.loads(invoke("status", "--json").output)
    assert info["discovered"] == info["fetched"] == info["loaded"] == 6  # the bundled magnesium labels
    assert info["pending"] == 0 and info["failed"] == 0 and info["last_full_discovery"] is not None
    assert invoke("status", "--json", "--db", str(env / "nowhere.duckdb")).exit_code == 1
