"""Throughput and memory of normalise + load on the real bundled labels, and pint column vs row.

    python benchmarks/bench_normalize.py [--labels N] [--values M] [--memory-labels M | --no-memory-pass]
                                         [--profile FILE]

1. Parse the REAL bundled labels once: the 15 DSLD v9 API labels (`scrapers/bundled/dsld/labels`,
   `normalize.dsld_label.parse_label`) and the 731 products of the flattened corpus
   (`ingredient_scanner_magnesium_products.jsonl.gz`, `normalize.flat_dsld.parse_flat_product`).
   Replicate them to N labels (default 100,000) with `dataclasses.replace`, each copy with its own
   source_id (`"<id>-r<k>"`), so every copy is a distinct label with its own version_id.
   Time the front ends (on the 746 real documents), `normalize.batch.normalize_labels` and
   `warehouse.load.load_batch` into a fresh DuckDB file in a temp dir; print labels/s.
2. Memory: `ru_maxrss` (whole process, incl. DuckDB/Arrow) after each stage of the timed pass, and
   the tracemalloc peak (Python allocations only) of normalise and of load, measured in a second,
   traced pass into another fresh DuckDB file. tracemalloc slows this allocation-heavy code ~3.5x,
   so it is kept out of the timed pass; at the default N the traced pass is most of the run time
   (`--memory-labels M` traces only the first M labels, `--no-memory-pass` skips it).
3. pint column-wise vs per-row loop on the same real magnesium amounts (replicated to M values,
   default 20,000): `normalize.units.to_milligrams` and `compound_to_elemental` against one
   `Q_(value, unit)` per row. Prints both timings and loop / column-wise; both paths must give
   the same numbers (checked; wall-clock times are never asserted).

Caveat: replicated labels repeat the same row names, so the `lru_cache`s on `read_row` and
`find_compounds` stay warm; N genuinely different labels would miss them more often.

`main(argv)` returns a dict of the figures, so a smoke test can run e.g. `main(["--labels", "200"])`.
"""
from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import gzip
import json
import pstats
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from maglabels.normalize import units  # noqa: E402
from maglabels.normalize.batch import normalize_labels  # noqa: E402
from maglabels.normalize.compounds import by_key  # noqa: E402
from maglabels.normalize.dsld_label import parse_label  # noqa: E402
from maglabels.normalize.flat_dsld import parse_flat_product  # noqa: E402
from maglabels.normalize.model import Label  # noqa: E402
from maglabels.normalize.rowtext import read_row  # noqa: E402
from maglabels.warehouse.db import connect  # noqa: E402
from maglabels.warehouse.load import load_batch  # noqa: E402
from maglabels.warehouse.runs import start_run  # noqa: E402

BUNDLED = ROOT / "scrapers" / "bundled" / "dsld"
LABEL_DIR = BUNDLED / "labels"
FLAT_CORPUS = BUNDLED / "ingredient_scanner_magnesium_products.jsonl.gz"


# --------------------------------------------------------------------------------------- helpers


def _maxrss_mb() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def _best_of(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


# ---------------------------------------------------------------------------------- real labels


def read_documents() -> tuple[list[dict], list[dict]]:
    """The decoded real documents: (DSLD API labels, flattened-corpus products)."""
    api = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(LABEL_DIR.glob("*.json"))]
    with gzip.open(FLAT_CORPUS, "rt", encoding="utf-8") as fh:
        flat = [json.loads(line) for line in fh if line.strip()]
    return api, flat


def parse_documents(api: list[dict], flat: list[dict]) -> list[Label]:
    return [parse_label(d) for d in api] + [parse_flat_product(d) for d in flat]


def replicate(base: list[Label], n: int) -> list[Label]:
    """n distinct labels: copy k of label i is `replace(label, source_id=f"{id}-r{k}")`."""
    out: list[Label] = []
    k = 0
    while len(out) < n:
        for label in base[: n - len(out)]:
            out.append(dataclasses.replace(label, source_id=f"{label.source_id}-r{k}"))
        k += 1
    return out


def normalise_and_load(labels: list[Label], db_path: Path) -> dict:
    """One timed normalise + load into a fresh DuckDB file; returns times, counts, maxrss."""
    t0 = time.perf_counter()
    batch = normalize_labels(labels)
    t_norm = time.perf_counter() - t0
    rss_norm = _maxrss_mb()
    con = connect(db_path)
    try:
        run_id = start_run(con, "bench")
        t0 = time.perf_counter()
        stats = load_batch(con, batch, run_id=run_id)
        t_load = time.perf_counter() - t0
    finally:
        con.close()
    rss_load = _maxrss_mb()
    counts = {"ingredient_rows": len(batch.ingredient_rows), **batch.counts(), "flags": len(batch.label_flags)}
    return {"t_norm": t_norm, "t_load": t_load, "rss_norm": rss_norm, "rss_load": rss_load,
            "counts": counts, "inserted": dict(stats.inserted), "new_versions": stats.new_versions}


def memory_pass(labels: list[Label], db_path: Path) -> dict:
    """tracemalloc peaks (Python allocations) of normalise and of load, in a traced pass."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        t0 = time.perf_counter()
        batch = normalize_labels(labels)
        t_norm = time.perf_counter() - t0
        peak_norm = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.reset_peak()
        held = tracemalloc.get_traced_memory()[0] - base  # the batch, held through the load
        con = connect(db_path)
        try:
            run_id = start_run(con, "bench-memory")
            t0 = time.perf_counter()
            load_batch(con, batch, run_id=run_id)
            t_load = time.perf_counter() - t0
        finally:
            con.close()
        peak_load = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return {"peak_norm_mb": peak_norm / 1e6, "batch_mb": held / 1e6, "peak_load_mb": peak_load / 1e6,
            "t_norm_traced": t_norm, "t_load_traced": t_load}


# ------------------------------------------------------------------------------ pint comparison


def magnesium_amounts(labels: list[Label]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(amount, unit) of every magnesium row of the real labels with a mass amount, and the
    molar mass / Mg atoms of the row's compound (compound rows: the compound; elemental rows:
    their first named source with a formula; neither: NaN, left out of the compound step)."""
    table = by_key()
    amounts, label_units, mw, atoms = [], [], [], []
    for label in labels:
        for row in label.rows:
            if row.section != "active" or not row.amount or row.amount <= 0:
                continue
            reading = read_row(row.name, row.forms)
            if reading.kind not in ("elemental", "compound"):
                continue
            try:
                units.mass_unit(row.unit)
            except units.UnitProblem:
                continue  # NP, IU, ...: no mass, so nothing for either path to convert
            matches = reading.compounds if reading.kind == "compound" else \
                tuple(m for _, ms in reading.source_compounds for m in ms)
            match = next((m for m in matches if m.compound.defined), None)
            amounts.append(row.amount)
            label_units.append(row.unit)
            if match:
                compound = table[match.compound.key]
                mw.append(compound.molar_mass(match.hydrate))
                atoms.append(compound.mg_atoms())
            else:
                mw.append(np.nan)
                atoms.append(0)
    return (np.array(amounts, dtype="float64"), np.array(label_units, dtype=object),
            np.array(mw, dtype="float64"), np.array(atoms, dtype="float64"))


def _tile(a: np.ndarray, n: int) -> np.ndarray:
    return np.resize(a, n)  # repeats a to length n


def loop_to_mg(amounts: np.ndarray, label_units: np.ndarray) -> np.ndarray:
    Q_ = units.Q_
    return np.array([Q_(float(a), units.mass_unit(u)).to("mg").magnitude for a, u in zip(amounts, label_units, strict=True)])


def loop_compound_to_elemental(compound_mg: np.ndarray, molar_mass: np.ndarray, mg_atoms: np.ndarray) -> np.ndarray:
    Q_, mg_mw = units.Q_, units.MG_MOLAR_MASS
    out = np.empty(len(compound_mg))
    for i, (m, mw, n) in enumerate(zip(compound_mg.tolist(), molar_mass.tolist(), mg_atoms.tolist(), strict=True)):
        moles = Q_(m, "mg").to("mmol", "chemistry", mw=Q_(mw, "g/mol"))
        out[i] = (moles * n).to("mg", "chemistry", mw=mg_mw).magnitude
    return out


def pint_comparison(labels: list[Label], n_values: int, repeat: int = 3) -> dict:
    amounts, label_units, mw, atoms = magnesium_amounts(labels)
    real_rows, real_compound = len(amounts), int((~np.isnan(mw)).sum())
    a, u = _tile(amounts, n_values), _tile(label_units, n_values)
    has = ~np.isnan(mw)
    ca, cmw, cat = _tile(amounts[has], n_values), _tile(mw[has], n_values), _tile(atoms[has], n_values)
    units.to_milligrams(a[:10], u[:10])  # registry warm-up, same for both sides
    loop_to_mg(a[:10], u[:10])
    loop_compound_to_elemental(ca[:10], cmw[:10], cat[:10])

    t_col_mg, (col_mg, _, _) = _best_of(lambda: units.to_milligrams(a, u), repeat)
    t_loop_mg, loop_mg = _best_of(lambda: loop_to_mg(a, u), 1)
    t_col_el, col_el = _best_of(lambda: units.compound_to_elemental(ca, cmw, cat), repeat)
    t_loop_el, loop_el = _best_of(lambda: loop_compound_to_elemental(ca, cmw, cat), 1)
    if not (np.allclose(col_mg, loop_mg, rtol=1e-12) and np.allclose(col_el, loop_el, rtol=1e-12)):
        raise AssertionError("column-wise and per-row pint conversions disagree")
    return {"real_rows": real_rows, "real_compound_rows": real_compound, "distinct_units": len(set(label_units)),
            "values": n_values, "t_col_mg": t_col_mg, "t_loop_mg": t_loop_mg,
            "t_col_el": t_col_el, "t_loop_el": t_loop_el}


# ------------------------------------------------------------------------------------------ main


def _print_report(r: dict) -> None:
    n = r["labels"]
    print(f"maglabels normalise + load benchmark   (python {sys.version.split()[0]}, "
          f"{r['base_api']} API + {r['base_flat']} flat real labels -> {n:,} labels)")
    print()
    c = r["counts"]
    print(f"batch: {c['labels']:,} labels, {c['ingredient_rows']:,} ingredient rows, {c['facts']:,} Mg facts, "
          f"{c['magnesium_labels']:,} Mg labels, {c['flags']:,} flags, {c['quarantined']:,} quarantined; "
          f"{r['new_versions']:,} label versions opened")
    print()
    print(f"{'stage':<34}{'labels':>10}{'seconds':>10}{'labels/s':>12}{'maxrss MB':>11}")
    rows = [
        ("parse (front ends, real docs)", r["base_labels"], r["t_parse"], r["rss_parse"]),
        ("replicate (dataclasses.replace)", n, r["t_replicate"], r["rss_replicate"]),
        ("normalize_labels", n, r["t_norm"], r["rss_norm"]),
        ("load_batch (fresh DuckDB file)", n, r["t_load"], r["rss_load"]),
        ("normalise + load", n, r["t_norm"] + r["t_load"], r["rss_load"]),
    ]
    for name, count, secs, rss in rows:
        print(f"{name:<34}{count:>10,}{secs:>10.3f}{_rate(count, secs):>12,.0f}{rss:>11,.0f}")
    print()
    print(f"peak RSS (ru_maxrss, whole process): {r['maxrss_mb']:,.0f} MB after the timed pass, "
          f"{r['maxrss_exit_mb']:,.0f} MB at exit (incl. the traced pass and tracemalloc's own tables)")
    m = r.get("memory")
    if m:
        print(f"tracemalloc peak (Python allocations; traced pass of {m['labels']:,} labels): "
              f"normalise {m['peak_norm_mb']:,.0f} MB (new allocations still held by the batch after it: "
              f"{m['batch_mb']:,.0f} MB), load {m['peak_load_mb']:,.0f} MB incl. the held batch "
              f"(Arrow/DuckDB buffers are not traced)  [traced pass: {m['t_norm_traced']:.1f} s + {m['t_load_traced']:.1f} s]")
    else:
        print("tracemalloc peak: skipped (--no-memory-pass)")
    p = r["pint"]
    print()
    print(f"pint: {p['values']:,} values from {p['real_rows']} real Mg rows with a mass amount "
          f"({p['distinct_units']} distinct units; {p['real_compound_rows']} with a defined compound for step 2)")
    print(f"{'conversion':<34}{'column s':>10}{'loop s':>10}{'loop/col':>10}{'loop µs/row':>13}")
    for name, col, loop in (("to_milligrams", p["t_col_mg"], p["t_loop_mg"]),
                            ("compound_to_elemental", p["t_col_el"], p["t_loop_el"])):
        print(f"{name:<34}{col:>10.4f}{loop:>10.3f}{loop / col:>9,.0f}x{1e6 * loop / p['values']:>13.1f}")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--labels", type=int, default=100_000, help="labels to normalise and load (default 100,000)")
    ap.add_argument("--values", type=int, default=20_000, help="values for the pint comparison (default 20,000)")
    ap.add_argument("--memory-labels", type=int, default=None,
                    help="labels in the traced (tracemalloc) pass (default: all N)")
    ap.add_argument("--no-memory-pass", action="store_true", help="skip the tracemalloc pass")
    ap.add_argument("--profile", metavar="FILE", help="cProfile the timed normalise + load; write stats to FILE")
    args = ap.parse_args(argv)
    if args.labels < 1 or args.values < 1 or (args.memory_labels is not None and args.memory_labels < 1):
        ap.error("--labels, --values and --memory-labels must be positive")

    r: dict = {"labels": args.labels}
    api_docs, flat_docs = read_documents()
    r["base_api"], r["base_flat"] = len(api_docs), len(flat_docs)
    t0 = time.perf_counter()
    base = parse_documents(api_docs, flat_docs)
    r["t_parse"], r["base_labels"], r["rss_parse"] = time.perf_counter() - t0, len(base), _maxrss_mb()
    # the flattened corpus also holds the API labels' ids: keep the first (API) label of each id,
    # so that every replica is a distinct label
    base = list({(b.source, b.source_id): b for b in reversed(base)}.values())[::-1]
    r["base_labels"] = len(base)

    t0 = time.perf_counter()
    labels = replicate(base, args.labels)
    r["t_replicate"], r["rss_replicate"] = time.perf_counter() - t0, _maxrss_mb()

    with tempfile.TemporaryDirectory(prefix="bench_normalize_") as tmp:
        gc.collect()
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        r.update(normalise_and_load(labels, Path(tmp) / "timed.duckdb"))
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
            pstats.Stats(args.profile).sort_stats("cumulative").print_stats(25)
        r["maxrss_mb"] = _maxrss_mb()
        gc.collect()
        if not args.no_memory_pass:
            traced = labels[: args.memory_labels] if args.memory_labels else labels
            r["memory"] = {"labels": len(traced), **memory_pass(traced, Path(tmp) / "traced.duckdb")}
    del labels
    gc.collect()
    r["pint"] = pint_comparison(base, args.values)
    r["maxrss_exit_mb"] = _maxrss_mb()
    _print_report(r)
    return r


if __name__ == "__main__":
    main()
