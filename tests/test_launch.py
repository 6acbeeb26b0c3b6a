"""The `maglabels` entry point starts the parse workers' fork server before the CLI's imports when
the command is an ingest of a large file, and not otherwise."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from maglabels.launch import EARLY_WORKERS_BYTES, ingest_paths, large_input

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "scrapers" / "bundled" / "dsld" / "ingredient_scanner_magnesium_products.jsonl.gz"  # 5.8 MB, real
SMALL = ROOT / "tests" / "fixtures" / "dsld_flat" / "products.jsonl"  # 30 real labels

# After the peek: is a fork server running (its pid alive), and has this process imported pandas yet?
PROBE = """
import os, sys
from maglabels import launch
launch.start_workers_for(launch.ingest_paths(sys.argv[1:]))
from multiprocessing import forkserver
pid = forkserver._forkserver._forkserver_pid
alive = pid is not None and os.waitpid(pid, os.WNOHANG) == (0, 0)
print(alive, "pandas" in sys.modules)
"""


def test_the_fixtures_are_on_either_side_of_the_threshold():
    assert BUNDLED.stat().st_size >= EARLY_WORKERS_BYTES > SMALL.stat().st_size


@pytest.mark.parametrize(("args", "large"), [
    (["ingest", str(BUNDLED)], True),
    (["-v", "--log-format", "json", "ingest", str(SMALL), str(BUNDLED)], True),
    (["ingest", str(SMALL)], False),
    (["ingest", str(BUNDLED.parent)], False),  # a directory: ingest starts the server itself if it must
    (["normalize", str(BUNDLED)], False),
    (["ingest", "/no/such/file.jsonl.gz"], False),
])
def test_large_ingest_is_recognised_from_the_arguments(args, large):
    assert large_input(ingest_paths(args)) is large


def probe(args: list[str], workers: str) -> list[str]:
    env = {**os.environ, "MAGLABELS_PARSE_WORKERS": workers}
    out = subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    return out.stdout.split()


def test_a_large_ingest_starts_the_server_before_the_cli_imports_pandas():
    assert probe(["ingest", str(BUNDLED)], "1") == ["True", "False"]


def test_no_server_for_a_small_ingest_or_when_workers_are_off():
    assert probe(["ingest", str(SMALL)], "1") == ["False", "False"]
    assert probe(["ingest", str(BUNDLED)], "0") == ["False", "False"]
