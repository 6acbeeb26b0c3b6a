"""Local files into the archive: label JSON (single, list, dirs) and saved HTML."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

from maglabels.scrapers.archive import Archive
from maglabels.scrapers.files import IngestError, RawDocument, canonical_url, ingest_html, ingest_paths, iter_documents
from maglabels.scrapers.replay import BUNDLED_LABELS


def test_ingest_dirs_and_files_with_broken_ones(tmp_path):
    src = tmp_path / "in"
    (src / "nested").mkdir(parents=True)
    shutil.copy(BUNDLED_LABELS / "49495.json", src / "49495.json")
    shutil.copy(BUNDLED_LABELS / "220884.json", src / "nested" / "220884.json")
    (src / "broken.json").write_text('{"id": 1, "ingredientRows": [')
    (src / "nested" / "other.json").write_text('{"hello": "world"}')
    (src / "latin1.json").write_bytes(b'{"name": "\xe9"}')
    (src / "notes.txt").write_text("ignored: not *.json")
    labels = [json.loads((BUNDLED_LABELS / f"{i}.json").read_bytes()) for i in ("246811", "249664")]
    bulk = tmp_path / "bulk.json"
    bulk.write_text(json.dumps(labels + [{"not": "a label"}]))

    archive = Archive(tmp_path / "archive")
    records, errors = ingest_paths([src, bulk, tmp_path / "missing.json"], archive)

    assert sorted(r.url.rsplit("/", 1)[1] for r in records) == sorted(
        ["49495.json", "220884.json", "bulk.json#0", "bulk.json#1"]
    )
    assert {(r.source, r.kind, r.status) for r in records} == {("dsld", "label", None)}
    assert all(r.url.startswith("file:///") for r in records)
    single = next(r for r in records if r.url.endswith("49495.json"))
    assert archive.get(single.sha256) == (BUNDLED_LABELS / "49495.json").read_bytes()  # bytes as found
    first = next(r for r in records if r.url.endswith("#0"))
    assert json.loads(archive.get(first.sha256)) == labels[0]

    reasons = {e.path.rsplit("/", 1)[1]: e.reason for e in errors}
    assert reasons["broken.json"].startswith("invalid JSON: Expecting value at line 1")
    assert reasons["latin1.json"].startswith("invalid JSON: not UTF-8")
    assert reasons["other.json"].startswith("not a DSLD label")
    assert reasons["bulk.json#2"].startswith("not a DSLD label")
    assert reasons["missing.json"] == "not found"
    assert len(errors) == 5


def test_ingest_html_canonical_or_given_url(tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "a.html").write_text(
        '<html><head><link rel="canonical" href="https://www.shop.example/p/mag-glycinate"></head><body>x</body></html>'
    )
    (pages / "b.htm").write_text("<html><body>no canonical</body></html>")
    archive = Archive(tmp_path / "archive")

    records, errors = ingest_html([pages], archive)
    assert [(r.url, r.source, r.kind) for r in records] == [
        ("https://www.shop.example/p/mag-glycinate", "www.shop.example", "page")
    ]
    assert records[0].headers["x-maglabels-local-file"].endswith("/pages/a.html")
    assert len(errors) == 1 and "canonical" in errors[0].reason

    records, errors = ingest_html([pages / "b.htm"], archive, url="https://brand.example/mag")
    assert [(r.url, r.source) for r in records] == [("https://brand.example/mag", "brand.example")]
    assert errors == []


def test_canonical_url_ignores_relative_and_other_links():
    assert canonical_url('<link rel="stylesheet" href="https://a/x.css">') is None
    assert canonical_url('<link rel="canonical" href="/relative">') is None
    assert canonical_url("<LINK REL='Canonical' HREF='https://a.example/p'>") == "https://a.example/p"

FLAT = Path(__file__).parent / "fixtures" / "dsld_flat" / "products.jsonl"


def test_flat_formats_jsonl_gzip_and_array_shards(tmp_path):
    flat = FLAT
    lines = flat.read_bytes().splitlines()
    (tmp_path / "in").mkdir()
    shutil.copy(flat, tmp_path / "in" / "a.jsonl")
    (tmp_path / "in" / "b.ndjson.gz").write_bytes(gzip.compress(b"\n".join(lines[:3]) + b"\n\n"))  # blank line ignored
    (tmp_path / "in" / "shard.json").write_text(json.dumps([json.loads(x) for x in lines[3:5]]))
    (tmp_path / "in" / "one.json.gz").write_bytes(gzip.compress(lines[5]))

    docs = list(iter_documents([tmp_path / "in"]))
    assert all(isinstance(d, RawDocument) for d in docs)
    assert [d.url.rsplit("/", 1)[1] for d in docs] == (
        [f"a.jsonl#line={i}" for i in range(1, 31)] + ["b.ndjson.gz#line=1", "b.ndjson.gz#line=2",
                                                         "b.ndjson.gz#line=3", "one.json.gz", "shard.json#0", "shard.json#1"])
    assert [d.body for d in docs[:30]] == lines  # lines as found
    assert docs[-1].data == json.loads(lines[4])  # array elements come parsed

    archive = Archive(tmp_path / "archive")
    records, errors = ingest_paths([tmp_path / "in"], archive)
    assert errors == []
    assert {(r.kind, r.source) for r in records} == {("label-flat", "dsld")}
    assert len({r.sha256 for r in records}) == 30 + 2  # the shard's elements are re-serialised: new bodies
    assert archive.get(records[0].sha256) == lines[0]


def test_unreadable_inputs_become_specific_errors(tmp_path):
    lines = FLAT.read_bytes().splitlines()
    whole = gzip.compress(b"\n".join(lines[:6]) + b"\n")
    (tmp_path / "cut.jsonl.gz").write_bytes(whole[:-200])
    (tmp_path / "cut.json.gz").write_bytes(gzip.compress(lines[0])[:-30])
    flipped = whole[:10] + b"\xff" * 4 + whole[14:]  # an invalid first deflate block: the codec's own error
    (tmp_path / "flipped.jsonl.gz").write_bytes(flipped)
    (tmp_path / "flipped.json.gz").write_bytes(flipped)
    (tmp_path / "deep.json").write_bytes(b"[" * 50_000 + b"]" * 50_000)
    (tmp_path / "mixed.json").write_text(json.dumps([json.loads(lines[0]), "x", None]))

    items = list(iter_documents(sorted(tmp_path.iterdir())))
    errors = {e.path.rsplit("/", 1)[1]: e.reason for e in items if isinstance(e, IngestError)}
    good = [d for d in items if isinstance(d, RawDocument)]
    assert errors["cut.jsonl.gz"].startswith("truncated or corrupt gzip after line")
    assert errors["cut.json.gz"].startswith("truncated or corrupt gzip")
    assert errors["flipped.jsonl.gz"].startswith("truncated or corrupt gzip after line")
    assert errors["flipped.json.gz"].startswith("truncated or corrupt gzip")
    assert errors["deep.json"] == "invalid JSON: nested too deeply to read (RecursionError)"
    assert errors["mixed.json#1"] == "not a label: array element is str, not an object"
    assert errors["mixed.json#2"] == "not a label: array element is NoneType, not an object"
    assert len(errors) == 7
    assert [d.body for d in good if "cut.jsonl.gz" in d.url] == lines[: len([d for d in good if "cut.jsonl.gz" in d.url])]
    assert [d.url.rsplit("/", 1)[1] for d in good if "mixed" in d.url] == ["mixed.json#0"]
