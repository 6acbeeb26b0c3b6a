"""Loading the real labels bundled with the project (never the network)."""
from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path

from maglabels.normalize.dsld_label import parse_label
from maglabels.normalize.flat_dsld import parse_flat_product

BUNDLED = Path(__file__).resolve().parent.parent / "scrapers" / "bundled" / "dsld"
LABEL_DIR = BUNDLED / "labels"
FLAT_CORPUS = BUNDLED / "ingredient_scanner_magnesium_products.jsonl.gz"

MAGNESIUM_IDS = ("49495", "220884", "246811", "249664", "261967", "276336")
NO_MAGNESIUM_IDS = ("12196", "179343", "214224", "214893", "248267", "264116", "270619", "330088", "79324")


def dsld_doc(label_id: str) -> dict:
    return json.loads((LABEL_DIR / f"{label_id}.json").read_text(encoding="utf-8"))


def dsld_label(label_id: str):
    return parse_label(dsld_doc(label_id), raw_sha256=f"test-{label_id}")


@cache
def flat_docs() -> dict[str, dict]:
    with gzip.open(FLAT_CORPUS, "rt", encoding="utf-8") as fh:
        return {str(d["dsld_id"]): d for d in map(json.loads, fh)}


def flat_label(dsld_id: str):
    return parse_flat_product(flat_docs()[dsld_id])


@cache
def offline_warehouse() -> Path:
    """`maglabels run --offline` built ONCE per test session (12,425 real labels take a while);
    tests open it read-only or copy it. Returns the database file."""
    import atexit
    import shutil
    import tempfile

    import pytest
    from click.testing import CliRunner

    from maglabels.cli import cli

    root = Path(tempfile.mkdtemp(prefix="maglabels-offline-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    mp = pytest.MonkeyPatch()
    mp.setenv("MAGLABELS_DATA_DIR", str(root / "data"))
    mp.delenv("MAGLABELS_DB", raising=False)
    try:
        result = CliRunner().invoke(cli, ["run", "--offline"], catch_exceptions=False)
    finally:
        mp.undo()
    assert result.exit_code == 0, result.output
    return root / "data" / "maglabels.duckdb"
