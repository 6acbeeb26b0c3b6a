"""The nightly DSLD job against a DSLD simulator on 127.0.0.1 serving real labels (no internet)."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from filelock import FileLock

from maglabels.cli import cli
from tests.dsld_simulator import DsldSimulator, load_labels

ROOT = Path(__file__).resolve().parents[1]
N_LABELS = 120
WINDOW = 60
POISON_500 = 0  # index (in id order, among magnesium labels) of a label that always answers 500


@pytest.fixture(scope="module")
def labels():
    return load_labels(N_LABELS)


@pytest.fixture()
def sim(labels):
    with DsldSimulator(labels, window=WINDOW) as s:
        yield s


def sim_env(sim: DsldSimulator, data: Path) -> dict[str, str]:
    return {
        "MAGLABELS_DATA_DIR": str(data), "MAGLABELS_DSLD_BASE_URL": sim.base_url,
        "MAGLABELS_DSLD_REQUESTS_PER_HOUR": "36000000", "MAGLABELS_DSLD_PAGE_SIZE": "20",
        "MAGLABELS_DSLD_RESULT_WINDOW": str(sim.window), "MAGLABELS_RETRY_STATUSES": "429",
    }


@pytest.fixture()
def crawl(sim, tmp_path, monkeypatch):
    """Run the CLI in-process against the simulator; returns (exit code, output)."""
    for k, v in sim_env(sim, tmp_path / "data").items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("MAGLABELS_DB", raising=False)
    monkeypatch.delenv("MAGLABELS_DSLD_API_KEY", raising=False)
    monkeypatch.delenv("DSLD_API_KEY", raising=False)

    def run(*args: str):
        result = CliRunner().invoke(cli, ["run", "--no-corpus", *args], catch_exceptions=False)
        return result.exit_code, result.output

    run.db = tmp_path / "data" / "maglabels.duckdb"
    return run


def magnesium_ids(sim: DsldSimulator) -> set[str]:
    q = {"ingredient_name": "Magnesium", "status": "2"}
    return {str(i) for i, lab in sim.labels.items() if sim._matches(lab, q)}


def query(db: Path, sql: str):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def checksum(db: Path) -> tuple[int, str]:
    """magnesium_daily without its load timestamp: (rows, md5 of every row in order)."""
    return query(db, "SELECT count(*), md5(string_agg(CAST(d AS VARCHAR), '|' ORDER BY CAST(d AS VARCHAR))) "
                     "FROM (SELECT * EXCLUDE (valid_from) FROM magnesium_daily) AS d")[0]


def assert_no_duplicates(db: Path) -> None:
    for table, key in (("labels", "source, source_id, version_id"), ("magnesium_daily", "source, source_id")):
        dupes = query(db, f"SELECT count(*) - count(DISTINCT ({key})) FROM {table}")[0][0]
        assert dupes == 0, table


def last_status(db: Path) -> str:
    return query(db, "SELECT status FROM scrape_runs ORDER BY run_id DESC LIMIT 1")[0][0]


def loaded_ids(db: Path) -> set[str]:
    return {r[0] for r in query(db, "SELECT source_id FROM labels WHERE source = 'dsld'")}


# --------------------------------------------------------------------------- resumable, incremental


def test_unchanged_source_sends_only_discovery_and_due_refreshes(sim, crawl):
    code, out = crawl()
    assert code == 0, out
    wanted = magnesium_ids(sim)
    assert loaded_ids(crawl.db) == wanted
    first = sim.total
    assert sim.hits["label"] == len(wanted)  # each label once

    before = sim.total
    assert crawl()[0] == 0
    assert sim.total - before == 1  # one newest-first page, all known: nothing else

    # five labels pass the refresh period: exactly those are fetched again
    con = duckdb.connect(str(crawl.db))
    stale = [r[0] for r in con.execute("SELECT label_id FROM crawl_frontier ORDER BY label_id LIMIT 5").fetchall()]
    con.execute("UPDATE crawl_frontier SET last_fetched_at = last_fetched_at - INTERVAL 31 DAY "
                f"WHERE label_id IN ({', '.join(map(str, stale))})")
    con.close()
    before, labels_before = sim.total, sim.hits["label"]
    assert crawl()[0] == 0
    assert sim.hits["label"] - labels_before == 5 and sim.total - before == 1 + 5

    # a new label entered upstream (newest entry date): found by the cheap newest-first pass
    new = dict(next(lab for lab in sim.labels.values() if str(lab["id"]) in wanted))
    new["id"], new["entryDate"] = 999_999_001, "2099-01-01"
    sim.labels[new["id"]] = new
    before = sim.total
    code, out = crawl()
    assert code == 0, out
    assert sim.total - before == 2 + 1  # newest page (one unknown), next page all known, one label
    assert "999999001" in loaded_ids(crawl.db)
    assert first < sim.total
    assert_no_duplicates(crawl.db)
    status = json.loads(CliRunner().invoke(cli, ["status", "--json"]).output)
    assert status["discovered"] == status["fetched"] == len(wanted) + 1
    assert status["pending"] == 0 and status["failed"] == 0 and status["eta_hours"] == 0


def _in_process(monkeypatch, env: dict, *args: str):
    with monkeypatch.context() as m:
        for k, v in env.items():
            m.setenv(k, v)
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_budgeted_runs_and_a_kill_9_end_like_one_uninterrupted_run(sim, tmp_path, monkeypatch):
    poison = sorted(magnesium_ids(sim), key=int)[POISON_500]
    sim.poison[int(poison)] = "500"
    code, out = _in_process(monkeypatch, sim_env(sim, tmp_path / "ref"), "run", "--no-corpus")
    assert code == 3, out  # the poison label is lost: partial
    ref_db = tmp_path / "ref" / "maglabels.duckdb"

    env = sim_env(sim, tmp_path / "resumed")
    db = tmp_path / "resumed" / "maglabels.duckdb"
    sim.label_hits.clear()
    # 1. a run killed with SIGKILL at a seeded-random point: after its k-th label request
    k = random.Random(20261121).randint(5, 60)
    victim = subprocess.Popen([sys.executable, "-m", "maglabels", "run", "--no-corpus", "--requests-per-hour", "72000"],
                              cwd=ROOT, env=dict(os.environ, **env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while sum(sim.label_hits.values()) < k and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    killed_fetches = sum(sim.label_hits.values())
    # 2. runs under a small request budget until nothing is pending (bounded)
    codes = []
    for _ in range(12):
        code, out = _in_process(monkeypatch, env, "run", "--no-corpus", "--max-requests", "40")
        assert code in (0, 3), out
        codes.append(code)
        status = json.loads(_in_process(monkeypatch, env, "status", "--json")[1])
        if status["pending"] == 1 and status["due_refresh"] == 0 and status["loaded"] == status["fetched"]:
            break
    else:
        pytest.fail(f"crawl did not finish in 12 budgeted runs: {status}")
    assert 0 < killed_fetches < len(magnesium_ids(sim)) and len(codes) > 1  # both really split the work
    assert checksum(db) == checksum(ref_db)
    assert loaded_ids(db) == loaded_ids(ref_db) == magnesium_ids(sim) - {poison}
    assert_no_duplicates(db)
    # every good label fetched once; at most one twice (the request in flight at the kill)
    twice = {i for i, n in sim.label_hits.items() if n > 1 and i != poison}
    assert set(sim.label_hits) == magnesium_ids(sim) and len(twice) <= 1
    statuses = [r[0] for r in query(db, "SELECT status FROM scrape_runs ORDER BY run_id")]
    assert statuses[0] == "aborted" and "running" not in statuses


def test_overlapping_run_exits_at_once(crawl, tmp_path, sim):
    with FileLock(str(tmp_path / "data" / "nightly.lock"), timeout=0):
        code, out = crawl()
    assert code == 5 and out.count("\n") == 1 and "another maglabels nightly run" in out
    assert sim.total == 0  # no network work


# --------------------------------------------------------------------------- discovery problems


def test_window_overflow_partition_is_recorded(labels, tmp_path, monkeypatch):
    with DsldSimulator(labels, window=20) as small:
        for k, v in sim_env(small, tmp_path / "data").items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("MAGLABELS_DSLD_PAGE_SIZE", "10")
        result = CliRunner().invoke(cli, ["run", "--no-corpus"])
        db = tmp_path / "data" / "maglabels.duckdb"
        rows = query(db, "SELECT partition_key, problem, reported_count, seen FROM crawl_problems "
                         "WHERE problem = 'window_overflow'")
        assert rows, result.output
        for _key, _problem, reported, seen in rows:
            assert reported > 2 * 20 and seen == 2 * 20  # read asc + desc, the rest recorded as unreachable
        assert result.exit_code == 3 and last_status(db) == "partial"
        assert loaded_ids(db) < magnesium_ids(small)
        assert_no_duplicates(db)


@pytest.mark.parametrize("fault, problem", [("ignore_from", "from_ignored"), ("count_too_low", "count_too_low")])
def test_search_faults_are_recorded_not_silent(sim, crawl, fault, problem):
    if fault == "ignore_from":
        sim.ignore_from = True
    else:
        sim.count_offset = -3
    code, out = crawl()
    assert code == 3, out
    problems = {r[0] for r in query(crawl.db, "SELECT problem FROM crawl_problems")}
    assert problem in problems
    assert last_status(crawl.db) == "partial"
    assert_no_duplicates(crawl.db)


def test_invalid_ids_from_the_search_never_reach_a_url(sim, crawl):
    sim.bad_hits = ["12\r\n", "../../x", -4, "7 OR 1=1"]
    code, out = crawl()
    assert code == 3, out
    assert sim.hits["other"] == 0  # nothing outside search-filter and label/<digits> was asked
    assert loaded_ids(crawl.db) == magnesium_ids(sim)  # the run went on
    assert "invalid label id" in out and "Traceback" not in out
    assert last_status(crawl.db) == "partial"


# --------------------------------------------------------------------------- label faults and quota


@pytest.mark.parametrize("mode", ["500", "badjson", "empty", "wrongid"])
def test_poison_labels_are_lost_documents_and_the_rest_loads(sim, crawl, mode):
    ids = sorted(int(i) for i in magnesium_ids(sim))
    bad = {ids[3], ids[40]}
    for i in bad:
        sim.poison[i] = mode
    code, out = crawl()
    assert code == 3, out
    assert loaded_ids(crawl.db) == magnesium_ids(sim) - {str(i) for i in bad}
    assert query(crawl.db, "SELECT errors FROM scrape_runs")[0][0] == 2
    assert last_status(crawl.db) == "partial"
    assert_no_duplicates(crawl.db)
    failed = query(crawl.db, "SELECT label_id, last_status, attempts FROM crawl_frontier WHERE last_status <> 'ok'")
    assert {r[0] for r in failed} == bad and all(r[1:] == ("error", 1) for r in failed)


@pytest.mark.parametrize("retry_after", ["1", "date:2"])
def test_429_with_retry_after_is_honoured(sim, crawl, retry_after):
    sim.retry_after = retry_after
    sim.throttle_next = 2  # the first two requests get a 429, then normal service
    code, out = crawl()
    assert code == 0, out
    assert sim.hits["429"] == 2
    # the client waited as told (an HTTP-date has whole seconds: "2 s ahead" is more than 1 s)
    assert sim.throttled_at[1] - sim.throttled_at[0] >= 0.9
    assert sim.first_after_throttle - sim.throttled_at[1] >= 0.9
    assert loaded_ids(crawl.db) == magnesium_ids(sim)
    assert last_status(crawl.db) == "ok"
    assert_no_duplicates(crawl.db)


def test_quota_that_stays_exhausted_ends_rate_limited_and_the_next_run_resumes(sim, crawl):
    sim.quota = 30
    sim.retry_after = "3600"  # past the client's cap: no point waiting
    code, out = crawl()
    assert code == 4, out
    db = crawl.db
    assert last_status(db) == "rate_limited"
    partial_ids = loaded_ids(db)
    assert 0 < len(partial_ids) < len(magnesium_ids(sim))  # what was fetched is loaded
    sim.quota = None
    code, out = crawl()
    assert code == 0, out
    assert loaded_ids(db) == magnesium_ids(sim)
    # nothing fetched twice (label_hits counts served label requests, not the 429)
    assert set(sim.label_hits) == magnesium_ids(sim) and set(sim.label_hits.values()) == {1}
    assert_no_duplicates(db)


def test_status_json_and_log_lines(sim, crawl):
    assert crawl("--max-requests", "30")[0] == 0
    result = CliRunner().invoke(cli, ["status", "--json"])
    info = json.loads(result.output)
    assert {"discovered", "fetched", "pending", "failed", "eta_hours"} <= set(info)
    assert info["fetched"] > 0 and info["pending"] == info["discovered"] - info["fetched"] > 0
    assert info["eta_hours"] == pytest.approx(info["pending"] / 36_000_000, abs=0.01)
    text = CliRunner().invoke(cli, ["status"]).output
    assert "pending" in text and "hours" in text


def test_frontier_backoff_then_gives_up(tmp_path):
    from maglabels.scrapers import frontier
    from maglabels.scrapers.dsld import utc_now
    from maglabels.warehouse import db as warehouse_db

    con = warehouse_db.connect(tmp_path / "w.duckdb")
    now = utc_now()
    frontier.add_discovered(con, [5, 6], now)
    waits = []
    for _ in range(frontier.MAX_ATTEMPTS):
        assert 5 in frontier.work_queue(con, now, refresh_days=30)
        frontier.record_outcomes(con, [frontier.Outcome(5, now, error="500")])
        nxt = con.execute("SELECT next_attempt_at, last_status FROM crawl_frontier WHERE label_id = 5").fetchone()
        waits.append(nxt[0] - now)
        now = nxt[0]
    assert waits[:3] == [timedelta(hours=1), timedelta(hours=2), timedelta(hours=4)]
    assert nxt[1] == "gave_up" and 5 not in frontier.work_queue(con, now + timedelta(days=60), refresh_days=30)
    assert frontier.work_queue(con, now, refresh_days=30) == [6]
    con.close()


def test_bulk_zip_streams_labels_into_the_warehouse_and_the_frontier(tmp_path, monkeypatch):
    import zipfile

    from maglabels.scrapers.dsld_bulk import BulkLabel, BulkProblem, iter_zip_labels

    from tests.realdata import LABEL_DIR

    zpath = tmp_path / "DSLD-full-database-JSON.zip"
    real = sorted(LABEL_DIR.glob("*.json"))
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, path in enumerate(real):
            zf.write(path, f"labels/part{i % 2}/{path.name}")
        zf.writestr("labels/broken.json", '{"id": 5, "ingredientRows": [')
        zf.writestr("labels/evil.json", '{"id": "../../x", "ingredientRows": []}')
        zf.writestr("README.txt", "not a label")
    items = list(iter_zip_labels(zpath))
    assert sorted(i.label_id for i in items if isinstance(i, BulkLabel)) == sorted(int(p.stem) for p in real)
    assert sorted(i.member for i in items if isinstance(i, BulkProblem)) == ["labels/broken.json", "labels/evil.json"]
    assert list(iter_zip_labels(zpath, max_member_bytes=10))[0].reason.startswith("member of")

    monkeypatch.setenv("MAGLABELS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MAGLABELS_DB", raising=False)
    result = CliRunner().invoke(cli, ["ingest", str(zpath)])
    assert result.exit_code == 3, result.output  # two members lost
    db = tmp_path / "data" / "maglabels.duckdb"
    assert loaded_ids(db) == {p.stem for p in real}
    info = json.loads(CliRunner().invoke(cli, ["status", "--json"]).output)
    assert info["discovered"] == info["fetched"] == info["loaded"] == len(real) and info["pending"] == 0


def test_network_loss_stops_the_run_without_using_up_attempts(labels, tmp_path, monkeypatch):
    data = tmp_path / "data"
    db = data / "maglabels.duckdb"
    with DsldSimulator(labels, window=WINDOW) as first:
        env = sim_env(first, data)
        assert _in_process(monkeypatch, env, "run", "--no-corpus", "--max-requests", "40")[0] == 0
    # the server is gone: the run stops after a few transport failures, labels keep their attempts
    code, out = _in_process(monkeypatch, {**env, "MAGLABELS_DSLD_RETRY_ATTEMPTS": "1"}, "run", "--no-corpus")
    assert code == 3 and "network unreachable" in out, out
    assert query(db, "SELECT count(*) FROM crawl_frontier WHERE attempts > 0")[0][0] == 0
    assert last_status(db) == "partial"
    with DsldSimulator(labels, window=WINDOW) as back:  # back (on another port): the crawl completes
        code, out = _in_process(monkeypatch, sim_env(back, data), "run", "--no-corpus")
        assert code == 0, out
        assert loaded_ids(db) == magnesium_ids(back)
        assert set(back.label_hits.values()) == {1}  # what the first run fetched was not fetched again
        assert_no_duplicates(db)


def test_log_lines_have_timestamps_and_json_format(capsys):
    import logging

    from maglabels.runlog import Progress, setup_logging

    setup_logging(fmt="json")
    logging.getLogger("maglabels.test").warning("hello %s", "there")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["message"] == "hello there" and line["level"] == "warning" and line["ts"].endswith("+00:00")
    setup_logging()
    now = [0.0]
    progress = Progress(10, "DSLD labels", every=60, tty=False, clock=lambda: now[0])
    for _ in range(10):
        now[0] += 20  # a label every 20 s
        progress.update(errors=0)
    lines = [x for x in capsys.readouterr().err.splitlines() if "DSLD labels" in x]
    assert len(lines) == 3  # one line a minute of (fake) clock, not one per label
    assert lines[0].split(" ")[0].endswith("Z") and "errors=0" in lines[0]


def test_failed_load_keeps_the_warehouse_and_the_next_run_loads_what_was_fetched(sim, crawl, monkeypatch):
    import maglabels.nightly

    def broken(*args, **kwargs):
        raise RuntimeError("disk full (simulated)")

    with monkeypatch.context() as m:
        m.setattr(maglabels.loading, "load_batch", broken)
        code, out = crawl()
    assert code == 1 and "maglabels: error:" in out and "Traceback" not in out
    assert loaded_ids(crawl.db) == set() and last_status(crawl.db) == "failed"
    fetched = sim.hits["label"]
    code, out = crawl()  # nothing due to fetch again: the archive has it, this run loads it
    assert code == 0, out
    assert sim.hits["label"] == fetched and loaded_ids(crawl.db) == magnesium_ids(sim)
