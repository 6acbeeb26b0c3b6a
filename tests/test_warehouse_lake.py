"""DuckLake targets: same schema and views on a SQLite (or PostgreSQL) catalog with Parquet data;
analysts read while the job loads."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import duckdb
import pytest
from maglabels.warehouse import db, lake
from maglabels.warehouse.export import ANALYST_VIEWS

pytest.importorskip("duckdb_extension_ducklake", reason="DuckLake extension package not installed (maglabels[ducklake])")


def _env(tmp_path: Path) -> dict[str, str]:
    e = dict(os.environ, MAGLABELS_DATA_DIR=str(tmp_path / "data"))
    e.pop("MAGLABELS_DB", None)
    return e


def _maglabels(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maglabels", *args], cwd=tmp_path, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=600)


READER = textwrap.dedent("""
    import sys, time
    from maglabels.warehouse import db
    con = db.connect(sys.argv[1], read_only=True)
    stop, deadline = sys.argv[2], time.monotonic() + 300
    seen = []
    while time.monotonic() < deadline:
        done = __import__("os").path.exists(stop)
        con.begin()   # one snapshot for both queries
        daily = con.execute("SELECT count(*) FROM magnesium_daily WHERE coalesce(on_market, true)").fetchone()[0]
        brands = con.execute("SELECT coalesce(sum(labels), 0) FROM brand_comparison").fetchone()[0]  # on-market labels
        con.commit()
        seen.append((daily, brands))
        if done:
            break
        time.sleep(0.05)
    print(" ".join(f"{d}:{b}" for d, b in seen))
""")


def test_sqlite_catalog_two_readers_while_one_loads(tmp_path):
    target = f"ducklake:sqlite:{tmp_path / 'lake' / 'catalog.sqlite'}"
    first = _maglabels(tmp_path, "run", "--offline", "--no-corpus", "--db", target)
    assert first.returncode == 0, first.stderr
    stop = tmp_path / "stop"
    readers = [subprocess.Popen([sys.executable, "-c", READER, target, str(stop)], env=_env(tmp_path),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        time.sleep(1.0)
        load = _maglabels(tmp_path, "run", "--offline", "--db", target)  # + the 731 corpus products
        assert load.returncode == 0, load.stderr
        stop.touch()
        outputs = [r.communicate(timeout=300) for r in readers]
    finally:
        for r in readers:
            if r.poll() is None:
                r.kill()
    for r, (out, err) in zip(readers, outputs, strict=True):
        assert r.returncode == 0, err
        seen = [tuple(int(x) for x in pair.split(":")) for pair in out.split()]
        assert seen, "the reader read nothing"
        # each snapshot is consistent: the stored brand table agrees with the stored daily table
        assert all(daily == brands for daily, brands in seen)
        counts = [daily for daily, _ in seen]
        assert counts == sorted(counts)  # never goes back
        assert counts[0] >= 1 and counts[-1] > counts[0] + 700  # saw the old data, then the new
    con = db.connect(target, read_only=True)
    try:
        assert con.execute("SELECT status FROM scrape_runs ORDER BY run_id").fetchall() == [("ok",), ("ok",)]
        for view in ANALYST_VIEWS:
            con.execute(f"SELECT * FROM {view} LIMIT 1").fetchall()
    finally:
        con.close()
    assert list((tmp_path / "lake" / "catalog.sqlite.files").rglob("*.parquet"))  # data as Parquet


def test_lake_and_file_have_the_same_columns(tmp_path):
    file_con = db.connect(tmp_path / "w.duckdb")
    lake_con = db.connect(f"ducklake:sqlite:{tmp_path / 'c.sqlite'}")
    try:
        q = ("SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE database_name = current_database() "
             "AND schema_name = 'main' ORDER BY ALL")
        assert file_con.execute(q).fetchall() == lake_con.execute(q).fetchall()
        assert lake.is_lake_connection(lake_con) and not lake.is_lake_connection(file_con)
        # no network for extensions: auto-install and auto-load are off
        assert lake_con.execute("SELECT current_setting('autoinstall_known_extensions')").fetchone()[0] is False
    finally:
        file_con.close()
        lake_con.close()


def test_portable_sql_drops_what_ducklake_lacks():
    sql = """-- a comment; with a semicolon
    CREATE SEQUENCE s START 1;
    CREATE TABLE t (id BIGINT PRIMARY KEY DEFAULT nextval('s'), k VARCHAR NOT NULL CHECK (k IN ('a;', 'b)')),
                    PRIMARY KEY (id, k));
    CREATE UNIQUE INDEX i ON t (k);
    COMMENT ON TABLE t IS 'x; y';"""
    out = lake.portable_sql(sql)
    assert "SEQUENCE" not in out and "PRIMARY" not in out and "CHECK" not in out and "INDEX" not in out
    assert "nextval" not in out and "COMMENT ON TABLE t IS 'x; y'" in out
    con = duckdb.connect()
    con.execute(out)  # still valid SQL
    assert con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = 't'").fetchall() == [("id",), ("k",)]


def _pg_tools() -> dict[str, str] | None:
    tools = {name: shutil.which(name) for name in ("initdb", "pg_ctl")}
    if not all(tools.values()) or os.geteuid() == 0 and not shutil.which("runuser"):
        return None
    return tools  # type: ignore[return-value]


@pytest.mark.skipif(_pg_tools() is None, reason="PostgreSQL server binaries (apt-get install postgresql) not found")
def test_postgres_catalog(tmp_path):
    tools = _pg_tools()
    assert tools
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user, in a dir it can reach
        server_dir = Path(tempfile.mkdtemp(prefix="maglabels-pg-"))
        shutil.chown(server_dir, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    else:
        server_dir = tmp_path
    pgdata, sock = server_dir / "pg", server_dir / "sock"
    sock.mkdir()
    if prefix:
        shutil.chown(sock, "postgres")
    subprocess.run([*prefix, tools["initdb"], "-D", str(pgdata), "-A", "trust", "-U", "lake"], check=True,
                   capture_output=True, timeout=120)
    subprocess.run([*prefix, tools["pg_ctl"], "-D", str(pgdata), "-w", "-o",
                    f"-c listen_addresses='' -c unix_socket_directories='{sock}'", "-l", str(server_dir / "pg.log"),
                    "start"], check=True, capture_output=True, timeout=120)
    try:
        target = f"ducklake:postgres:dbname=postgres user=lake host={sock} port=5432"
        data = tmp_path / "lakedata"
        con = db.connect(target, lake_data_path=str(data))
        try:
            assert lake.is_lake_connection(con)
            assert con.execute("SELECT count(*) FROM magnesium_daily").fetchone() == (0,)
            run_id = con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
            assert run_id == len(db.migrations())
        finally:
            con.close()
    finally:
        subprocess.run([*prefix, tools["pg_ctl"], "-D", str(pgdata), "-m", "immediate", "stop"],
                       capture_output=True, timeout=120)
        if server_dir != tmp_path:
            shutil.rmtree(server_dir, ignore_errors=True)
