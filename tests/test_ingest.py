"""`maglabels ingest` on real flattened DSLD lines (tests/fixtures/dsld_flat): formats, streaming in
chunks, skip-unchanged, per-document isolation and a failed run that leaves the warehouse as it was."""
from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from maglabels.normalize import flat_dsld
from maglabels.normalize import version as normalizer_version
from maglabels.scrapers.replay import BUNDLED_LABELS

from maglabels import loading, pipeline
from maglabels.cli import cli

FLAT = Path(__file__).parent / "fixtures" / "dsld_flat" / "products.jsonl"
LINES = FLAT.read_bytes().splitlines()
IDS = [str(json.loads(line)["dsld_id"]) for line in LINES]
CONTENT = ["labels", "label_versions", "ingredient_rows", "magnesium_facts", "magnesium_labels", "label_flags",
           "quarantine", "raw_documents", "raw_fetches"]


def ingest(*paths):
    return CliRunner().invoke(cli, ["ingest", *map(str, paths)], catch_exceptions=False)


def query(env, sql):
    con = duckdb.connect(str(env / "data" / "maglabels.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def snapshot(env):
    return {t: query(env, f"SELECT * FROM {t} ORDER BY ALL") for t in CONTENT}


def count_parses(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = flat_dsld.read_flat_product

    def counting(doc, **kw):
        calls.append(str(doc.get("dsld_id")))
        return real(doc, **kw)

    monkeypatch.setattr(flat_dsld, "read_flat_product", counting)  # parsed in this process: < MIN_PARALLEL
    return calls


def test_jsonl_gzip_and_array_shards_give_the_same_labels(env):
    plain = env / "products.jsonl"
    shutil.copy(FLAT, plain)
    gz = env / "products.jsonl.gz"
    gz.write_bytes(gzip.compress(FLAT.read_bytes()))
    shard = env / "0.json"  # the source shards are JSON arrays of these objects
    shard.write_text(json.dumps([json.loads(line) for line in LINES[:10]]))

    result = ingest(plain)
    assert result.exit_code == 0, result.output
    assert sorted(r[0] for r in query(env, "SELECT source_id FROM labels")) == sorted(IDS)
    urls = [r[0] for r in query(env, "SELECT url FROM raw_fetches ORDER BY url")]
    assert len(urls) == 30 and all(u.startswith("file:///") and "#line=" in u for u in urls)
    # every label with a magnesium nutrient-panel row has a magnesium summary (16 of the 30 lines)
    assert query(env, "SELECT count(*) FROM magnesium_labels")[0][0] >= 16

    before = snapshot(env)
    for other in (gz, shard):
        result = ingest(other)
        assert result.exit_code == 0, result.output
        assert "already loaded, skipped" in result.output
    after = snapshot(env)
    for table in ("labels", "ingredient_rows", "magnesium_facts", "magnesium_labels", "label_flags", "quarantine"):
        assert after[table] == before[table], table  # same content in another format: nothing new
    # the gzip lines are byte-identical: skipped before parsing; the shard's re-serialised elements are
    # new documents (new bodies) of the same label versions
    assert len(after["raw_documents"]) == 30 + 10


def test_reingest_unchanged_parses_nothing_until_the_normalizer_version_changes(env, monkeypatch):
    calls = count_parses(monkeypatch)
    assert ingest(FLAT).exit_code == 0
    assert len(calls) == 30
    before = snapshot(env)

    calls.clear()
    result = ingest(FLAT)
    assert result.exit_code == 0, result.output
    assert calls == []  # not one document re-parsed
    assert "(30 already loaded, skipped)" in result.output
    after = snapshot(env)
    assert {t: after[t] for t in CONTENT if t != "label_versions"} == {t: before[t] for t in CONTENT if t != "label_versions"}
    runs = query(env, "SELECT run_id, status, extra_counts->>'already_loaded' FROM scrape_runs ORDER BY run_id")
    assert [(r[1], r[2]) for r in runs] == [("ok", "0"), ("ok", "30")]
    # the skipped labels were seen by the second run
    assert query(env, "SELECT DISTINCT last_seen_run_id FROM label_versions") == [(runs[1][0],)]

    monkeypatch.setattr(normalizer_version, "NORMALIZER_VERSION", "test-bumped")
    monkeypatch.setattr(pipeline, "NORMALIZER_VERSION", "test-bumped")
    result = ingest(FLAT)
    assert result.exit_code == 0, result.output
    assert sorted(calls) == sorted(IDS)  # everything re-normalised once
    assert query(env, "SELECT DISTINCT normalizer_version FROM labels") == [("test-bumped",)]
    assert snapshot(env)["magnesium_labels"] == before["magnesium_labels"]  # same rows, replaced


def _deep(line: bytes, depth: int) -> bytes:
    """A real label with one ingredient field nested ``depth`` lists deep (json.loads: RecursionError)."""
    return line.replace(b'"ingredients":[', b'"ingredients":[' + b"[" * depth + b"]" * depth + b",", 1)


def test_bad_documents_are_isolated_and_the_rest_loads(env):
    src = env / "in"
    src.mkdir()
    for i, line in enumerate(LINES[:20]):  # a directory of 20 good single-label files ...
        (src / f"{i:02d}.json").write_bytes(line)
    (src / "99-deep.json").write_bytes(_deep(LINES[20], 100_000))  # ... plus one nested too deep
    shutil.copy(BUNDLED_LABELS / "49495.json", src / "v9-49495.json")  # a full v9 label goes with them
    cut = gzip.compress(b"\n".join(LINES[21:27]) + b"\n")
    (env / "truncated.jsonl.gz").write_bytes(cut[: len(cut) * 2 // 3])
    shard = [json.loads(LINES[27]), 42, json.loads(LINES[28])]
    (env / "shard.json").write_text(json.dumps(shard))
    (env / "lines.jsonl").write_bytes(LINES[29] + b"\n" + LINES[29][:-40] + b"\n")  # 2nd line cut short

    result = ingest(src, env / "truncated.jsonl.gz", env / "shard.json", env / "lines.jsonl")
    assert result.exit_code == 3, result.output  # partial: documents were lost
    loaded = {r[0] for r in query(env, "SELECT source_id FROM labels")}
    good = set(IDS[:20]) | {IDS[27], IDS[28], IDS[29], "49495"}
    assert good <= loaded
    assert IDS[20] not in loaded
    assert loaded - good <= set(IDS[21:27])  # lines before the gzip damage may load; nothing else
    reasons = {r[0].rsplit("/", 1)[-1]: r[1] for r in query(
        env, "SELECT source_id, reason FROM quarantine WHERE reason_code = 'unreadable_document'")}
    assert reasons["99-deep.json"] == "invalid JSON: nested too deeply to read (RecursionError)"
    assert reasons["truncated.jsonl.gz"].startswith("truncated or corrupt gzip after line")
    assert reasons["shard.json#1"] == "not a label: array element is int, not an object"
    assert reasons["lines.jsonl#line=2"].startswith("invalid JSON: ")
    assert len(reasons) == 4
    status, errors = query(env, "SELECT status, errors FROM scrape_runs")[0]
    assert (status, errors) == ("partial", 4)


def test_failure_mid_stream_leaves_the_warehouse_as_it_was(env, monkeypatch):
    assert ingest(FLAT).exit_code == 0
    before = snapshot(env)
    monkeypatch.setattr(normalizer_version, "NORMALIZER_VERSION", "test-bumped")  # force a full reload
    monkeypatch.setattr(pipeline, "NORMALIZER_VERSION", "test-bumped")
    monkeypatch.setattr(pipeline, "CHUNK_SIZE", 7)
    real, calls = loading.load_batch, []

    def failing_third_chunk(con, batch, **kw):
        calls.append(len(batch.labels))
        if len(calls) == 3:
            raise OSError("disk full (simulated)")
        return real(con, batch, **kw)

    monkeypatch.setattr(loading, "load_batch", failing_third_chunk)
    result = ingest(FLAT)
    assert result.exit_code == 1
    assert "warehouse unchanged" in result.output and "disk full" in result.output
    assert calls == [7, 7, 7]  # two chunks were loaded before the failure ...
    assert snapshot(env) == before  # ... and rolled back with the rest
    runs = query(env, "SELECT status, message FROM scrape_runs ORDER BY run_id")
    assert runs[-1][0] == "failed" and "disk full" in runs[-1][1]


def test_cli_archive_scrubs_the_api_key_from_settings(env, monkeypatch):
    secret = "dsld-key-0123456789"
    monkeypatch.setenv("MAGLABELS_DSLD_API_KEY", secret)
    archive = pipeline.open_archive()
    record = archive.put(f"https://api.ods.od.nih.gov/dsld/v9/label/49495?api_key={secret}", 200,
                         {"Content-Type": "application/json", "X-Echo-Key": secret, "Content-Encoding": "gzip"},
                         (BUNDLED_LABELS / "49495.json").read_bytes(), source="dsld", kind="label")
    archive.flush()
    assert secret not in archive.index_path.read_text()
    assert "x-echo-key" not in record.headers and "content-encoding" not in record.headers
    assert record.headers["x-maglabels-original-content-encoding"] == "gzip"


def test_load_keeps_rows_of_versions_the_same_normaliser_made(tmp_path):
    from maglabels.normalize.batch import normalize_labels
    from maglabels.warehouse import db
    from maglabels.warehouse.load import load_batch
    from maglabels.warehouse.runs import start_run

    from tests.realdata import dsld_label

    con = db.connect(tmp_path / "w.duckdb")

    def load(version):
        batch = normalize_labels([dsld_label("49495"), dsld_label("246811")])
        batch.labels["normalizer_version"] = version
        load_batch(con, batch, run_id=start_run(con, version))
        return {t: con.execute(f"SELECT rowid, * FROM {t} ORDER BY ALL").fetchall()
                for t in ("labels", "ingredient_rows", "magnesium_facts", "magnesium_labels")}

    first = load("v1")
    assert load("v1") == first  # same rowids: nothing deleted and re-inserted
    bumped = load("v2")
    assert bumped["ingredient_rows"] != first["ingredient_rows"]  # replaced: new rowids ...
    assert sorted(repr(r[1:]) for r in bumped["magnesium_facts"]) == sorted(repr(r[1:]) for r in first["magnesium_facts"])
    assert {r[-1] for r in bumped["labels"]} == {"v2"}
    con.close()


def test_per_chunk_commits_load_the_same(env, tmp_path_factory, monkeypatch):
    monkeypatch.setattr(pipeline, "CHUNK_SIZE", 7)
    monkeypatch.setattr(loading, "per_chunk_commits", lambda con: False)  # as on DuckLake
    assert ingest(FLAT).exit_code == 0
    one = snapshot(env)
    monkeypatch.setattr(loading, "per_chunk_commits", lambda con: True)  # as in a file write session
    other = tmp_path_factory.mktemp("other")
    monkeypatch.setenv("MAGLABELS_DATA_DIR", str(other / "data"))
    assert ingest(FLAT).exit_code == 0
    chunked = snapshot(other)
    for table in ("labels", "ingredient_rows", "magnesium_facts", "magnesium_labels", "label_flags", "quarantine"):
        assert chunked[table] == one[table], table


@pytest.mark.parametrize("per_chunk", [True, False], ids=["file-session", "one-transaction"])
def test_a_document_repeated_in_a_later_chunk_is_loaded_once(env, tmp_path, monkeypatch, per_chunk):
    """Chunk n is loaded while chunk n + 1 is read: a body of chunk n (not yet committed) or of an
    earlier chunk (committed, or not on DuckLake) met again is skipped, never loaded twice."""
    monkeypatch.setattr(pipeline, "CHUNK_SIZE", 4)
    monkeypatch.setattr(loading, "per_chunk_commits", lambda con: per_chunk)
    twice = tmp_path / "twice.jsonl"
    twice.write_bytes(b"\n".join(LINES[:6] + LINES[:6]) + b"\n")  # chunks: 0-3 | 4 5 0 1 | 2-5
    result = ingest(twice)
    assert result.exit_code == 0, result.output
    assert "loaded 6 labels" in result.output and "(6 already loaded, skipped)" in result.output
    repeated = snapshot(env)
    once = tmp_path / "once.jsonl"
    once.write_bytes(b"\n".join(LINES[:6]) + b"\n")
    monkeypatch.setenv("MAGLABELS_DATA_DIR", str(tmp_path / "other" / "data"))
    assert ingest(once).exit_code == 0
    single = snapshot(tmp_path / "other")
    for table in ("ingredient_rows", "magnesium_facts", "magnesium_labels", "label_flags"):
        assert repeated[table] == single[table], table
    assert len(repeated["labels"]) == len(repeated["label_versions"]) == 6


def test_a_body_met_again_while_the_chunk_before_parses_it_ends_as_if_read_in_order(env, tmp_path, monkeypatch):
    """Chunk n + 1 is sent off before chunk n's results are in: a body of both is carried over to
    chunk n + 2, which skips it when chunk n loaded it and parses it again when chunk n lost it."""
    monkeypatch.setattr(pipeline, "CHUNK_SIZE", 3)
    cut = LINES[7][: len(LINES[7]) // 2]  # a real line, cut short: invalid JSON
    twice = tmp_path / "twice.jsonl"
    twice.write_bytes(b"\n".join([LINES[0], cut, LINES[1], cut, LINES[0], LINES[2]]) + b"\n")  # chunks: 0 x 1 | x 0 2
    result = ingest(twice)
    assert result.exit_code == 3, result.output
    assert "loaded 3 labels" in result.output and "(1 already loaded, skipped); 2 documents lost" in result.output
    lost = query(env, "SELECT source_id FROM quarantine WHERE reason_code = 'unreadable_document' ORDER BY ALL")
    assert [url.rsplit("#", 1)[1] for (url,) in lost] == ["line=2", "line=4"]  # each copy reported, as before
    assert sorted(r[0] for r in query(env, "SELECT source_id FROM labels")) == sorted(IDS[:3])
