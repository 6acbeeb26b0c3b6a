from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from maglabels.warehouse import db
from maglabels.warehouse.db import WarehouseError

from maglabels import warehouse
from tests.warehouse_data import archive_records, make_batch, real_specs, snapshot, tables

EXPECTED_TABLES = {
    "scrape_runs", "raw_documents", "raw_fetches", "labels", "label_versions", "ingredient_rows",
    "magnesium_facts", "magnesium_labels", "label_flags", "quarantine", "schema_migrations",
}
EXPECTED_VIEWS = {
    "magnesium_daily", "brand_comparison", "form_comparison", "label_history", "reformulations",
    "quarantine_summary",
}


def views(c) -> set[str]:
    return {
        r[0]
        for r in c.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal AND schema_name = 'main'"
        ).fetchall()
    }


def test_default_db_path(monkeypatch, tmp_path):
    monkeypatch.delenv("MAGLABELS_DB", raising=False)
    monkeypatch.delenv("MAGLABELS_DATA_DIR", raising=False)
    assert db.default_db_path() == Path("data") / "maglabels.duckdb"
    monkeypatch.setenv("MAGLABELS_DATA_DIR", str(tmp_path / "d"))
    assert db.default_db_path() == tmp_path / "d" / "maglabels.duckdb"
    monkeypatch.setenv("MAGLABELS_DB", str(tmp_path / "x.duckdb"))
    assert db.default_db_path() == tmp_path / "x.duckdb"


def test_connect_default_path_creates_parent(monkeypatch, tmp_path):
    monkeypatch.delenv("MAGLABELS_DB", raising=False)
    monkeypatch.setenv("MAGLABELS_DATA_DIR", str(tmp_path / "a" / "b"))
    c = warehouse.connect()
    c.close()
    assert (tmp_path / "a" / "b" / "maglabels.duckdb").is_file()


def test_schema_created(con, db_path):
    assert db_path.is_file()
    assert EXPECTED_TABLES <= set(tables(con))
    assert EXPECTED_VIEWS <= views(con)
    applied = [r[0] for r in con.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()]
    assert applied == [m.version for m in db.migrations()]
    assert db.schema_version(con) == max(applied)
    cols = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'magnesium_labels'"
        ).fetchall()
    )
    assert cols["forms"] == "VARCHAR[]" and cols["flags"] == "VARCHAR[]"


def _storage_version(path) -> str:
    c = duckdb.connect(str(path), read_only=True)
    try:
        return c.execute("SELECT tags['storage_version'] FROM duckdb_databases() "
                         "WHERE database_name = current_database()").fetchone()[0]
    finally:
        c.close()


def test_a_new_file_has_the_newer_storage_format_an_old_one_keeps_its_own(tmp_path):
    # the newer format's checkpoints cost less CPU (docs/benchmarks.md, "Load"); a file made by
    # an older maglabels (DuckDB's default format) is opened and written as it is
    new = tmp_path / "new.duckdb"
    with db.write_session(new) as con:
        warehouse.load_batch(con, make_batch(real_specs()), run_id=warehouse.start_run(con, "new"))
    assert _storage_version(new) == db.STORAGE_VERSION + "+"
    old = tmp_path / "old.duckdb"
    duckdb.connect(str(old)).close()
    with db.write_session(old) as con:
        warehouse.load_batch(con, make_batch(real_specs()), run_id=warehouse.start_run(con, "old"))
    assert _storage_version(old) != db.STORAGE_VERSION + "+"
    for path in (new, old):
        c = warehouse.connect(path, read_only=True)
        assert c.execute("SELECT count(*) FROM labels").fetchone() == (len(real_specs()),)
        c.close()


def test_migrations_idempotent(db_path):
    c1 = warehouse.connect(db_path)
    first = c1.execute("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY 1").fetchall()
    before = snapshot(c1)
    c1.close()
    c2 = warehouse.connect(db_path)  # second connect: nothing re-applied, views replaced
    assert c2.execute("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY 1").fetchall() == first
    assert snapshot(c2) == before
    assert EXPECTED_VIEWS <= views(c2)
    c2.close()
    c3 = warehouse.connect(db_path)
    assert len(c3.execute("SELECT * FROM schema_migrations").fetchall()) == len(db.migrations())
    c3.close()


def test_views_recreated_on_connect(db_path):
    c = warehouse.connect(db_path)
    c.execute("CREATE OR REPLACE VIEW magnesium_daily AS SELECT 1 AS stale")
    c.close()
    c = warehouse.connect(db_path)
    cols = [d[0] for d in c.execute("SELECT * FROM magnesium_daily LIMIT 0").description]
    assert "range_status" in cols and "stale" not in cols
    c.close()


def test_read_only(db_path):
    warehouse.connect(db_path).close()
    ro = warehouse.connect(db_path, read_only=True)
    assert ro.execute("SELECT count(*) FROM magnesium_daily").fetchone() == (0,)
    with pytest.raises(duckdb.Error):
        ro.execute("INSERT INTO scrape_runs (command, started_at, status) VALUES ('x', now(), 'ok')")
    ro.close()


def test_read_only_missing_or_unmigrated(tmp_path):
    with pytest.raises(WarehouseError, match="does not exist"):
        warehouse.connect(tmp_path / "nope.duckdb", read_only=True)
    plain = tmp_path / "plain.duckdb"
    duckdb.connect(str(plain)).close()  # a DuckDB file without our schema
    with pytest.raises(WarehouseError, match="pending migration"):
        warehouse.connect(plain, read_only=True)


def _assert_one_line(err: pytest.ExceptionInfo, path: Path):
    msg = str(err.value)
    assert "\n" not in msg
    assert str(path) in msg


def test_garbage_file(tmp_path):
    bad = tmp_path / "garbage.duckdb"
    bad.write_bytes(b"this is not a database\n" * 200)
    with pytest.raises(WarehouseError, match="not a DuckDB database") as err:
        warehouse.connect(bad)
    _assert_one_line(err, bad)
    with pytest.raises(WarehouseError, match="not a DuckDB database"):
        warehouse.connect(bad, read_only=True)
    assert bad.read_bytes().startswith(b"this is not")  # untouched


def test_empty_file_and_directory(tmp_path):
    empty = tmp_path / "empty.duckdb"
    empty.touch()
    with pytest.raises(WarehouseError):
        warehouse.connect(empty)
    adir = tmp_path / "adir"
    adir.mkdir()
    with pytest.raises(WarehouseError, match="directory") as err:
        warehouse.connect(adir)
    _assert_one_line(err, adir)


def test_locked_by_other_process(db_path):
    warehouse.connect(db_path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys, time
            c = duckdb.connect({str(db_path)!r})
            print("locked", flush=True)
            sys.stdin.read()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(WarehouseError, match="locked by another process") as err:
            warehouse.connect(db_path)
        _assert_one_line(err, db_path)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file permissions")
def test_unreadable_file(db_path):
    warehouse.connect(db_path).close()
    db_path.chmod(0)
    try:
        with pytest.raises(WarehouseError):
            warehouse.connect(db_path)
    finally:
        db_path.chmod(0o644)


def test_newer_schema_refused(db_path):
    c = warehouse.connect(db_path)
    c.execute("INSERT INTO schema_migrations VALUES (999, 'from_the_future', 'x', now()::TIMESTAMP)")
    c.close()
    with pytest.raises(WarehouseError, match="newer"):
        warehouse.connect(db_path)


def test_migration_files_numbered():
    migs = db.migrations()
    assert [m.version for m in migs] == sorted({m.version for m in migs})
    assert migs[0].version == 1
    assert all(name.endswith(".sql") for name, _ in db.view_files())


def test_008_keeps_ingredient_rows_and_drops_their_primary_key(db_path, monkeypatch):
    from maglabels.normalize.batch import normalize_labels

    from tests.realdata import dsld_label

    # a warehouse written before 008, holding real rows
    every = db.migrations()
    monkeypatch.setattr(db, "migrations", lambda: [m for m in every if m.version < 8])
    old = warehouse.connect(db_path)
    batch = normalize_labels([dsld_label("49495"), dsld_label("246811")])
    warehouse.load_batch(old, batch, run_id=warehouse.start_run(old, "before 008"))
    pk = ("SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'ingredient_rows' "
          "AND constraint_type = 'PRIMARY KEY'")
    columns = ("SELECT column_name, data_type, is_nullable FROM information_schema.columns "
               "WHERE table_name = 'ingredient_rows' ORDER BY ordinal_position")
    assert old.execute(pk).fetchone() == (1,)
    before, before_columns = snapshot(old, exclude=("schema_migrations",)), old.execute(columns).fetchall()
    old.close()
    monkeypatch.undo()

    c = warehouse.connect(db_path)
    try:
        assert db.schema_version(c) >= 8 and c.execute(pk).fetchone() == (0,)
        assert c.execute(columns).fetchall() == before_columns  # same columns, NOT NULLs kept
        assert snapshot(c, exclude=("schema_migrations",)) == before  # every row kept
        assert len(before["ingredient_rows"]) == len(batch.ingredient_rows)
        # the loader holds the key now: loading the same labels again adds no row
        stats = warehouse.load_batch(c, batch, run_id=warehouse.start_run(c, "after 008"))
        assert stats.inserted["ingredient_rows"] == 0
        assert c.execute("SELECT count(*) FROM ingredient_rows").fetchone()[0] == len(batch.ingredient_rows)
    finally:
        c.close()


KEYLESS_009 = ("labels", "label_versions", "magnesium_labels", "raw_documents", "raw_fetches")


def test_009_keeps_the_rows_and_drops_the_key_indexes(db_path, monkeypatch):
    # a warehouse written before 009, holding real labels, their history and fetch records
    every = db.migrations()
    monkeypatch.setattr(db, "migrations", lambda: [m for m in every if m.version < 9])
    old = warehouse.connect(db_path)

    def load(c, command):
        return warehouse.load_batch(c, make_batch(real_specs()), run_id=warehouse.start_run(c, command),
                                    documents_df=archive_records(real_specs()))

    load(old, "before 009")
    keys = ("SELECT table_name FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' "
            "AND database_name = current_database() ORDER BY table_name")
    columns = ("SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
               "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position")
    assert set(KEYLESS_009) <= {t for (t,) in old.execute(keys).fetchall()}
    before, before_columns = snapshot(old, exclude=("schema_migrations",)), old.execute(columns).fetchall()
    old.close()
    monkeypatch.undo()

    c = warehouse.connect(db_path)
    try:
        assert db.schema_version(c) == 9
        # the small tables keep their keys
        assert [t for (t,) in c.execute(keys).fetchall()] == [
            "crawl_frontier", "crawl_state", "schema_migrations", "scrape_runs"]
        assert c.execute(columns).fetchall() == before_columns  # same columns and order, NOT NULLs kept
        assert snapshot(c, exclude=("schema_migrations",)) == before  # every row kept
        assert all(before[t] for t in KEYLESS_009)  # real rows in every rebuilt table
        # the loader holds the keys: loading the same labels and fetch records again adds no row
        stats = load(c, "after 009")
        assert stats.documents == stats.fetches == stats.new_versions == 0
        assert all(n == 0 for n in stats.inserted.values())
        moving = ("schema_migrations", "scrape_runs", "label_versions")  # a run more; last_seen_run_id bumped
        assert snapshot(c, exclude=moving) == {t: rows for t, rows in before.items() if t not in moving}
        periods = "SELECT source, source_id, version_id, valid_from, valid_to FROM label_versions ORDER BY ALL"
        assert c.execute(periods).fetchall() == sorted(row[:5] for row in before["label_versions"])
    finally:
        c.close()
