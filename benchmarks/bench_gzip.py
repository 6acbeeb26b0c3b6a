"""gzip through ISA-L (scrapers/gzipio.py, python-isal) against the standard library's zlib/gzip, on
the shared corpus (the bundled magnesium corpus when ../shared is absent): CPU seconds to gunzip the
file, and to compress / decompress its bodies as the archive does (128 KB blocks, level 1).

    .venv/bin/python benchmarks/bench_gzip.py [--blocks N]
"""
from __future__ import annotations

import argparse
import gzip
import time
import zlib
from pathlib import Path

from isal import igzip, isal_zlib

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = [base / "shared" / "realdata" / "dsld" / "derived" / "ingredient_scanner_products.jsonl.gz"
              for base in (ROOT.parent, ROOT.parent.parent)]
FALLBACK = ROOT / "scrapers" / "bundled" / "dsld" / "ingredient_scanner_magnesium_products.jsonl.gz"
BLOCK = 128 * 1024


def cpu(fn, repeat: int = 3) -> float:
    """Best CPU seconds of ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def read_all(opener, path: Path) -> None:
    with opener(path, "rb") as fh:
        while fh.read(1 << 22):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=400, help="128 KB blocks to compress (default 400: 52 MB)")
    args = parser.parse_args()
    path = next((p for p in CANDIDATES if p.exists()), FALLBACK)
    print(f"input: {path}")
    raw = gzip.decompress(path.read_bytes())
    blocks = [raw[i:i + BLOCK] for i in range(0, min(len(raw), args.blocks * BLOCK), BLOCK)]
    size = sum(map(len, blocks))
    print(f"gunzip the file ({len(raw) / 1e6:.0f} MB of JSON):")
    std, isal = cpu(lambda: read_all(gzip.open, path)), cpu(lambda: read_all(igzip.open, path))
    print(f"  gzip {std:.2f} s, isal {isal:.2f} s: {std / isal:.1f}x")
    members: dict[str, list[bytes]] = {}
    for name, compress in (("zlib", zlib.compress), ("isal", isal_zlib.compress)):
        members[name] = [compress(b, 1, wbits=31) for b in blocks]
    print(f"archive blocks, level 1 ({len(blocks)} x 128 KB = {size / 1e6:.0f} MB):")
    std = cpu(lambda: [zlib.compress(b, 1, wbits=31) for b in blocks])
    isal = cpu(lambda: [isal_zlib.compress(b, 1, wbits=31) for b in blocks])
    ratio = {name: sum(map(len, m)) / size for name, m in members.items()}
    print(f"  compress: zlib {std:.3f} s ({ratio['zlib']:.1%}), isal {isal:.3f} s ({ratio['isal']:.1%}): {std / isal:.1f}x")
    std = cpu(lambda: [zlib.decompress(m, 31) for m in members["isal"]])
    isal = cpu(lambda: [isal_zlib.decompress(m, 31) for m in members["zlib"]])
    print(f"  decompress (each the other's members): zlib {std:.3f} s, isal {isal:.3f} s: {std / isal:.1f}x")


if __name__ == "__main__":
    main()
