"""The archive's compact sha256 -> location map (scrapers/blob_map.py): the same answers as a dict."""
from __future__ import annotations

import hashlib
import struct
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from maglabels.scrapers import blob_map
from maglabels.scrapers.archive import Archive
from maglabels.scrapers.blob_map import BlobMap
from maglabels.scrapers.replay import BUNDLED_LABELS

REAL_BODIES = [p.read_bytes() for p in sorted(BUNDLED_LABELS.glob("*.json"))]


def digest(n: int) -> bytes:
    """A real body's sha256, made distinct per n (what the archive keys bodies by)."""
    return hashlib.sha256(REAL_BODIES[n % len(REAL_BODIES)] + str(n).encode()).digest()


def location(n: int) -> bytes:
    return struct.pack(">IQIII", n % 7, n * 131, 4000 + n % 50, n % 128, 2000 + n)


@pytest.fixture
def small_merges(monkeypatch):
    monkeypatch.setattr(blob_map, "_MERGE_MIN", 64)  # many merges with few entries


def test_many_entries_across_merges_found_and_absent_ones_not(small_merges):
    mapping = BlobMap()
    for n in range(5000):
        mapping.add(digest(n), location(n))
    assert len(mapping) == 5000
    assert len(mapping._recent) < 5000 // 2  # most were merged into the arrays
    assert all(mapping.get(digest(n)) == location(n) for n in range(5000))
    assert all(mapping.get(digest(n)) is None for n in range(5000, 6000))
    assert digest(1) in mapping and digest(5001) not in mapping and "x" not in mapping
    assert mapping.nbytes() <= 57 * 5000  # the arrays: 56 bytes an entry, the directory < 1


def test_first_location_of_a_digest_stays(small_merges):
    mapping = BlobMap()
    for n in range(200):
        mapping.add(digest(n), location(n))
    assert len(mapping._recent) < 64  # digest(5) is merged, digest(199) in the dict
    mapping.add(digest(5), location(999))
    mapping.add(digest(199), location(999))
    assert mapping.get(digest(5)) == location(5) and mapping.get(digest(199)) == location(199)
    for n in range(200, 400):  # merge again
        mapping.add(digest(n), location(n))
    assert mapping.get(digest(5)) == location(5) and mapping.get(digest(199)) == location(199)
    assert len(mapping) == 400


def test_digests_sharing_their_first_8_bytes(small_merges):
    """The arrays are searched by the first 8 bytes: entries that share them are told apart by the rest."""
    head = digest(0)[:8]
    twins = [head + hashlib.sha256(str(n).encode()).digest()[:24] for n in range(100)]
    mapping = BlobMap()
    for n, d in enumerate(twins):
        mapping.add(d, location(n))
        mapping.add(digest(n + 1), location(n + 1000))
    assert [mapping.get(d) for d in twins] == [location(n) for n in range(100)]
    assert mapping.get(b"") is None and mapping.get(head) is None and mapping.get(digest(1)[:31]) is None
    assert mapping.get(head + b"\0" * 24) is None and mapping.get(b"\0" * 32) is None and mapping.get(b"\xff" * 32) is None


def test_from_records_keeps_the_first_of_a_repeated_digest_and_round_trips():
    records = b"".join(digest(n) + location(n) for n in range(300))
    records += digest(7) + location(999)  # the same body recorded again (two processes)
    mapping = BlobMap.from_records(records, 56)
    assert len(mapping) == 300 and mapping.get(digest(7)) == location(7)
    again = BlobMap.from_records(mapping.records(), 56)
    assert all(again.get(digest(n)) == location(n) for n in range(300))
    assert len(BlobMap.from_records(b"", 56)) == 0


@settings(max_examples=30, deadline=None)
@given(ops=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 10**6)), max_size=400))
def test_same_answers_as_a_dict(ops):
    blob_map._MERGE_MIN, before = 16, blob_map._MERGE_MIN
    try:
        mapping, model = BlobMap(), {}
        for n, loc in ops:
            mapping.add(digest(n), location(loc))
            model.setdefault(digest(n), location(loc))
        assert len(mapping) == len(model)
        assert all(mapping.get(digest(n)) == model.get(digest(n)) for n in range(401))
    finally:
        blob_map._MERGE_MIN = before


def test_readers_never_miss_an_entry_while_merges_run(small_merges):
    mapping = BlobMap()
    added = [0]  # entries 0 .. added[0] - 1 are in the map
    missed: list[int] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            n = added[0]
            missed.extend(k for k in range(max(0, n - 50), n) if mapping.get(digest(k)) is None)

    reader = threading.Thread(target=read)
    reader.start()
    for n in range(4000):
        mapping.add(digest(n), location(n))
        added[0] = n + 1
    done.set()
    reader.join()
    assert missed == []


def test_archive_reopened_with_many_bodies_finds_each(tmp_path, small_merges):
    """Many bodies across merges in one archive, then a fresh Archive reads blobs.idx back."""
    bodies = [b + str(n).encode() for n, b in enumerate(REAL_BODIES * 40)]
    with Archive(tmp_path) as archive, archive.bulk():
        shas = [archive.put(f"u{n}", 200, {}, b, source="s", kind="k").sha256 for n, b in enumerate(bodies)]
        archive.put("again", 200, {}, bodies[3], source="s", kind="k")  # stored once
    assert (tmp_path / "blobs.idx").stat().st_size == 56 * len(bodies)
    fresh = Archive(tmp_path)
    assert all(fresh.get(s) == b for s, b in zip(shas, bodies, strict=True))
    assert not fresh.has(hashlib.sha256(b"never stored").hexdigest())
