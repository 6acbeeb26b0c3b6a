"""Archive: content addressing in segments, index lines, hash checks, secret stripping, stored headers,
migration of the per-file layout, concurrent writers."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from maglabels.scrapers.archive import BLOCK_BYTES, Archive, ArchiveCorruptError, ArchiveRecord
from maglabels.scrapers.replay import BUNDLED_LABELS

REAL_LABELS = sorted(BUNDLED_LABELS.glob("*.json"))


def index_lines(archive: Archive) -> list[dict]:
    archive.flush()
    return [json.loads(line) for line in archive.index_path.read_text().splitlines()]


def test_same_body_stored_once_indexed_twice(tmp_path):
    archive = Archive(tmp_path)
    body = REAL_LABELS[0].read_bytes()
    r1 = archive.put("https://x.test/label/1", 200, {"Content-Type": "application/json"}, body, source="dsld", kind="label")
    r2 = archive.put("https://x.test/label/1?again", 200, {}, body, source="dsld", kind="label", fetched_at="2030-01-01T00:00:00Z")
    sha = hashlib.sha256(body).hexdigest()
    assert r1.sha256 == r2.sha256 == sha
    archive.close()
    segments = list((tmp_path / "segments").iterdir())
    assert len(segments) == 1
    assert gzip.decompress(segments[0].read_bytes()) == body  # a segment is plain gzip: body stored once
    assert (tmp_path / "blobs.idx").stat().st_size == 56  # one blob record
    lines = index_lines(archive)
    assert len(lines) == 2
    assert lines[0] == {
        "sha256": sha, "url": "https://x.test/label/1", "status": 200,
        "headers": {"content-type": "application/json"}, "fetched_at": r1.fetched_at,
        "source": "dsld", "kind": "label", "size": len(body),
    }
    assert lines[1]["fetched_at"] == "2030-01-01T00:00:00+00:00"
    assert r1.fetched_at.endswith("+00:00")
    # a new Archive on the same root reads it back (offline re-read) and deduplicates against it
    again = Archive(tmp_path)
    assert again.get(sha) == body and again.has(sha)
    again.put("u", None, {}, body, source="dsld", kind="label")
    again.close()
    assert (tmp_path / "blobs.idx").stat().st_size == 56


def test_many_bodies_packed_into_blocks_and_read_back(tmp_path):
    bodies = [p.read_bytes() for p in REAL_LABELS] * 2 + [os.urandom(BLOCK_BYTES + 10)]
    with Archive(tmp_path) as archive, archive.bulk():
        records = [archive.put(f"u{i}", 200, {}, b, source="s", kind="k") for i, b in enumerate(bodies)]
        assert archive.get(records[0].sha256) == bodies[0]  # served before it is written
        assert Archive(tmp_path).records() == []  # bulk: index lines not written yet
    members = (tmp_path / "blobs.idx").read_bytes()
    # 15 labels (360 KB) packed into 128 KB blocks: 3 members, plus one for the big body
    assert len({members[i + 32:i + 44] for i in range(0, len(members), 56)}) == 4
    fresh = Archive(tmp_path)
    assert [fresh.get(r.sha256) for r in records] == bodies
    assert len(fresh.records()) == len(bodies)
    distinct = len(set(bodies))
    assert (tmp_path / "blobs.idx").stat().st_size == 56 * distinct


def test_each_put_is_visible_to_other_readers_outside_bulk(tmp_path):
    writer = Archive(tmp_path)
    rec = writer.put("u", 200, {}, REAL_LABELS[1].read_bytes(), source="dsld", kind="label")
    reader = Archive(tmp_path)  # e.g. `maglabels normalize` while a crawler keeps its Archive open
    assert [r.sha256 for r in reader.records()] == [rec.sha256]
    assert reader.get(rec.sha256) == REAL_LABELS[1].read_bytes()


def test_get_roundtrip_and_hash_verification(tmp_path):
    archive = Archive(tmp_path)
    rec = archive.put("u", 200, {}, b"hello", source="s", kind="k")
    archive.close()
    assert archive.get(rec.sha256) == b"hello"
    segment = next((tmp_path / "segments").iterdir())
    segment.write_bytes(gzip.compress(b"evil!"))  # tamper with the stored member (same length of body)
    tampered = Archive(tmp_path)
    with pytest.raises(ArchiveCorruptError):
        tampered.get(rec.sha256)
    with pytest.raises(FileNotFoundError):
        tampered.get("0" * 64)


def test_api_key_and_cookies_never_archived(tmp_path):
    secret = "SECRET-KEY-123"
    archive = Archive(tmp_path, secrets=[secret])
    headers = [
        ("X-Api-Key", secret), ("Authorization", "Bearer t0ken"), ("Cookie", "s=1"),
        ("Set-Cookie", "s=2"), ("X-Echo", f"key={secret}"), ("X-RateLimit-Remaining", "999"),
    ]
    rec = archive.put(f"https://api.test/v9/{secret}/label/1?api_key={secret}&x=1", 200, headers, b"{}",
                      source="dsld", kind="label")
    archive.flush()
    text = archive.index_path.read_text()
    assert secret not in text and "t0ken" not in text and "s=1" not in text
    assert rec.url == "https://api.test/v9/REDACTED/label/1?x=1"
    assert rec.headers == {"x-ratelimit-remaining": "999"}


def test_stored_headers_describe_the_decoded_body(tmp_path):
    body = REAL_LABELS[0].read_bytes()
    wire = gzip.compress(body)
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip",
               "Content-Length": str(len(wire)), "Transfer-Encoding": "chunked"}
    rec = Archive(tmp_path).put("https://api.test/label/1", 200, headers, body, source="dsld", kind="label")
    assert rec.headers == {
        "content-type": "application/json", "content-length": str(len(body)),
        "x-maglabels-original-content-encoding": "gzip", "x-maglabels-original-content-length": str(len(wire)),
        "x-maglabels-original-transfer-encoding": "chunked",
    }


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
    archive.flush()
    with open(archive.index_path, "a") as fh:
        fh.write('{"sha256": "abc", "url": "tru')  # crash mid-append
    with caplog.at_level(logging.WARNING):
        assert [r.url for r in archive.records()] == ["a"]
    assert "skipping unreadable index line" in caplog.text
    archive.put("b", 200, {}, b"b", source="s", kind="k")  # must not glue onto the broken line
    assert [r.url for r in archive.records()] == ["a", "b"]


def test_torn_blob_record_is_skipped_and_repaired(tmp_path, caplog):
    with Archive(tmp_path) as archive:
        first = archive.put("a", 200, {}, b"first", source="s", kind="k")
    with open(tmp_path / "blobs.idx", "ab") as fh:
        fh.write(b"\x01" * 20)  # crash mid-record
    with caplog.at_level(logging.WARNING):
        archive = Archive(tmp_path)
        assert archive.get(first.sha256) == b"first"
    assert "torn last record" in caplog.text
    second = archive.put("b", 200, {}, b"second", source="s", kind="k")
    archive.close()
    assert (tmp_path / "blobs.idx").stat().st_size == 2 * 56
    assert Archive(tmp_path).get(second.sha256) == b"second"


def test_empty_archive(tmp_path):
    archive = Archive(tmp_path / "new")
    assert archive.records() == [] and archive.latest("dsld", "label") == []


def _write_per_file_archive(root: Path, bodies: list[bytes]) -> list[str]:
    """An archive exactly as the one-gzip-file-per-body code wrote it (blob files + index lines with path)."""
    root.mkdir(parents=True)
    shas = []
    with open(root / "index.jsonl", "w") as index:
        for i, body in enumerate(bodies):
            sha = hashlib.sha256(body).hexdigest()
            (root / sha[:2]).mkdir(exist_ok=True)
            with open(root / sha[:2] / f"{sha}.gz", "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
                gz.write(body)
            index.write(json.dumps({"sha256": sha, "url": f"file:///labels/{i}.json", "status": None,
                                    "headers": {"content-type": "application/json"},
                                    "fetched_at": "2026-11-01T00:00:00+00:00", "source": "dsld", "kind": "label",
                                    "size": len(body), "path": f"{sha[:2]}/{sha}.gz"}, sort_keys=True) + "\n")
            shas.append(sha)
    return shas


def test_per_file_archive_migrated_on_open(tmp_path):
    bodies = [p.read_bytes() for p in REAL_LABELS[:5]]
    root = tmp_path / "old"
    shas = _write_per_file_archive(root, bodies + bodies[:1])  # one body indexed twice
    (root / shas[1][:2] / f"{shas[1]}.gz").write_bytes(gzip.compress(b"tampered"))  # a corrupt blob stays

    archive = Archive(root)
    assert [archive.get(s) for s in (shas[0], *shas[2:5])] == [bodies[0], *bodies[2:5]]
    assert not archive.has(shas[1])
    assert list(root.glob("??/*.gz")) == [root / shas[1][:2] / f"{shas[1]}.gz"]  # only the corrupt one left
    records = archive.records()
    assert [r.url for r in records] == [f"file:///labels/{i}.json" for i in range(6)]  # old index lines still read
    assert Archive(root).get(shas[4]) == bodies[4]  # idempotent: a second open migrates nothing more


def test_concurrent_puts_from_threads(tmp_path):
    bodies = [p.read_bytes() for p in REAL_LABELS]
    archive = Archive(tmp_path)

    def worker(n: int) -> None:
        for i, body in enumerate(bodies):
            archive.put(f"https://x.test/{n}/{i}", 200, {}, body + str(i % 3).encode(), source="s", kind="k")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    archive.close()
    distinct = {b + str(i % 3).encode() for i, b in enumerate(bodies)}
    assert (tmp_path / "blobs.idx").stat().st_size == 56 * len(distinct)  # each body stored once
    fresh = Archive(tmp_path)
    records = fresh.records()
    assert len(records) == 4 * len(bodies)
    assert {fresh.get(r.sha256) for r in records} == distinct


def test_two_archives_on_one_root_share_segments(tmp_path):
    a, b = Archive(tmp_path), Archive(tmp_path)
    big = os.urandom(BLOCK_BYTES)  # own member: written at once
    ra = a.put("a", 200, {}, big, source="s", kind="k")
    rb = b.put("b", 200, {}, big[::-1], source="s", kind="k")
    a.close()
    b.close()
    fresh = Archive(tmp_path)
    assert fresh.get(ra.sha256) == big and fresh.get(rb.sha256) == big[::-1]
    assert b.get(ra.sha256) == big  # b finds a's body after re-reading blobs.idx


@settings(max_examples=25, deadline=None)
@given(body=st.binary(max_size=2048))
def test_put_get_roundtrip_any_bytes(tmp_path_factory, body):
    root = tmp_path_factory.mktemp("arch")
    archive = Archive(root)
    rec = archive.put("u", 200, {}, body, source="s", kind="k")
    assert rec.size == len(body) and archive.get(rec.sha256) == body
    archive.close()
    assert Archive(root).get(rec.sha256) == body
