"""Local files into the archive: label JSON (single, list, dirs) and saved HTML."""

from __future__ import annotations

import json
import shutil

from maglabels.scrapers.archive import Archive
from maglabels.scrapers.files import canonical_url, ingest_html, ingest_paths
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
