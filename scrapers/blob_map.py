"""The archive's sha256 -> location map, in ~57 bytes per body instead of a dict's ~174.

The archive keeps one entry per stored body for its whole life (millions of documents), so the
entries live in sorted numpy arrays, not in Python objects: the digest's first 8 bytes as a uint64,
its other 24 bytes, and the 24 packed location bytes (the blob record's tail, ``archive._LOCATION``).
A directory of where each value of the top bits starts (about 16 entries apart, 0.5 bytes an entry)
narrows a lookup to a few entries, so it costs ~1 us instead of a bisection of all of them. New
entries go into a small dict first and are merged into the arrays in batches of at least 1/16 of
their size (an insert into sorted arrays is a linear copy: merging entries one by one would be
quadratic).

Threads: writers are serialised by a lock; readers take none. A merge publishes the new arrays (one
attribute, swapped whole) before it empties the dict, and a reader looks in the dict first, then in
the arrays it finds, so an entry is always in one of the two places it looks.
"""

from __future__ import annotations

import bisect
import mmap
import struct
import threading
from typing import NamedTuple

import numpy as np

DIGEST = 32
LOCATION = 24
_TAIL = DIGEST - 8
_MERGE_MIN = 16_384  # entries in the dict before a merge, at least (a merge copies the arrays)
_MERGE_FRACTION = 16  # ...and at least 1/16 of the arrays' entries: O(1) amortised copies per entry
_PER_BUCKET = 16  # entries per directory bucket, about
_HEAD = struct.Struct(">Q").unpack_from  # a digest's first 8 bytes as an int (cheaper than int.from_bytes)


class _Sorted(NamedTuple):
    """The merged entries, sorted by head. The memoryviews read one item as a Python int or bytes
    (~10x cheaper than a numpy scalar)."""

    heads: np.ndarray  # (n,) uint64: the digests' first 8 bytes, big-endian
    tails: np.ndarray  # (n, 24) uint8: their other bytes
    locations: np.ndarray  # (n, 24) uint8
    shift: int  # a head's bucket is head >> shift
    starts: memoryview  # bucket b's entries are [starts[b], starts[b + 1])
    head_items: memoryview
    tail_bytes: memoryview
    location_bytes: memoryview


def _anonymous(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """An array in pages of its own, given back to the system when it is freed. In malloc's heap,
    each merge's larger arrays would leave the smaller ones' space behind as holes: the heap grew to
    ~2.5x the arrays (glibc raises its mmap threshold to 32 MB once a large block is freed)."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if not size:
        return np.zeros(shape, dtype)
    private = {"flags": mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS} if hasattr(mmap, "MAP_ANONYMOUS") else {}
    return np.frombuffer(mmap.mmap(-1, size, **private), dtype).reshape(shape)  # private: not shared on fork


def _publishable(heads: np.ndarray, tails: np.ndarray, locations: np.ndarray) -> _Sorted:
    bits = max(1, (len(heads) // _PER_BUCKET).bit_length())
    shift = 64 - bits
    counts = np.bincount((heads >> np.uint64(shift)).astype(np.int64), minlength=1 << bits)
    starts = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    return _Sorted(heads, tails, locations, shift, starts.data, heads.data, tails.reshape(-1).data,
                   locations.reshape(-1).data)


_EMPTY = _publishable(np.zeros(0, np.uint64), np.zeros((0, _TAIL), np.uint8), np.zeros((0, LOCATION), np.uint8))


def _split(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, 56) uint8 rows (digest, location) -> heads (n,) uint64, tails (n, 24), locations (n, 24)."""
    heads = np.ascontiguousarray(rows[:, :8]).view(">u8").ravel().astype(np.uint64)
    return heads, np.ascontiguousarray(rows[:, 8:DIGEST]), np.ascontiguousarray(rows[:, DIGEST:DIGEST + LOCATION])


def _by_digest(heads: np.ndarray, tails: np.ndarray, locations: np.ndarray) -> tuple[np.ndarray, ...]:
    """Sorted by digest, keeping the first of equal digests (the sort is stable)."""
    words = tails.view(">u8")  # three big-endian words: sorting on them is sorting the bytes
    order = np.lexsort((words[:, 2], words[:, 1], words[:, 0], heads))
    heads, tails, locations = heads[order], tails[order], locations[order]
    if len(heads) > 1:
        same = (heads[1:] == heads[:-1]) & (tails[1:] == tails[:-1]).all(axis=1)
        if same.any():
            keep = np.concatenate(([True], ~same))
            heads, tails, locations = heads[keep], tails[keep], locations[keep]
    return heads, tails, locations


class BlobMap:
    """digest (32 bytes) -> packed location (24 bytes). An entry, once added, is never replaced."""

    def __init__(self) -> None:
        self._sorted = _EMPTY
        self._recent: dict[bytes, bytes] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_records(cls, data: bytes | memoryview, record: int) -> BlobMap:
        """From whole ``record``-byte records that start with digest + location (``blobs.idx``);
        a digest recorded twice keeps its first location, as a dict's setdefault would."""
        made = cls()
        rows = np.frombuffer(data, np.uint8)
        if len(rows):
            made._sorted = _publishable(*_by_digest(*_split(rows.reshape(-1, record))))
        return made

    def __len__(self) -> int:
        return len(self._sorted.heads) + len(self._recent)

    def get(self, digest: bytes) -> bytes | None:
        found = self._recent.get(digest)  # the dict before the arrays: see the module docstring
        if found is not None or len(digest) != DIGEST:
            return found
        merged = self._sorted
        head = _HEAD(digest)[0]
        bucket = head >> merged.shift
        starts, heads = merged.starts, merged.head_items
        end = starts[bucket + 1]
        i = bisect.bisect_left(heads, head, starts[bucket], end)
        tail = digest[8:]
        while i < end and heads[i] == head:  # digests that share their first 8 bytes: rare
            if merged.tail_bytes[i * _TAIL:(i + 1) * _TAIL] == tail:
                return bytes(merged.location_bytes[i * LOCATION:(i + 1) * LOCATION])
            i += 1
        return None

    def __contains__(self, digest: object) -> bool:
        return isinstance(digest, bytes) and self.get(digest) is not None

    def add(self, digest: bytes, location: bytes) -> None:
        """Map ``digest`` to ``location`` unless it is mapped already (then the first location stays)."""
        if len(digest) != DIGEST or len(location) != LOCATION:
            raise ValueError(f"a digest is {DIGEST} bytes and a location {LOCATION}")
        with self._lock:
            if self.get(digest) is not None:
                return
            self._recent[digest] = location
            if len(self._recent) >= max(_MERGE_MIN, len(self._sorted.heads) // _MERGE_FRACTION):
                self._merge()

    def _merge(self) -> None:
        """Move the dict's entries (none of them merged already) into the arrays (caller holds the lock)."""
        rows = np.frombuffer(b"".join(d + loc for d, loc in self._recent.items()), np.uint8)
        heads, tails, locations = _by_digest(*_split(rows.reshape(-1, DIGEST + LOCATION)))
        old = self._sorted
        total = len(old.heads) + len(heads)
        fresh = np.zeros(total, bool)  # where the new entries go in the merged order
        fresh[np.searchsorted(old.heads, heads) + np.arange(len(heads))] = True
        merged = []
        for old_part, new_part in ((old.heads, heads), (old.tails, tails), (old.locations, locations)):
            out = _anonymous((total, *new_part.shape[1:]), new_part.dtype.type)
            out[fresh], out[~fresh] = new_part, old_part
            merged.append(out)
        self._sorted = _publishable(*merged)
        self._recent = {}  # after the arrays are published: see the module docstring

    def records(self) -> bytes:
        """Every entry as a 56-byte record (digest, location), as ``from_records`` reads them."""
        with self._lock:  # no merge in between
            merged, recent = self._sorted, self._recent
        rows = np.empty((len(merged.heads), DIGEST + LOCATION), np.uint8)
        rows[:, :8] = merged.heads.astype(">u8").view(np.uint8).reshape(-1, 8)
        rows[:, 8:DIGEST] = merged.tails
        rows[:, DIGEST:] = merged.locations
        return rows.tobytes() + b"".join(d + loc for d, loc in recent.items())

    def nbytes(self) -> int:
        """Bytes the arrays and their directory hold (the dict's entries not counted)."""
        merged = self._sorted
        return merged.heads.nbytes + merged.tails.nbytes + merged.locations.nbytes + merged.starts.nbytes
