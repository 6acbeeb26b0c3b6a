"""The warehouse load alone: ``load_batch`` chunk by chunk against plain INSERTs of the same Arrow tables.

    python benchmarks/bench_load.py [--labels N] [--chunk C] [--corpus PATH] [--threads T]

1. Parse and normalise the first C (default 5,000) REAL labels of the shared corpus
   (``../shared/realdata/dsld/derived/ingredient_scanner_products.jsonl.gz``; the bundled flattened
   corpus when it is absent) once, as ``maglabels.pipeline`` does, with their archive records.
2. Chunk k is a copy of that batch with new ids (source_id ``<id>-r<k>``, raw_sha256 and URL
   derived from k), so N labels (default 112,539, the shared corpus) give N / C distinct chunks.
3. In a forked child (its own peak RSS): a NEW warehouse in a file ``write_session``; each chunk is
   ``load_batch`` (its own transaction, committed, as ``maglabels/loading.py`` does in a session),
   then the derived tables' refresh and the publish. Per-statement DuckDB time (wall, and CPU of
   the calling thread) is printed for the first and last chunks and summed over all chunks, RSS
   after every chunk is kept. ``--threads 1`` is the ingest's loader (one DuckDB thread while the
   parse workers run); then the calling thread's CPU is all of DuckDB's.
4. In another child, the baseline: the same chunks converted to the same Arrow tables
   (``warehouse.arrow.frame_to_arrow``), plain ``INSERT INTO t SELECT * FROM arrow`` into tables
   without constraints, one transaction per chunk. Prints both totals and their ratio.

Wall-clock times are printed, never asserted. ``main(argv)`` returns the figures.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import duckdb
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from maglabels.normalize.batch import normalize_labels  # noqa: E402
from maglabels.normalize.flat_dsld import parse_flat_product  # noqa: E402
from maglabels.normalize.version import NORMALIZER_VERSION  # noqa: E402
from maglabels.warehouse import derived  # noqa: E402
from maglabels.warehouse.arrow import frame_to_arrow  # noqa: E402
from maglabels.warehouse.db import write_session  # noqa: E402
from maglabels.warehouse.load import _DOC_COLUMNS, CONTENT_TABLES, load_batch  # noqa: E402
from maglabels.warehouse.runs import finish_run, start_run  # noqa: E402

# ../shared next to the main checkout, or two levels up from a worktree
SHARED = next((p / "shared/realdata/dsld/derived/ingredient_scanner_products.jsonl.gz" for p in ROOT.parents[:2]
               if (p / "shared/realdata/dsld/derived/ingredient_scanner_products.jsonl.gz").exists()), None)
BUNDLED = ROOT / "scrapers" / "bundled" / "dsld" / "ingredient_scanner_magnesium_products.jsonl.gz"
FRAMES = tuple(CONTENT_TABLES)


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Chunk:
    def __init__(self, frames: dict[str, pd.DataFrame], documents_df: pd.DataFrame) -> None:
        for name, frame in frames.items():
            setattr(self, name, frame)
        self.documents_df = documents_df


def base_chunk(corpus: Path, n: int) -> Chunk:
    """The first ``n`` labels of ``corpus`` parsed and normalised, with their archive records."""
    labels, docs = [], []
    with gzip.open(corpus, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            if number > n:
                break
            sha = hashlib.sha256(line.rstrip(b"\n")).hexdigest()
            url = f"file:{corpus.name}#line={number}"
            labels.append(parse_flat_product(json.loads(line), raw_sha256=sha, url=url))
            docs.append({"sha256": sha, "url": url, "status": None, "headers": '{"content-type": "application/json"}',
                         "fetched_at": "2026-01-05T10:00:00Z", "source": "dsld", "kind": "label-flat",
                         "size": len(line)})
    batch = normalize_labels(labels)
    batch.labels["normalizer_version"] = NORMALIZER_VERSION
    return Chunk({f: getattr(batch, f) for f in FRAMES}, pd.DataFrame(docs))


def copy_of(base: Chunk, k: int) -> Chunk:
    """Chunk ``k``: the base labels with new ids (distinct labels, distinct raw documents)."""
    def new_sha(s: pd.Series) -> pd.Series:
        return s.map(lambda v: v if v is None else hashlib.sha256(f"{v}-r{k}".encode()).hexdigest())

    frames = {}
    for name in FRAMES:
        frame = getattr(base, name).copy()
        if len(frame):
            frame["source_id"] = frame["source_id"].astype(str) + f"-r{k}"
            if "raw_sha256" in frame:
                frame["raw_sha256"] = new_sha(frame["raw_sha256"])
            if "url" in frame:
                frame["url"] = frame["url"] + f"-r{k}"
        frames[name] = frame
    docs = base.documents_df.assign(sha256=new_sha(base.documents_df["sha256"]),
                                    url=base.documents_df["url"] + f"-r{k}")
    return Chunk(frames, docs)


_STATEMENT_RE = re.compile(r"^\s*(INSERT INTO \S+|DELETE FROM \S+|UPDATE \S+|CREATE OR REPLACE TEMP TABLE \S+"
                           r"|DROP TABLE IF EXISTS \S+|SELECT .{0,40})", re.IGNORECASE | re.DOTALL)


class Timed:
    """The connection, with the time of every statement (by its first words) and COMMIT added up."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self.times: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)  # the calling thread's

    def _timed(self, label: str, fn, *args):
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            return fn(*args)
        finally:
            self.times[label] += time.perf_counter() - t0
            self.cpu[label] += time.thread_time() - c0

    def execute(self, sql: str, *params):
        m = _STATEMENT_RE.match(sql)
        label = " ".join((m.group(1) if m else sql[:40]).split())
        return self._timed(label, self._con.execute, sql, *params)

    def commit(self):
        return self._timed("COMMIT", self._con.commit)

    def __getattr__(self, name: str):
        return getattr(self._con, name)


def run_load(base: Chunk, chunks: int, db: Path, threads: int | None = None) -> dict:
    """load_batch per chunk into a new warehouse (a file write session); per-statement times."""
    r: dict = {"chunk_s": [], "chunk_sql_s": [], "chunk_cpu_s": [], "rss": [], "statements_cpu": defaultdict(float)}
    with write_session(db, lock_timeout=0) as con:
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        run_id = start_run(con, "bench_load")
        for k in range(chunks):
            chunk = copy_of(base, k)
            timed = Timed(con)
            derived.defer(timed)  # as in a session: the derived tables are refreshed once, below
            t0, c0 = time.perf_counter(), time.process_time()
            load_batch(timed, chunk, run_id=run_id, documents_df=chunk.documents_df)
            r["chunk_s"].append(time.perf_counter() - t0)
            r["chunk_cpu_s"].append(time.process_time() - c0)  # all threads: DuckDB's workers too
            derived.undefer(timed)
            r["chunk_sql_s"].append(sum(timed.times.values()))
            r["rss"].append(_rss_mb())
            if k in (0, chunks - 1):
                r[f"statements_{k}"] = {label: (s, timed.cpu[label]) for label, s in timed.times.items()}
            for label, cpu in timed.cpu.items():
                r["statements_cpu"][label] += cpu
        finish_run(con, run_id, "ok")
        c0 = time.process_time()
        r["t_refresh"] = derived.refresh(con)
        r["cpu_refresh"] = time.process_time() - c0
        r["rows"] = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in FRAMES}
        t0, c0 = time.perf_counter(), time.process_time()
    r["t_publish"] = time.perf_counter() - t0  # CHECKPOINT, close, rename
    r["cpu_publish"] = time.process_time() - c0
    r["db_mb"] = db.stat().st_size / 2**20
    r["peak"] = _peak_mb()
    return r


def run_plain(base: Chunk, chunks: int, db: Path, columns: dict[str, dict[str, str]]) -> dict:
    """Baseline: the same Arrow tables, plain INSERT into tables without constraints."""
    r: dict = {"chunk_s": [], "chunk_sql_s": [], "rss": []}
    con = duckdb.connect(str(db))
    try:
        for k in range(chunks):
            chunk = copy_of(base, k)
            t0 = time.perf_counter()
            tables = {t: frame_to_arrow(getattr(chunk, t), columns[t], [], t) for t in FRAMES}
            tables["raw_fetches"] = frame_to_arrow(chunk.documents_df, _DOC_COLUMNS, [], "documents_df")
            t_sql = time.perf_counter()
            con.begin()
            for name, tbl in tables.items():
                if tbl is None:
                    continue
                con.register("_in", tbl)
                con.execute(f"CREATE TABLE IF NOT EXISTS {name} AS SELECT * FROM _in LIMIT 0")
                con.execute(f"INSERT INTO {name} SELECT * FROM _in")
                con.unregister("_in")
            con.commit()
            r["chunk_sql_s"].append(time.perf_counter() - t_sql)
            r["chunk_s"].append(time.perf_counter() - t0)
            r["rss"].append(_rss_mb())
        con.execute("CHECKPOINT")
    finally:
        con.close()
    r["peak"] = _peak_mb()
    return r


def in_child(fn, *args) -> dict:
    """fn(*args) in a forked child, so its peak RSS is its own (it starts from the parent's)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        code = 0
        try:
            out = json.dumps(fn(*args)).encode()
        except BaseException as exc:  # report, then exit without running the parent's cleanup
            out, code = json.dumps({"error": repr(exc)}).encode(), 1
        with os.fdopen(write, "wb") as fh:
            fh.write(out)
        os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    result = json.loads(data)
    if "error" in result:
        raise RuntimeError(f"child failed: {result['error']}")
    return result


def _columns(db: Path) -> dict[str, dict[str, str]]:
    from maglabels.warehouse.db import connect
    from maglabels.warehouse.load import _table_columns

    con = connect(db)
    try:
        return _table_columns(con, list(FRAMES))
    finally:
        con.close()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=int, default=112_539)
    ap.add_argument("--chunk", type=int, default=5_000)
    ap.add_argument("--corpus", type=Path, default=SHARED or BUNDLED)
    ap.add_argument("--threads", type=int, default=None, help="DuckDB threads of the load (default: DuckDB's)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    base = base_chunk(args.corpus, args.chunk)
    per_chunk = len(base.labels)
    chunks = -(-args.labels // per_chunk)
    print(f"corpus {args.corpus.name}: {per_chunk:,} labels normalised in {time.perf_counter() - t0:.1f} s; "
          f"{chunks} chunks of {per_chunk:,} labels ({len(base.ingredient_rows):,} ingredient_rows, "
          f"{len(base.magnesium_labels):,} magnesium summaries each) = {chunks * per_chunk:,} labels; "
          f"parent RSS {_rss_mb():,.0f} MiB")
    with tempfile.TemporaryDirectory(prefix="bench_load_") as tmp:
        load = in_child(run_load, base, chunks, Path(tmp, "load.duckdb"), args.threads)
        plain = in_child(run_plain, base, chunks, Path(tmp, "plain.duckdb"), _columns(Path(tmp, "schema.duckdb")))
    for k in (0, chunks - 1):
        print(f"\nload_batch chunk {k + 1}: {load['chunk_s'][k]:.3f} s, of which DuckDB {load['chunk_sql_s'][k]:.3f} s; "
              f"plain INSERT {plain['chunk_sql_s'][k]:.3f} s")
        for label, (seconds, cpu) in sorted(load[f"statements_{k}"].items(), key=lambda kv: -kv[1][0]):
            if seconds >= 0.001:
                print(f"  {seconds:7.3f} s  {cpu:7.3f} s CPU  {label}")
    for name, r in (("load_batch", load), ("plain INSERT (baseline)", plain)):
        print(f"\n{name}: total {sum(r['chunk_s']):.2f} s (DuckDB {sum(r['chunk_sql_s']):.2f} s); "
              f"RSS after chunk 1 {r['rss'][0]:,.0f} MiB, after chunk {chunks} {r['rss'][-1]:,.0f} MiB, "
              f"peak {r['peak']:,.0f} MiB")
        print("  DuckDB s per chunk: " + " ".join(f"{t:.2f}" for t in r["chunk_sql_s"]))
        if r.get("chunk_cpu_s"):
            print(f"  CPU s per chunk (all threads), total {sum(r['chunk_cpu_s']):.2f}: "
                  + " ".join(f"{t:.2f}" for t in r["chunk_cpu_s"]))
    print(f"\nCPU s of the calling thread per statement, all {chunks} chunks "
          f"(total {sum(load['statements_cpu'].values()):.2f}):")
    for label, cpu in sorted(load["statements_cpu"].items(), key=lambda kv: -kv[1]):
        if cpu >= 0.01:
            print(f"  {cpu:7.3f} s  {label}")
    print(f"load_batch then: derived refresh {load['t_refresh']:.2f} s ({load['cpu_refresh']:.2f} s CPU), "
          f"publish (CHECKPOINT, close, rename) {load['t_publish']:.2f} s ({load['cpu_publish']:.2f} s CPU), "
          f"file {load['db_mb']:,.0f} MiB; rows {load['rows']}")
    load["ratio_total"] = sum(load["chunk_s"]) / sum(plain["chunk_s"])
    load["ratio_sql"] = sum(load["chunk_sql_s"]) / sum(plain["chunk_sql_s"])
    load["ratio_last_first"] = load["chunk_sql_s"][-1] / load["chunk_sql_s"][0]
    print(f"ratio load_batch / baseline: {load['ratio_total']:.2f}x (DuckDB time {load['ratio_sql']:.2f}x); "
          f"DuckDB time of the last chunk / first: {load['ratio_last_first']:.2f}x")
    return {"labels": chunks * per_chunk, "load": load, "plain": plain}


if __name__ == "__main__":
    main()
