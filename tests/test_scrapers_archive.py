"""Archive: content addressing, gzip on disk, index lines, hash checks, secret stripping."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maglabels.scrapers.archive import Archive, ArchiveCorruptError, ArchiveRecord


def index_lines(archive: Archive) -> list[dict]:
    return [json.loads(line) for line in archive.index_path.read_text().splitlines()]


def test_same_body_stored_once_indexed_twice(tmp_path):
    archive = Archive(tmp_path)
    body = b'{"id": 1, "ingredientRows": []}'
    r1 = archive.put("https://x.test/label/1", 200, {"Content-Type": "application/json"}, body, source="dsld", kind="label")
    r2 = archive.put("https://x.test/label/1?again", 200, {}, body, source="dsld", kind="label", fetched_at="2030-01-01T00:00:00Z")
    sha = hashlib.sha256(body).hexdigest()
    assert r1.sha256 == r2.sha256 == sha
    blobs = [p for p in tmp_path.rglob("*.gz")]
    assert blobs == [tmp_path / sha[:2] / f"{sha}.gz"]
    assert gzip.decompress(blobs[0].read_bytes()) == body  # gzip on disk, raw body inside
    lines = index_lines(archive)
    assert len(lines) == 2
    assert lines[0] == {
        "sha256": sha, "url": "https://x.test/label/1", "status": 200,
        "headers": {"content-type": "application/json"}, "fetched_at": r1.fetched_at,
        "source": "dsld", "kind": "label", "size": len(body), "path": f"{sha[:2]}/{sha}.gz",
    }
    assert lines[1]["fetched_at"] == "2030-01-01T00:00:00+00:00"
    assert r1.fetched_at.endswith("+00:00")
    assert not list(tmp_path.rglob(".tmp-*"))  # atomic writes leave no temp files


def test_get_roundtrip_and_hash_verification(tmp_path):
    archive = Archive(tmp_path)
    rec = archive.put("u", 200, {}, b"hello", source="s", kind="k")
    assert archive.get(rec.sha256) == b"hello"
    with open(rec.path, "wb") as fh:  # tamper with the stored blob
        fh.write(gzip.compress(b"evil"))
    with pytest.raises(ArchiveCorruptError):
        archive.get(rec.sha256)
    with pytest.raises(FileNotFoundError):
        archive.get("0" * 64)


def test_api_key_and_cookies_never_archived(tmp_path):
    secret = "SECRET-KEY-123"
    archive = Archive(tmp_path, secrets=[secret])
    headers = [
        ("X-Api-Key", secret), ("Authorization", "Bearer t0ken"), ("Cookie", "s=1"),
        ("Set-Cookie", "s=2"), ("X-Echo", f"key={secret}"), ("X-RateLimit-Remaining", "999"),
    ]
    rec = archive.put(f"https://api.test/v9/label/1?api_key={secret}&x=1", 200, headers, b"{}", source="dsld", kind="label")
    text = archive.index_path.read_text()
    assert secret not in text and "t0ken" not in text and "s=1" not in text
    assert rec.url == "https://api.test/v9/label/1?x=1"
    assert rec.headers == {"x-ratelimit-remaining": "999"}


def test_records_filter_and_latest(tmp_path):
    archive = Archive(tmp_path)
    archive.put("a", 200, {}, b"a1", source="dsld", kind="label", fetched_at="2024-01-01T00:00:00Z")
    archive.put("a", 200, {}, b"a2", source="dsld", kind="label", fetched_at="2024-02-01T00:00:00Z")
    archive.put("a", 200, {}, b"a0", source="dsld", kind="label", fetched_at="2023-12-01T00:00:00Z")
    archive.put("b", 200, {}, b"b1", source="dsld", kind="search")
    archive.put("c", 200, {}, b"c1", source="example.com", kind="page")
    assert len(archive.records()) == 5
    assert [r.url for r in archive.records(source="dsld", kind="label")] == ["a", "a", "a"]
    assert [r.url for r in archive.records(kind="page")] == ["c"]
    latest = archive.latest("dsld", "label")
    assert len(latest) == 1 and archive.get(latest[0].sha256) == b"a2"
    assert all(isinstance(r, ArchiveRecord) for r in latest)


def test_truncated_last_index_line_skipped_and_repaired(tmp_path, caplog):
    archive = Archive(tmp_path)
    archive.put("a", 200, {}, b"a", source="s", kind="k")
    with open(archive.index_path, "a") as fh:
        fh.write('{"sha256": "abc", "url": "tru')  # crash mid-append
    with caplog.at_level(logging.WARNING):
        assert [r.url for r in archive.records()] == ["a"]
    assert "skipping unreadable index line" in caplog.text
    archive.put("b", 200, {}, b"b", source="s", kind="k")  # must not glue onto the broken line
    assert [r.url for r in archive.records()] == ["a", "b"]


def test_empty_archive(tmp_path):
    archive = Archive(tmp_path / "new")
    assert archive.records() == [] and archive.latest("dsld", "label") == []


@settings(max_examples=25, deadline=None)
@given(body=st.binary(max_size=2048))
def test_put_get_roundtrip_any_bytes(tmp_path_factory, body):
    archive = Archive(tmp_path_factory.mktemp("arch"))
    rec = archive.put("u", 200, {}, body, source="s", kind="k")
    assert rec.size == len(body) and archive.get(rec.sha256) == body
