"""Analyst views at scale: stored (derived) views vs a stored-table baseline vs computing them live.

    python benchmarks/bench_views.py [--labels N] [--repeat R]

1. Parse and normalise the REAL bundled labels once (the 15 DSLD v9 API labels and the 731 corpus
   products, as bench_normalize.py does), then replicate the normalised frames to N labels
   (default 200,000), each copy with its own source_id. ingredient_rows and magnesium_facts are
   left out: no analyst view reads them, and they would only make the load slower.
2. Load them with ``load_batch`` inside a file ``write_session`` (so the derived tables are
   refreshed once, at publish) and time: the load, the refresh of the derived tables, and the
   copy a later write session makes of the live file (the price of never writing the live file).
3. For every analyst view, best of R: ``SELECT *`` fetched to Arrow from the view (stored in
   derived.*), from a plain table holding the same rows (baseline, same process) and from the
   view computed live from the label tables (what every query did before). Prints times and the
   ratios view / baseline and live / view. Wall-clock times are printed, never asserted.

`main(argv)` returns the figures, so a smoke test can run `main(["--labels", "2000"])`.
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from maglabels.normalize.batch import normalize_labels  # noqa: E402
from maglabels.warehouse import session  # noqa: E402
from maglabels.warehouse.db import view_files, write_session  # noqa: E402
from maglabels.warehouse.export import ANALYST_VIEWS  # noqa: E402
from maglabels.warehouse.lake import split_statements  # noqa: E402
from maglabels.warehouse.load import load_batch  # noqa: E402
from maglabels.warehouse.runs import finish_run, start_run  # noqa: E402

from benchmarks.bench_normalize import parse_documents, read_documents  # noqa: E402

FRAMES = ("labels", "magnesium_labels", "label_flags", "quarantine")


class _Batch:
    def __init__(self, frames: dict[str, pd.DataFrame]) -> None:
        self.ingredient_rows = pd.DataFrame()
        self.magnesium_facts = pd.DataFrame()
        for name, frame in frames.items():
            setattr(self, name, frame)


def replicated_batch(n: int) -> tuple[_Batch, int]:
    base = normalize_labels(parse_documents(*read_documents()))
    per_copy = len(base.labels)
    copies = -(-n // per_copy)
    frames = {}
    for name in FRAMES:
        frame = getattr(base, name)
        parts = []
        for k in range(copies):
            part = frame.copy()
            part["source_id"] = part["source_id"].astype(str) + f"-r{k}"
            parts.append(part)
        frames[name] = pd.concat(parts, ignore_index=True)
    return _Batch(frames), per_copy * copies


def _best(con, sql: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        con.execute(sql).to_arrow_table()
        best = min(best, time.perf_counter() - t0)
    return best


_CREATE_VIEW_RE = re.compile(r"\bCREATE\s+OR\s+REPLACE\s+VIEW\s+([A-Za-z_][A-Za-z0-9_]*)\b", re.IGNORECASE)


def _live_views(con) -> None:
    """The view files as TEMP views named live_<name>, each reading the other live ones."""
    names = [n for _, sql in view_files() for n in _CREATE_VIEW_RE.findall(sql)]
    for _, sql in view_files():
        text = _CREATE_VIEW_RE.sub(lambda m: f"CREATE OR REPLACE TEMP VIEW live_{m.group(1)}", sql)
        for name in names:
            text = re.sub(rf"\bFROM\s+{name}\b", f"FROM live_{name}", text)
        for statement in split_statements(text):
            if not statement.strip().upper().startswith("COMMENT"):
                con.execute(statement)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    r: dict = {}
    t0 = time.perf_counter()
    batch, n = replicated_batch(args.labels)
    r["labels"], r["t_prepare"] = n, time.perf_counter() - t0
    tmp = Path(tempfile.mkdtemp(prefix="bench_views_"))
    db = tmp / "bench.duckdb"
    try:
        with write_session(db, lock_timeout=0) as con:
            run_id = start_run(con, "bench_views")
            t0 = time.perf_counter()
            load_batch(con, batch, run_id=run_id)
            r["t_load"] = time.perf_counter() - t0
            finish_run(con, run_id, "ok")
        with write_session(db, lock_timeout=0) as con:
            r["t_refresh"] = con.execute("SELECT seconds FROM derived.refresh_state").fetchone()[0]
        r["db_mb"] = db.stat().st_size / 2**20
        t0 = time.perf_counter()
        work = session._copy(db)
        r["t_copy"] = time.perf_counter() - t0
        session._remove(work)
        with write_session(db, lock_timeout=0) as con:
            _live_views(con)
            r["views"] = {}
            for view in ANALYST_VIEWS:
                con.execute(f"CREATE TEMP TABLE baseline_{view} AS SELECT * FROM {view}")
                rows = con.execute(f"SELECT count(*) FROM {view}").fetchone()[0]
                r["views"][view] = {
                    "rows": rows,
                    "view": _best(con, f"SELECT * FROM {view}", args.repeat),
                    "baseline": _best(con, f"SELECT * FROM baseline_{view}", args.repeat),
                    "live": _best(con, f"SELECT * FROM live_{view}", args.repeat),
                }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _print(r)
    return r


def _print(r: dict) -> None:
    print(f"{r['labels']:,} replicated real labels; warehouse file {r['db_mb']:.0f} MiB")
    print(f"load_batch {r['t_load']:.2f} s; derived refresh (once per session) {r['t_refresh']:.2f} s; "
          f"copy of the live file per write session {r['t_copy']:.2f} s")
    print(f"{'view':<20}{'rows':>9}{'view ms':>10}{'table ms':>10}{'live ms':>10}{'view/table':>12}{'live/view':>11}")
    for name, v in r["views"].items():
        print(f"{name:<20}{v['rows']:>9,}{v['view'] * 1e3:>10.1f}{v['baseline'] * 1e3:>10.1f}{v['live'] * 1e3:>10.1f}"
              f"{v['view'] / v['baseline']:>12.2f}{v['live'] / v['view']:>11.1f}")


if __name__ == "__main__":
    main()
