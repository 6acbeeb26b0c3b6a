"""Archive.put on the bulk ingest path, timed against gunzip + json.loads of the same lines in the same run.

    .venv/bin/python benchmarks/bench_archive.py                 # first 20,000 lines of the shared corpus
    .venv/bin/python benchmarks/bench_archive.py --lines 5000 --profile /tmp/put.prof
    .venv/bin/python benchmarks/bench_archive.py --corpus ../../shared/realdata/dsld/derived/ingredient_scanner_products.jsonl.gz

The lines are read into memory and hashed first (the pipeline hashes each body before it puts it),
then each is put inside ``archive.bulk()`` with its ``sha256`` into a new archive; the timing ends
when bulk() has returned (every block written). "caller CPU" is the putting thread's own CPU time:
what the parse/normalise thread pays, while the writer thread compresses on the other core.
Baseline and puts each run three times; the best of each is printed. Reads ../shared when present.
"""
from __future__ import annotations

import argparse
import cProfile
import gzip
import hashlib
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import corpus_path  # noqa: E402 - the same corpus as the ingest benchmark
from maglabels.scrapers.archive import Archive  # noqa: E402


def baseline(path: Path, n: int) -> float:
    start = time.perf_counter()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        for line in itertools.islice(fh, n):
            json.loads(line)
    return time.perf_counter() - start


def put_all(root: Path, bodies: list[bytes], shas: list[str]) -> tuple[float, float]:
    """(wall seconds, calling thread CPU seconds) to put every body in a new archive inside bulk()."""
    wall, cpu = time.perf_counter(), time.thread_time()
    with Archive(root) as archive, archive.bulk():
        for i, (body, sha) in enumerate(zip(bodies, shas, strict=True)):
            archive.put(f"file:///corpus.jsonl.gz#line={i + 1}", None, {"content-type": "application/json"}, body,
                        source="dsld", kind="label-flat", sha256=sha)
    return time.perf_counter() - wall, time.thread_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000, help="first N lines of the corpus")
    parser.add_argument("--corpus", type=Path, help="a .jsonl(.gz) file (default: the shared corpus, as bench_ingest)")
    parser.add_argument("--profile", metavar="PATH", help="also write a cProfile of one put pass to PATH")
    args = parser.parse_args()
    corpus = args.corpus or corpus_path()
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    opener = gzip.open if corpus.suffix == ".gz" else open
    with opener(corpus, "rb") as fh:
        bodies = [line.rstrip(b"\r\n") for line in itertools.islice(fh, args.lines)]
    shas = [hashlib.sha256(b).hexdigest() for b in bodies]
    n, raw = len(bodies), sum(map(len, bodies))
    base = min(baseline(corpus, n) for _ in range(3))
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        runs = [put_all(Path(tmp) / f"a{k}", bodies, shas) for k in range(3)]
        if args.profile:
            cProfile.runctx("put_all(root, bodies, shas)", globals(),
                            {"root": Path(tmp) / "prof", "bodies": bodies, "shas": shas}, args.profile)
    wall, cpu = min(r[0] for r in runs), min(r[1] for r in runs)
    print(f"{n:,} lines, {raw / 1e6:.0f} MB")
    print(f"baseline gunzip + json.loads: {base:.2f} s")
    print(f"put (bulk, sha256 given): {wall:.2f} s wall = {wall / base:.2f}x baseline, {wall / n * 1e6:.0f} us/put; "
          f"caller CPU {cpu:.2f} s = {cpu / base:.2f}x")


if __name__ == "__main__":
    main()
