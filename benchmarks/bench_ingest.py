"""The real ingest path, timed against plain gunzip + json.loads of the same file in the same run.

    .venv/bin/python benchmarks/bench_ingest.py            # the shared 112,539-label corpus + 2 replicated sizes
    .venv/bin/python benchmarks/bench_ingest.py --limit 5000 --sizes 5000,10000   # a quick look
    .venv/bin/python benchmarks/bench_ingest.py --one-transaction --replicated-only --sizes 50000,200000  # as on DuckLake
    .venv/bin/python benchmarks/bench_ingest.py --formats 10000   # archive formats (warcio optional)
    .venv/bin/python benchmarks/bench_ingest.py --replicated-only --sizes 400000 --memory-trace 8  # where memory is

Phases (each ingest in a forked child, so its peak RSS is its own; the parent only times):
1. baseline: gunzip + json.loads of every line (in this process);
2. ingest into a NEW warehouse and archive (`maglabels ingest FILE`, in-process CLI);
3. re-ingest the same file unchanged (same warehouse and archive);
4. replicated real labels (new dsld_ids, same content) at two sizes, each into a new warehouse:
   peak RSS should be flat in the input size.
Prints seconds, labels/s, peak RSS and the ratios to the baseline. Reads ../shared when present.
"""
from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS_CANDIDATES = [base / "shared" / "realdata" / "dsld" / "derived" / "ingredient_scanner_products.jsonl.gz"
                     for base in (ROOT.parent, ROOT.parent.parent)]  # a clone, or a git worktree beside it
FALLBACK = ROOT / "tests" / "fixtures" / "dsld_flat" / "products.jsonl"


def corpus_path() -> Path:
    for path in CORPUS_CANDIDATES:
        if path.exists():
            print(f"corpus: {path}")
            return path
    print(f"corpus: ../shared is absent; using the 30 real lines of {FALLBACK.relative_to(ROOT)} "
          "(figures are not comparable to docs/benchmarks.md)")
    return FALLBACK


def baseline(path: Path, limit: int | None) -> tuple[float, int]:
    start = time.perf_counter()
    opener = gzip.open if path.suffix == ".gz" else open
    n = 0
    with opener(path, "rb") as fh:
        for line in itertools.islice(fh, limit):
            json.loads(line)
            n += 1
    return time.perf_counter() - start, n


def _tree(root: int) -> dict[int, tuple[float, float]]:
    """root and its descendants (the parse workers and their fork server): pid -> (PSS MiB, CPU s).
    PSS, not RSS: the workers share the fork server's pages, which RSS would count once per process."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    pids, grew = {root}, True
    while grew:
        kids = {pid for pid, parent in parents.items() if parent in pids} - pids
        pids |= kids
        grew = bool(kids)
    found: dict[int, tuple[float, float]] = {}
    for pid in pids:
        try:
            pss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
                       if line.startswith("Pss:")) / 1024
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            found[pid] = (pss, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
        except (OSError, StopIteration, ValueError, IndexError):
            continue
    return found


def in_child(fn, *args) -> tuple[float, float, str, float, float]:
    """Run fn(*args) in a forked child: (seconds, its peak RSS MiB, its stderr tail, the peak PSS MiB
    of it and the worker processes it starts together, their CPU seconds), sampled every 0.2 s."""
    read_fd, write_fd = os.pipe()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        try:
            try:
                message = fn(*args)
            except Exception as exc:  # report it: a failed child must not look like a result
                message = f"FAILED: {type(exc).__name__}: {exc}"
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            os.write(write_fd, json.dumps({"peak": peak, "message": message}).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    os.set_blocking(read_fd, False)
    chunks, tree_peak, cpu = [], 0.0, {}
    with os.fdopen(read_fd, "rb") as fh:
        while True:
            now = _tree(pid) if sys.platform == "linux" else {}
            tree_peak = max(tree_peak, sum(p for p, _ in now.values()))
            cpu.update({p: c for p, (_, c) in now.items()})
            data = fh.read()
            if data == b"":  # EOF: the child is done
                break
            if data:
                chunks.append(data)
            time.sleep(0.2)
    os.waitpid(pid, 0)
    seconds = time.perf_counter() - start
    result = json.loads(b"".join(chunks) or b'{"peak": -1, "message": "child failed"}')
    return seconds, result["peak"], result["message"], tree_peak, sum(cpu.values())


def _pymalloc_mib() -> int:
    """MiB of arenas Python's small-object allocator holds (sys._debugmallocstats writes to fd 2)."""
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        for line in tmp.read().decode(errors="replace").splitlines():
            if "bytes/arena" in line:  # "N arenas * S bytes/arena = T"
                return int(line.split("=")[1].replace(",", "")) >> 20
    return -1


def trace_memory(loading, every: int) -> None:
    """After every ``every``-th chunk is loaded, print what the ingest's main process holds: RSS
    (anonymous part), glibc's heap (all arenas, and how much of it is free), Python's small-object
    arenas, DuckDB's buffer manager (duckdb_memory(), queried on the loader's connection between two
    loads) and the archive's sha256 -> location map (entries, bytes)."""
    import ctypes

    from maglabels import pipeline

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                         "fsmblks", "uordblks", "fordblks", "keepcost")]

    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
        mallinfo2.restype = Mallinfo2
    except AttributeError:  # not glibc >= 2.33
        mallinfo2 = None
    original, count = loading._load_chunk, itertools.count(1)

    def traced(con, chunk, run_id):
        result = original(con, chunk, run_id)
        n = next(count)
        if n % every:
            return result
        status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
        mib = {k: int(status[k].split()[0]) // 1024 for k in ("VmRSS", "RssAnon")}
        heap, heap_mib = "", 0
        if mallinfo2 is not None:
            info = mallinfo2()
            heap_mib = (info.arena + info.hblkhd) >> 20
            heap = f"glibc heap {heap_mib} MiB ({info.fordblks >> 20} free), "
        duck = con.execute("SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()").fetchone()[0] >> 20
        where = pipeline.open_archive()._locations()
        python, map_mib = _pymalloc_mib(), where.nbytes() >> 20
        rest = mib["RssAnon"] - heap_mib - python - map_mib  # DuckDB's own allocator (jemalloc), stacks
        print(f"    chunk {n}: RSS {mib['VmRSS']} MiB ({mib['RssAnon']} anonymous), {heap}Python objects "
              f"{python} MiB, archive map {len(where):,} bodies in {map_mib} MiB; the rest {rest} MiB "
              f"(DuckDB's allocator: {duck} MiB in its buffers)", file=sys.__stdout__, flush=True)
        return result

    loading._load_chunk = traced


def run_ingest(data_dir: Path, path: Path) -> str:
    """`maglabels ingest PATH` with a given data dir, in this process; returns the summary line."""
    import io
    from contextlib import redirect_stderr

    os.environ["MAGLABELS_DATA_DIR"] = str(data_dir)
    os.environ.pop("MAGLABELS_DB", None)
    from maglabels import launch

    launch.start_workers_for([path])  # as the `maglabels` entry point does, before the CLI's imports
    from maglabels import loading
    from maglabels.cli import cli

    if os.environ.get("BENCH_ONE_TRANSACTION") == "1":
        loading.per_chunk_commits = lambda con: False  # type: ignore[assignment]
    if os.environ.get("BENCH_MEMORY_TRACE"):
        trace_memory(loading, int(os.environ["BENCH_MEMORY_TRACE"]))

    err = io.StringIO()
    with redirect_stderr(err):
        try:
            cli(["ingest", str(path)], standalone_mode=False)
        except SystemExit:
            pass
    return (err.getvalue().strip().splitlines() or ["(no output)"])[-1]


def write_sample(src: Path, dest: Path, n: int, *, replicate: bool) -> None:
    """The first n lines of src, or (replicate) n labels cycling through src with new dsld_ids."""
    opener = gzip.open if src.suffix == ".gz" else open
    with opener(src, "rb") as fh:
        lines = list(itertools.islice(fh, None if replicate else n))
    with gzip.open(dest, "wb", compresslevel=1) as out:
        for i in range(n):
            line = lines[i % len(lines)]
            if replicate and i >= len(lines):
                doc = json.loads(line)
                doc["dsld_id"] = int(doc["dsld_id"]) + 10_000_000 * (i // len(lines))  # a new label, same content
                line = json.dumps(doc, ensure_ascii=False).encode() + b"\n"
            out.write(line)


def compare_archive_formats(corpus: Path, n: int) -> None:
    """Write n real label bodies as (a) this project's segments, (b) one gzip WARC response record
    each (warcio, if installed: pip install warcio in any venv), (c) one gzip file each (the old
    layout); then read them all back by hash/offset."""
    import hashlib
    import io

    from maglabels.scrapers.archive import Archive

    with gzip.open(corpus, "rb") as fh:
        bodies = [line.rstrip(b"\n") for line in itertools.islice(fh, n)]
    raw = sum(map(len, bodies))
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        with Archive(root / "seg") as archive:
            recs = [archive.put(f"file:///x#line={i}", None, {"content-type": "application/json"}, b,
                                source="dsld", kind="label-flat") for i, b in enumerate(bodies)]
        w = time.perf_counter() - t
        size = sum(p.stat().st_size for p in (root / "seg").rglob("*") if p.is_file())
        t = time.perf_counter()
        fresh = Archive(root / "seg")
        for r in recs:
            fresh.get(r.sha256)
        r_s = time.perf_counter() - t
        print(f"segments (blocks, level 1): write {w:.2f} s, read all {r_s:.2f} s, {size / raw:.1%} of {raw / 1e6:.0f} MB")
        t = time.perf_counter()
        for b in bodies:
            sha = hashlib.sha256(b).hexdigest()
            d = root / "files" / sha[:2]
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{sha}.gz").write_bytes(gzip.compress(b, 9, mtime=0))
        w = time.perf_counter() - t
        size = sum(p.stat().st_size for p in (root / "files").rglob("*.gz"))
        print(f"one gzip file per body (old, level 9): write {w:.2f} s, {size / raw:.1%}")
        try:
            from warcio.statusandheaders import StatusAndHeaders
            from warcio.warcwriter import WARCWriter
        except ImportError:
            print("warcio not installed: WARC not measured")
            return
        t = time.perf_counter()
        offsets = []
        with open(root / "a.warc.gz", "wb") as out:
            writer = WARCWriter(out, gzip=True)
            for i, b in enumerate(bodies):
                offsets.append(out.tell())
                headers = StatusAndHeaders("200 OK", [("Content-Type", "application/json")], protocol="HTTP/1.1")
                rec = writer.create_warc_record(f"file:///x#line={i}", "response", payload=io.BytesIO(b),
                                                http_headers=headers)
                writer.write_record(rec)
        w = time.perf_counter() - t
        size = (root / "a.warc.gz").stat().st_size
        from warcio.archiveiterator import ArchiveIterator
        t = time.perf_counter()
        with open(root / "a.warc.gz", "rb") as fh:
            for off in offsets:
                fh.seek(off)
                next(iter(ArchiveIterator(fh))).content_stream().read()
        r_s = time.perf_counter() - t
        print(f"WARC (warcio, gzip per record): write {w:.2f} s, read all by offset {r_s:.2f} s, {size / raw:.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="use only the first N corpus lines")
    parser.add_argument("--sizes", default="100000,200000", help="replicated sizes (comma-separated)")
    parser.add_argument("--formats", type=int, default=0, metavar="N",
                        help="only compare archive formats on N real bodies (warcio optional)")
    parser.add_argument("--one-transaction", action="store_true",
                        help="load all chunks in one transaction (as on DuckLake) instead of a commit per chunk")
    parser.add_argument("--replicated-only", action="store_true", help="skip the baseline and corpus phases")
    parser.add_argument("--memory-trace", type=int, default=0, metavar="N",
                        help="print what the ingest's main process holds after every N-th chunk")
    args = parser.parse_args()
    if args.memory_trace:
        os.environ["BENCH_MEMORY_TRACE"] = str(args.memory_trace)
    if args.one_transaction:
        os.environ["BENCH_ONE_TRANSACTION"] = "1"
        print("all chunks in one transaction")
    corpus = corpus_path()
    if args.formats:
        compare_archive_formats(corpus, args.formats)
        return
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        if args.limit:
            sample = work / "sample.jsonl.gz"
            write_sample(corpus, sample, args.limit, replicate=False)
            corpus = sample
        if args.replicated_only:
            replicated(corpus, work, args.sizes)
            return
        base, n = baseline(corpus, None)
        print(f"baseline gunzip+json.loads: {n} labels in {base:.2f} s ({n / base:,.0f}/s)")
        first, peak1, msg1, tree1, cpu1 = in_child(run_ingest, work / "data", corpus)
        print(f"ingest (new warehouse + archive): {first:.2f} s, ratio {first / base:.1f}x (goal <= 5x); "
              f"peak RSS {peak1:,.0f} MiB, with the parse workers {tree1:,.0f} MiB PSS; {cpu1:.1f} s CPU\n    {msg1}")
        again, peak2, msg2, tree2, cpu2 = in_child(run_ingest, work / "data", corpus)
        print(f"re-ingest unchanged: {again:.2f} s, ratio {again / base:.2f}x (goal <= 1.5x); peak RSS {peak2:,.0f} MiB, "
              f"with the parse workers {tree2:,.0f} MiB PSS; {cpu2:.1f} s CPU\n    {msg2}")
        replicated(corpus, work, args.sizes)


def replicated(corpus: Path, work: Path, sizes: str) -> None:
    for size in (int(s) for s in sizes.split(",") if s):
        rep = work / f"rep{size}.jsonl.gz"
        write_sample(corpus, rep, size, replicate=True)
        seconds, peak, msg, tree, cpu = in_child(run_ingest, work / f"data{size}", rep)
        print(f"replicated {size:,} labels: {seconds:.2f} s ({size / seconds:,.0f}/s), peak RSS {peak:,.0f} MiB, "
              f"with the parse workers {tree:,.0f} MiB PSS; {cpu:.1f} s CPU\n    {msg}")
        rep.unlink()


if __name__ == "__main__":
    main()
