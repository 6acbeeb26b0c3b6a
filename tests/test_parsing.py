"""Parsing in worker processes (maglabels/parsing.py) gives what parsing in this process gives, on
real labels and on broken documents; a label repeated in a later slice loses; a worker that dies
costs the run nothing."""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from maglabels.normalize import contract
from maglabels.scrapers.files import NOT_A_LABEL

from maglabels import parsing
from maglabels.cli import cli
from maglabels.parsing import ParseItem, Parsers, parse_items
from tests.conftest import BUNDLED_DSLD_LABELS

SAMPLE = Path(__file__).parent / "fixtures" / "dsld_flat" / "sample400.jsonl.gz"
LINES = gzip.decompress(SAMPLE.read_bytes()).splitlines()


def item(body: bytes, n: int, data: object = None) -> ParseItem:
    import hashlib

    return ParseItem(f"file:///sample.jsonl#line={n}", body, hashlib.sha256(body).hexdigest(), "", True, data)


def broken_documents() -> list[bytes]:
    """Real lines made unreadable: cut short, stripped of their id, nested past any parser's limit."""
    doc = json.loads(LINES[0])
    del doc["dsld_id"]
    return [LINES[1][: len(LINES[1]) // 2], json.dumps(doc).encode(), b"[" * 100_000 + b"]" * 100_000]


@pytest.fixture(scope="module")
def items() -> list[ParseItem]:
    bodies = list(LINES) + [p.read_bytes() for p in sorted(BUNDLED_DSLD_LABELS.glob("*.json"))] + broken_documents()
    return [item(body, n) for n, body in enumerate(bodies, start=1)]


def assert_same(got: parsing.ParsedSlice, want: parsing.ParsedSlice) -> None:
    assert got.outcomes == want.outcomes
    for frame in contract.FRAMES:
        pd.testing.assert_frame_equal(getattr(got.batch, frame), getattr(want.batch, frame), obj=frame)


def test_worker_processes_give_what_this_process_gives(items):
    here = parse_items(items)
    with Parsers(2, min_parallel=1) as parsers:
        assert_same(parsers.submit(items)(), here)
        assert parsers.workers == 2  # no worker died: the pool did the work
        spill = Path(parsers._spill_dir.name)
        assert list(spill.iterdir()) == []  # each slice's file and its result's were deleted once read
    assert not spill.exists()
    kinds = [kind for kind, _ in here.outcomes]
    assert kinds.count("label-flat") == len(LINES) and kinds.count("label") == len(list(BUNDLED_DSLD_LABELS.glob("*.json")))
    problems = [reason for _, reason in here.outcomes if reason]
    assert problems[0].startswith("invalid JSON") and problems[1] == NOT_A_LABEL and "nest" in problems[2]
    assert len(here.batch.magnesium_labels) > 30


def test_a_label_repeated_in_a_later_slice_loses_as_within_one_batch():
    first, other = json.loads(LINES[5]), json.loads(LINES[6])
    again = {**first, "brand": "Relabelled"}  # the same DSLD id, another version
    bodies = [LINES[5], LINES[6], json.dumps(again).encode(), LINES[7]]
    items = [item(body, n) for n, body in enumerate(bodies, start=1)]
    with Parsers(2, min_parallel=1) as parsers:  # slices: [5, 6] and [again, 7]
        merged = parsers.submit(items)()
    assert_same(merged, parse_items(items))
    assert list(merged.batch.labels.source_id) == [str(first["dsld_id"]), str(other["dsld_id"]), str(json.loads(LINES[7])["dsld_id"])]
    assert "Relabelled" not in set(merged.batch.labels.brand)


class _KillsTheWorker:
    """Unpickling this ends the process that does it: a worker dying mid-chunk, for real."""

    def __reduce__(self):
        return (os._exit, (9,))


def test_a_worker_that_dies_costs_nothing_the_run_goes_on_here(items, caplog):
    doomed = [*items[:40], item(LINES[41], 41, data=_KillsTheWorker()), *items[42:80]]
    with Parsers(2, min_parallel=1) as parsers:
        pending = parsers.submit(doomed)
        spill = Path(parsers._spill_dir.name)
        assert len(list(spill.iterdir())) <= 2  # the slices' files, until the workers read them
        result = pending()
        assert parsers.workers == 0  # the rest of the run parses in this process
        assert not spill.exists()  # with what the dead worker left unread
        again = parsers.submit(items[:80])()
    assert "a parse worker died" in caplog.text
    here = parse_items(items[:80])
    assert_same(again, here)
    assert result.outcomes[:40] == here.outcomes[:40] and result.outcomes[40] == ("", NOT_A_LABEL)
    assert len(result.batch.labels) == 79 - 1  # every document but the one that was not a label


def timestamps(con, table: str) -> str:
    """The table's timestamp columns (when this run happened), as a SQL list of names."""
    names = con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND data_type LIKE 'TIMESTAMP%'",
                        [table]).fetchall()
    return ", ".join(f"'{name}'" for (name,) in names) or "''"


def test_ingest_with_workers_loads_what_ingest_without_them_loads(tmp_path, monkeypatch):
    """The whole path (skip check, archive, load) with the pool, against the same ingest in one process."""
    import duckdb

    monkeypatch.setattr(parsing, "MIN_PARALLEL", 1)
    monkeypatch.setattr("maglabels.pipeline.CHUNK_SIZE", 150)  # three chunks, each parsed by two workers
    tables = {}
    for workers in (0, 2):
        monkeypatch.setenv("MAGLABELS_DATA_DIR", str(tmp_path / f"w{workers}"))
        monkeypatch.setenv("MAGLABELS_PARSE_WORKERS", str(workers))
        monkeypatch.delenv("MAGLABELS_DB", raising=False)
        result = CliRunner().invoke(cli, ["ingest", str(SAMPLE)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        con = duckdb.connect(str(tmp_path / f"w{workers}" / "maglabels.duckdb"), read_only=True)
        tables[workers] = {table: con.execute(f"SELECT COLUMNS(c -> c NOT IN ({timestamps(con, table)})) FROM {table} "
                                              "ORDER BY ALL").fetchall()
                           for table in ("labels", "ingredient_rows", "magnesium_labels", "label_flags", "quarantine",
                                         "raw_fetches", "magnesium_daily")}
        con.close()
    assert tables[2] == tables[0]
    assert len(tables[2]["labels"]) == len(LINES)
