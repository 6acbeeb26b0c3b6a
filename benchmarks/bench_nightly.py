"""Nightly DSLD job against the DSLD simulator (127.0.0.1, real labels): requests per label of a
full first crawl, and the time of a run on an unchanged source as a share of the full run.

    python benchmarks/bench_nightly.py                 # 1,000 labels, window 500, page size 50
    python benchmarks/bench_nightly.py --labels 300    # quick

Each run is the real CLI (`maglabels run --no-corpus`) in this process, with the request rate
lifted through settings (the simulator answers at loopback speed). Printed, never asserted.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from maglabels.cli import cli  # noqa: E402
from tests.dsld_simulator import DsldSimulator, load_labels  # noqa: E402


def _run(env: dict[str, str]) -> tuple[float, int]:
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        start = time.perf_counter()
        result = CliRunner().invoke(cli, ["run", "--no-corpus"], catch_exceptions=False)
        return time.perf_counter() - start, result.exit_code
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=1000)
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--page-size", type=int, default=50)
    args = parser.parse_args(argv)
    labels = load_labels(args.labels)
    with DsldSimulator(labels, window=args.window) as sim, tempfile.TemporaryDirectory() as tmp:
        env = {"MAGLABELS_DATA_DIR": str(Path(tmp) / "data"), "MAGLABELS_DSLD_BASE_URL": sim.base_url,
               "MAGLABELS_DSLD_REQUESTS_PER_HOUR": "360000000", "MAGLABELS_DSLD_PAGE_SIZE": str(args.page_size),
               "MAGLABELS_DSLD_RESULT_WINDOW": str(args.window)}
        full_s, code = _run(env)
        full_requests, full_labels = sim.total, sim.hits["label"]
        search_pages = sim.hits["search"]
        nochange_s, code2 = _run(env)
        nochange_requests = sim.total - full_requests
    figures: dict[str, object] = {
        "labels_served": len(labels), "labels_fetched": full_labels, "full_requests": full_requests,
        "search_pages": search_pages, "requests_per_label": full_requests / max(full_labels, 1),
        "full_s": full_s, "nochange_s": nochange_s, "nochange_requests": nochange_requests,
        "nochange_share": nochange_s / full_s, "exit_codes": (code, code2),
    }
    print(f"simulator: {len(labels)} real labels, window {args.window}, page size {args.page_size}")
    print(f"full crawl:    {full_labels} labels with {full_requests} requests "
          f"({search_pages} search pages) = {full_requests / max(full_labels, 1):.3f} requests/label, {full_s:.2f} s")
    print(f"exit codes: full {code}, no-change {code2}")
    print(f"no-change run: {nochange_requests} request(s), {nochange_s:.2f} s = "
          f"{nochange_s / full_s:.1%} of the full run's time")
    return figures


if __name__ == "__main__":
    main()
