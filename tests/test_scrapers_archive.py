"""Archive: content addressing in segments, index lines, hash checks, secret stripping, stored headers,
migration of the per-file layout, concurrent writers, the writer thread of bulk()."""

from __future__ import annotations

import contextlib
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
from maglabels.scrapers import archive as archive_module
from maglabels.scrapers.archive import BLOCK_BYTES, Archive, ArchiveCorruptError, ArchiveRecord, ArchiveWriteError
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
    archive = Archive(tmp_path)
    rec = archive.put("https://api.test/label/1", 200, headers, body, source="dsld", kind="label")
    assert rec.headers == {
        "content-type": "application/json", "content-length": str(len(body)),
        "x-maglabels-original-content-encoding": "gzip", "x-maglabels-original-content-length": str(len(wire)),
        "x-maglabels-original-transfer-encoding": "chunked",
    }
    # the same header list again (served from a cache): Content-Length still describes this body
    other = REAL_LABELS[1].read_bytes()
    rec2 = archive.put("https://api.test/label/2", 200, headers, other, source="dsld", kind="label")
    assert rec2.headers["content-length"] == str(len(other))
    rec2.headers["x-mine"] = "1"  # records never share a headers dict
    assert "x-mine" not in archive.put("u", 200, headers, other, source="dsld", kind="label").headers
    assert [line["headers"]["content-length"] for line in index_lines(archive)] == [str(len(body)), *[str(len(other))] * 2]


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


@pytest.mark.parametrize("sha", ["ab", "", "00" * 31, "00" * 33, "xyz"])
def test_get_of_a_malformed_hash_is_not_found(tmp_path, sha):
    archive = Archive(tmp_path)
    archive.put("u", 200, {}, b"body", source="s", kind="k")
    with pytest.raises(FileNotFoundError):
        archive.get(sha)


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


@pytest.mark.parametrize("bulk", [False, True])
def test_concurrent_puts_from_threads(tmp_path, bulk):
    bodies = [p.read_bytes() for p in REAL_LABELS]
    archive = Archive(tmp_path)

    def worker(n: int) -> None:
        for i, body in enumerate(bodies):
            archive.put(f"https://x.test/{n}/{i}", 200, {}, body + str(i % 3).encode(), source="s", kind="k")

    with archive.bulk() if bulk else contextlib.nullcontext():
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


def test_given_sha256_is_the_computed_one(tmp_path):
    body = REAL_LABELS[2].read_bytes()
    sha = hashlib.sha256(body).hexdigest()
    archive = Archive(tmp_path)
    given = archive.put("u", None, {}, body, source="dsld", kind="label", fetched_at="2026-01-01T00:00:00Z",
                        sha256=sha.upper())
    computed = archive.put("u", None, {}, body, source="dsld", kind="label", fetched_at="2026-01-01T00:00:00Z")
    assert given == computed and given.sha256 == sha  # same record, hex in lower case
    assert index_lines(archive)[0] == index_lines(archive)[1]
    assert (tmp_path / "blobs.idx").stat().st_size == 56  # one body, found again by its digest
    assert Archive(tmp_path).get(sha) == body  # and verified on read
    with pytest.raises(ValueError):
        archive.put("u", None, {}, body, source="dsld", kind="label", sha256=sha[:62])


@given(url=st.text(), source=st.text(max_size=20), status=st.none() | st.integers(100, 599),
       headers=st.dictionaries(st.text(max_size=10), st.text(max_size=30), max_size=3))
def test_index_line_is_exactly_json_dumps_of_the_record(url, source, status, headers):
    rec = ArchiveRecord(sha256="ab" * 32, url=url, status=status, headers=headers, fetched_at="2026-01-01T00:00:00+00:00",
                        source=source, kind="label", size=len(url))
    fields = {"fetched_at": rec.fetched_at, "headers": headers, "kind": rec.kind, "sha256": rec.sha256,
              "size": rec.size, "source": source, "status": status, "url": url}
    assert rec.to_json() == json.dumps(fields, ensure_ascii=False)  # what the index lines always were


@contextlib.contextmanager
def gated_writer(monkeypatch):
    """Hold the writer thread before it compresses a member until the yielded event is set (at the
    latest on leaving, so a failing test never leaves bulk() waiting for it)."""
    gate, compress = threading.Event(), archive_module.compress_member

    def gated(body: bytes, level: int) -> bytes:
        assert gate.wait(timeout=30), "the test never opened the gate"
        return compress(body, level)

    monkeypatch.setattr(archive_module, "compress_member", gated)
    try:
        yield gate
    finally:
        gate.set()


def test_queued_bodies_are_served_before_the_writer_has_written_them(tmp_path, monkeypatch):
    bodies = [p.read_bytes() for p in REAL_LABELS]
    archive = Archive(tmp_path)
    with archive.bulk(), gated_writer(monkeypatch) as gate:
        records = [archive.put(f"u{i}", None, {}, b, source="dsld", kind="label") for i, b in enumerate(bodies)]
        assert archive._jobs is not None and archive._jobs.unfinished_tasks >= 2  # full blocks handed on
        # nothing is on disk (the writer waits at the gate), yet every body is found
        assert not (tmp_path / "index.jsonl").exists() and not (tmp_path / "blobs.idx").exists()
        assert all(archive.has(r.sha256) for r in records)
        assert [archive.get(r.sha256) for r in records] == bodies
        gate.set()
        archive.flush()  # waits for the writer
        assert [r.sha256 for r in Archive(tmp_path).records()] == [r.sha256 for r in records]
    assert not any(t.name.startswith("archive-writer") for t in threading.enumerate())  # ended with bulk()
    fresh = Archive(tmp_path)
    assert [fresh.get(r.sha256) for r in records] == bodies


def test_writer_queue_is_bounded(tmp_path, monkeypatch):
    bodies = [p.read_bytes() + b" " * i for i in range(12) for p in REAL_LABELS]  # 180 bodies, 4.3 MB
    archive = Archive(tmp_path)
    with archive.bulk(), gated_writer(monkeypatch) as gate:
        producer = threading.Thread(target=lambda: [archive.put("u", None, {}, b, source="s", kind="k") for b in bodies])
        producer.start()
        for _ in range(300):  # until the queue is full (bounded wait)
            if archive._jobs is not None and archive._jobs.full():
                break
            threading.Event().wait(0.01)
        producer.join(timeout=0.2)
        assert producer.is_alive()  # blocked on the full queue: it cannot run ahead of the writer
        # held in memory: the writer's job + the queued ones + the open block, not all the bodies
        queued = sum(map(len, archive._queued.values())) + archive._block.size
        assert queued <= (archive_module._IN_FLIGHT + 2) * (BLOCK_BYTES + max(map(len, bodies)))
        assert queued < sum(map(len, bodies)) / 3
        gate.set()
        producer.join(timeout=60)
    fresh = Archive(tmp_path)
    assert len(fresh.records()) == len(bodies) and {fresh.get(r.sha256) for r in fresh.records()} == set(bodies)


def test_writer_error_surfaces_in_the_caller(tmp_path, monkeypatch, caplog):
    bodies = [p.read_bytes() for p in REAL_LABELS]
    archive = Archive(tmp_path)
    kept = archive.put("before", None, {}, b"stored before the bulk", source="s", kind="k")

    def disk_full(body: bytes, level: int) -> bytes:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(archive_module, "compress_member", disk_full)
    with caplog.at_level(logging.ERROR), pytest.raises(ArchiveWriteError) as raised, archive.bulk():
        records = [archive.put(f"u{i}", None, {}, b, source="dsld", kind="label") for i, b in enumerate(bodies)]
        with pytest.raises(ArchiveWriteError) as first:
            archive.flush()
        assert isinstance(first.value.__cause__, OSError) and first.value.__cause__.errno == 28
        assert not any(archive.has(r.sha256) for r in records)  # dropped, and not claimed
        archive.put("after", None, {}, bodies[0], source="dsld", kind="label")  # every later put raises too
    assert isinstance(raised.value.__cause__, OSError)
    assert "the writer failed too" in caplog.text  # leaving bulk() on the put's error: logged, not lost
    monkeypatch.undo()
    # the index names only stored bodies; the archive works again (synchronously) after bulk()
    assert [r.url for r in Archive(tmp_path).records()] == ["before"]
    again = archive.put("again", None, {}, bodies[0], source="dsld", kind="label")
    assert Archive(tmp_path).get(again.sha256) == bodies[0] and Archive(tmp_path).get(kept.sha256)


def test_writer_error_raised_on_leaving_bulk(tmp_path, monkeypatch):
    monkeypatch.setattr(archive_module, "_append_bytes", lambda *a, **k: (_ for _ in ()).throw(OSError(5, "I/O error")))
    archive = Archive(tmp_path)
    with pytest.raises(ArchiveWriteError) as raised, archive.bulk():
        archive.put("u", None, {}, b"one small body", source="s", kind="k")  # written only at the end
    assert isinstance(raised.value.__cause__, OSError)
    assert not archive.has(hashlib.sha256(b"one small body").hexdigest())


def _index_names_only_stored_bodies(root: Path) -> int:
    """Read index.jsonl, then blobs.idx and the segments, as another process would: every body the
    index names must be readable. Returns the number of index lines."""
    index = root / "index.jsonl"
    lines = index.read_text().splitlines() if index.exists() else []
    reader = Archive(root)
    for line in lines:
        sha = json.loads(line)["sha256"]
        assert hashlib.sha256(reader.get(sha)).hexdigest() == sha
    return len(lines)


def test_on_disk_order_while_the_writer_runs(tmp_path, monkeypatch):
    bodies = [p.read_bytes() for p in REAL_LABELS] * 2 + [os.urandom(BLOCK_BYTES + 10)]
    bodies += [p.read_bytes()[::-1] for p in REAL_LABELS]
    archive = Archive(tmp_path)
    seen = []
    with archive.bulk():
        with gated_writer(monkeypatch):  # the writer holds a full block before it compresses it
            for i, body in enumerate(bodies[:8]):
                archive.put(f"u{i}", None, {}, body, source="s", kind="k")
            assert archive._jobs is not None and archive._jobs.unfinished_tasks >= 1
            assert _index_names_only_stored_bodies(tmp_path) == 0
        for i, body in enumerate(bodies[8:], 8):
            archive.put(f"u{i}", None, {}, body, source="s", kind="k")
            seen.append(_index_names_only_stored_bodies(tmp_path))  # checked while the writer writes
        archive.flush()
        assert _index_names_only_stored_bodies(tmp_path) == len(bodies)  # flush: everything
    assert seen == sorted(seen)
