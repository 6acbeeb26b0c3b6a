"""Write sessions: analysts' read-only sessions never stop the job; a failed write changes nothing
and is recorded; the registry's DuckDB CLI opens what the code writes."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from filelock import FileLock
from maglabels.warehouse import db, session
from maglabels.warehouse.db import WarehouseError
from maglabels.warehouse.runs import finish_run, start_run

from maglabels.cli import cli

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _env(tmp_path: Path) -> dict[str, str]:
    e = dict(os.environ, MAGLABELS_DATA_DIR=str(tmp_path / "data"))
    e.pop("MAGLABELS_DB", None)
    return e


def _maglabels(tmp_path: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maglabels", *args], cwd=tmp_path, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=timeout)


READER = textwrap.dedent("""
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    print(con.execute("SELECT count(*) FROM label_versions").fetchone()[0], flush=True)
    sys.stdin.readline()                      # hold the file open until the test says so
    print(con.execute("SELECT count(*) FROM label_versions").fetchone()[0], flush=True)
""")


def test_run_completes_while_an_analyst_holds_the_file_read_only(tmp_path):
    dbfile = tmp_path / "data" / "maglabels.duckdb"
    first = _maglabels(tmp_path, "run", "--offline", "--no-corpus")
    assert first.returncode == 0, first.stderr
    before = duckdb.connect(str(dbfile), read_only=True)
    n_before = before.execute("SELECT count(*) FROM label_versions").fetchone()[0]
    before.close()

    reader = subprocess.Popen([sys.executable, "-c", READER, str(dbfile)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert int(reader.stdout.readline()) == n_before  # the reader has its connection open
        run = _maglabels(tmp_path, "run", "--offline")  # with the corpus: many more labels
        assert run.returncode == 0, run.stderr
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert int(reader.stdout.readline()) == n_before  # still its old snapshot
    finally:
        reader.stdin.close()
        reader.wait(timeout=60)
    fresh = duckdb.connect(str(dbfile), read_only=True)
    n_after = fresh.execute("SELECT count(*) FROM label_versions").fetchone()[0]
    statuses = [r[0] for r in fresh.execute("SELECT status FROM scrape_runs ORDER BY run_id").fetchall()]
    fresh.close()
    assert n_after > n_before + 700  # the 731 corpus products arrived
    assert statuses == ["ok", "ok"]
    assert not list(dbfile.parent.glob(".maglabels.duckdb.*.tmp"))  # no copy left behind


def _cli(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_lock_timeout_exits_1_and_is_recorded_by_the_next_run(env, monkeypatch):
    dbfile = env / "data" / "maglabels.duckdb"
    assert _cli("run", "--offline", "--no-corpus").exit_code == 0
    monkeypatch.setenv("MAGLABELS_LOCK_TIMEOUT", "0.2")
    with FileLock(str(dbfile) + ".lock"):  # another writer is busy
        result = _cli("run", "--offline", "--no-corpus")
    assert result.exit_code == 1
    assert "another writer held" in result.output and "\n" == result.output[-1]
    assert session.pending_log_path(str(dbfile)).exists()
    assert _cli("run", "--offline", "--no-corpus").exit_code == 0
    con = duckdb.connect(str(dbfile), read_only=True)
    runs = con.execute("SELECT command, status, message FROM scrape_runs ORDER BY run_id").fetchall()
    con.close()
    assert [r[1] for r in runs] == ["ok", "failed", "ok"]
    assert runs[1][0] == runs[0][0] == "run --offline" and "another writer held" in runs[1][2]
    assert not session.pending_log_path(str(dbfile)).exists()


def test_failed_session_leaves_the_file_byte_identical_but_records_the_run(tmp_path):
    dbfile = tmp_path / "w.duckdb"
    with db.write_session(dbfile) as con:
        finish_run(con, start_run(con, "first"), "ok")
    before = dbfile.read_bytes()
    with pytest.raises(RuntimeError, match="boom"):
        with db.write_session(dbfile) as con:
            start_run(con, "second")
            con.execute("DELETE FROM scrape_runs WHERE command = 'first'")
            raise RuntimeError("boom")
    con = duckdb.connect(str(dbfile), read_only=True)
    rows = con.execute("SELECT command, status, message FROM scrape_runs ORDER BY run_id").fetchall()
    con.close()
    assert rows[0] == ("first", "ok", None)  # the DELETE was discarded with the copy
    assert rows[1][:2] == ("second", "failed") and "boom" in rows[1][2]
    assert dbfile.read_bytes() != before  # only the failed run row was published


def test_disk_full_during_copy_is_an_error_and_changes_nothing(tmp_path, monkeypatch):
    dbfile = tmp_path / "w.duckdb"
    with db.write_session(dbfile) as con:
        finish_run(con, start_run(con, "first"), "ok")
    before = dbfile.read_bytes()

    def full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(session.shutil, "copyfile", full)
    with pytest.raises(WarehouseError, match="No space left"):
        with db.write_session(dbfile, command="run"):
            pass
    assert dbfile.read_bytes() == before
    monkeypatch.undo()
    assert "No space left" in session.pending_log_path(str(dbfile)).read_text()
    with db.write_session(dbfile):  # the next session that publishes records it
        pass
    con = duckdb.connect(str(dbfile), read_only=True)
    assert con.execute("SELECT command, status FROM scrape_runs ORDER BY run_id").fetchall() == [
        ("first", "ok"), ("run", "failed")]
    con.close()


def test_read_only_commands_refuse_a_missing_database(env):
    missing = env / "typo.duckdb"
    for args in (["report"], ["export", "--out", str(env / "out")]):
        result = _cli(*args, "--db", str(missing))
        assert result.exit_code == 1
        assert result.output.count("\n") == 1 and "does not exist" in result.output
    assert not missing.exists()


def test_foreign_database_is_refused_unchanged(tmp_path):
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))  # "another program": its own tables, no maglabels ledger
    con.execute("CREATE TABLE customers (id INTEGER, name VARCHAR); INSERT INTO customers VALUES (1, 'a')")
    con.close()
    before = other.read_bytes()
    with pytest.raises(WarehouseError, match="not a maglabels warehouse"):
        db.connect(other)
    with pytest.raises(WarehouseError, match="not a maglabels warehouse"):
        with db.write_session(other):
            pass
    assert other.read_bytes() == before
    # a ledger of another tool (same table name, other migrations) is refused too
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE schema_migrations (version INTEGER, name VARCHAR, checksum VARCHAR, applied_at TIMESTAMP)")
    con.execute("INSERT INTO schema_migrations VALUES (1, 'init', 'x', now()::TIMESTAMP)")
    con.close()
    with pytest.raises(WarehouseError, match="migration 1 is 'init'"):
        db.connect(other)
    con = duckdb.connect(str(other), read_only=True)
    assert con.execute("SELECT count(*) FROM duckdb_tables()").fetchone()[0] == 2
    con.close()


def _duckdb_cli() -> str | None:
    found = BIN / "duckdb"
    return str(found) if found.exists() else shutil.which("duckdb")


@pytest.mark.skipif(_duckdb_cli() is None, reason="the duckdb-cli package (dev dependency) is not installed")
def test_registry_duckdb_cli_opens_the_warehouse(env):
    assert _cli("run", "--offline", "--no-corpus").exit_code == 0
    dbfile = env / "data" / "maglabels.duckdb"
    out = subprocess.run([_duckdb_cli(), "-readonly", str(dbfile), "-csv", "-c",
                          "select count(*) from magnesium_daily; select count(*) from brand_comparison"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    con = duckdb.connect(str(dbfile), read_only=True)
    expected = [con.execute(f"SELECT count(*) FROM {v}").fetchone()[0] for v in ("magnesium_daily", "brand_comparison")]
    con.close()
    assert expected[0] > 0
    numbers = [int(line) for line in out.stdout.split() if line.isdigit()]
    assert numbers == expected


def test_a_failing_migration_leaves_neither_its_changes_nor_its_ledger_row(tmp_path, monkeypatch):
    path = tmp_path / "m.duckdb"
    db.connect(path).close()
    bad = db.Migration(999, "half_done", "CREATE TABLE half (a INTEGER); SELECT * FROM no_such_table;")
    known = db.migrations()
    monkeypatch.setattr(db, "migrations", lambda: [*known, bad])
    with pytest.raises(WarehouseError, match="migration 999_half_done failed"):
        db.connect(path)
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'half'").fetchone() == (0,)
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == known[-1].version
    finally:
        con.close()
