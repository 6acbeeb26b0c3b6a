"""Content-addressed raw archive in append-only segment files: every body stored once, every fetch indexed.

Layout under ``root``::

    segments/seg-000001.gz  concatenated gzip members (``zcat`` reads a segment whole)
    blobs.idx               fixed 56-byte records: sha256 (32 bytes), segment no., member offset,
                            member length, body offset inside the member, body size
    index.jsonl             one JSON line per fetch (a body fetched twice: stored once, indexed twice)

sha = sha256 of the *uncompressed* body. Small bodies are packed together into one gzip member of
about ``BLOCK_BYTES``; a body of ``BLOCK_BYTES`` or more gets a member of its own, compressed on
the calling thread outside the lock (zlib releases the GIL, so fetch workers compress in
parallel). Why not one gzip file per body (the old layout) or one WARC record per body: creating a
file per body cost ~13 s per 10,000 labels, and a deflate stream per 2 KB label costs ~90 us of
set-up each and compresses to 33 %; 128 KB blocks at level 1 compress at ~100 MB/s to 13 % (numbers
in docs/benchmarks.md). Random access reads one member (<= ~128 KB decompressed; the last block
read is cached, so reading in archive order decompresses each block once).

Crash safety: a member is written (one unbuffered ``write``, under a file lock so several
processes can share a segment) before the ``blobs.idx`` records naming it, and those before the
``index.jsonl`` lines of their fetches, so after a crash the index only names bodies that are
stored; unreferenced bytes at a segment's end are harmless. Each put() is durable when it returns,
except inside ``with archive.bulk():`` (bulk ingest), where small bodies wait for their block and
index lines are written every 1,000 puts, at the end of the block, on ``records()`` and at exit. A torn ``blobs.idx``
record or last index line is skipped (with a warning) and repaired on the next append.

An archive written by the one-file-per-body layout (``<sha[:2]>/<sha>.gz``) is migrated on open:
bodies are copied into a segment (hash-checked), then the old files removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import struct
import threading
import weakref
import zlib

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one writer process per archive
    fcntl = None  # type: ignore[assignment]
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from .redact import redact_headers, redact_url

log = logging.getLogger(__name__)

INDEX_NAME = "index.jsonl"
BLOBS_NAME = "blobs.idx"
SEGMENTS_DIR = "segments"
SEGMENT_MAX_BYTES = 1 << 30  # rotate segments at 1 GiB: easy to copy, few files
_BLOB = struct.Struct(">32sIQIII")  # sha256, segment no., member offset, member length, body offset, size
BLOCK_BYTES = 128 * 1024  # small bodies are packed into members of about this size (uncompressed)
Location = tuple[int, int, int, int, int]  # segment, member offset, member length, body offset, body size
_FLUSH_EVERY = 1000  # index lines held before they are written (segment data is flushed first)
# Headers that describe the bytes on the wire; bodies are stored decoded, so they are rewritten.
_WIRE_HEADERS = ("content-encoding", "transfer-encoding", "content-length")
ORIGINAL_PREFIX = "x-maglabels-original-"


class ArchiveCorruptError(ValueError):
    """A stored blob does not hash to its name."""


@dataclass(frozen=True)
class ArchiveRecord:
    sha256: str
    url: str
    status: int | None  # HTTP status; None for documents that did not come over HTTP (file://)
    headers: dict[str, str] = field(hash=False)
    fetched_at: str  # ISO 8601, UTC
    source: str  # "dsld", "dsld-flat", or a host name for web pages
    kind: str  # "label", "search", "page", "robots", "sitemap", "error"
    size: int  # bytes of the raw (uncompressed) body
    path: str = ""  # unused since segments (kept so old index lines still load)

    def to_json(self) -> str:
        data = {"fetched_at": self.fetched_at, "headers": self.headers, "kind": self.kind, "sha256": self.sha256,
                "size": self.size, "source": self.source, "status": self.status, "url": self.url}
        return json.dumps(data, ensure_ascii=False)  # keys in sorted order already (asdict was 1/3 of put)


_RECORD_FIELDS = frozenset(ArchiveRecord.__dataclass_fields__)


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _iso_utc(value: str | datetime | None) -> str:
    if value is None:
        return utc_now_iso()
    if isinstance(value, str):
        value = datetime.fromisoformat(value)  # normalise ("Z", offsets) so strings sort by time
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds")


def stored_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]] | None, secrets: Iterable[str],
                   body_size: int) -> dict[str, str]:
    """Headers that describe the stored (decoded) body, without credentials or secret values.

    Content-Encoding / Transfer-Encoding / Content-Length described the bytes on the wire; they are
    kept under ``x-maglabels-original-<name>`` and Content-Length is set to the stored size."""
    out = redact_headers(headers, secrets)
    for name in _WIRE_HEADERS:
        if name in out:
            out[ORIGINAL_PREFIX + name] = out.pop(name)
    if ORIGINAL_PREFIX + "content-length" in out:
        out["content-length"] = str(body_size)
    return out


def _scrub_url(url: str, secrets: tuple[str, ...]) -> str:
    if "?" in url or "@" in url:  # query parameters or userinfo: the only places redact_url changes
        url = redact_url(url)
    for secret in secrets:
        url = url.replace(secret, "REDACTED")
    return url


def _gzip_member(body: bytes, level: int) -> bytes:
    return zlib.compress(body, level, wbits=31)  # wbits 31: a gzip member (mtime 0: deterministic)


class _Block:
    """Small bodies waiting to be packed into one member."""

    def __init__(self) -> None:
        self.bodies: dict[bytes, bytes] = {}
        self.size = 0

    def add(self, digest: bytes, body: bytes) -> None:
        self.bodies[digest] = body
        self.size += len(body)


class Archive:
    def __init__(self, root: Path | str, *, secrets: Iterable[str] = (), level: int = 1) -> None:
        """``secrets``: literal values (e.g. an API key) scrubbed from archived URLs and headers.
        ``level``: zlib level for new bodies (1: cheap; the archive is written once, read rarely)."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.index_path = self.root / INDEX_NAME
        self.blobs_path = self.root / BLOBS_NAME
        self.segments_dir = self.root / SEGMENTS_DIR
        self._secrets = tuple(s for s in secrets if s)
        self._level = level
        self._lock = threading.RLock()
        self._where: dict[bytes, Location] | None = None
        self._block = _Block()  # small bodies not yet written (get() serves them from here)
        self._cache: tuple[tuple[int, int], bytes] | None = None  # the last member read, decompressed
        self._bulk = 0  # > 0 inside bulk(): puts are buffered (blocks, batched index lines)
        self._segment: IO[bytes] | None = None
        self._segment_no = 0
        self._blob_lines: list[bytes] = []
        self._index_lines: list[bytes] = []
        self._finalizer = weakref.finalize(self, Archive._close_handles, self.__dict__)
        if any(self.root.glob("[0-9a-f][0-9a-f]/*.gz")):
            migrate_per_file_archive(self)

    # -- lifecycle
    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def bulk(self) -> Iterator[Archive]:
        """Buffer puts (small bodies packed into blocks, index lines written in batches) until the
        block ends; outside it every put() is durable and visible to other readers when it returns."""
        with self._lock:
            self._bulk += 1
        try:
            yield self
        finally:
            with self._lock:
                self._bulk -= 1
                self.flush()

    def close(self) -> None:
        with self._lock:
            self.flush()
            if self._segment is not None:
                self._segment.close()
                self._segment = None

    @staticmethod
    def _close_handles(state: dict) -> None:
        """At garbage collection / interpreter exit: write what is pending (never lose index lines)."""
        try:
            _append_bytes(state["blobs_path"], b"".join(state["_blob_lines"]), record=_BLOB.size)
            _append_bytes(state["index_path"], b"".join(state["_index_lines"]))
            seg = state.get("_segment")
            if seg is not None and not seg.closed:
                seg.close()
        except (OSError, ValueError):  # pragma: no cover - best effort at exit
            pass

    def flush(self) -> None:
        """Make every put() so far durable in order: segment bytes, then blob records, then index lines."""
        with self._lock:
            self._write_block()
            if self._blob_lines:
                _append_bytes(self.blobs_path, b"".join(self._blob_lines), record=_BLOB.size)
                self._blob_lines.clear()
            if self._index_lines:
                _append_bytes(self.index_path, b"".join(self._index_lines), record=0)
                self._index_lines.clear()

    # -- locations
    def _locations(self) -> dict[bytes, Location]:
        if self._where is None:
            with self._lock:
                if self._where is None:
                    self._where = _read_blobs(self.blobs_path)
        return self._where

    def _reload_locations(self) -> dict[bytes, Location]:
        """Re-read blobs.idx (another process or Archive on this root may have added bodies)."""
        with self._lock:
            self.flush()
            fresh = _read_blobs(self.blobs_path)
            fresh.update(self._locations())
            self._where = fresh
        return fresh

    def has(self, sha256: str) -> bool:
        """Whether a body with this hash is stored (by this Archive, or on disk when it was opened)."""
        digest = bytes.fromhex(sha256)
        return digest in self._locations() or digest in self._block.bodies

    def segment_path(self, number: int) -> Path:
        return self.segments_dir / f"seg-{number:06d}.gz"

    def _open_segment(self, need: int) -> IO[bytes]:
        if self._segment is not None and os.fstat(self._segment.fileno()).st_size + need <= SEGMENT_MAX_BYTES:
            return self._segment
        if self._segment is None:
            self.segments_dir.mkdir(exist_ok=True)
            existing = sorted(self.segments_dir.glob("seg-*.gz"))
            self._segment_no = int(existing[-1].name[4:10]) if existing else 1
        else:
            self._segment.close()
            self._segment_no += 1
        # unbuffered: each body is one write(), visible to readers and other writers at once
        self._segment = open(self.segment_path(self._segment_no), "ab", buffering=0)
        if os.fstat(self._segment.fileno()).st_size + need > SEGMENT_MAX_BYTES and self._segment.tell() > 0:
            return self._open_segment(need)
        return self._segment

    def _write_member(self, bodies: list[tuple[bytes, bytes]], member: bytes) -> None:
        """Append one member holding ``bodies`` in order (caller holds the lock). A file lock makes
        the offset right when another process (or Archive on the same root) appends too."""
        seg = self._open_segment(len(member))
        fd = seg.fileno()
        _lock_file(fd)
        try:
            offset = os.lseek(fd, 0, os.SEEK_END)
            seg.write(member)
        finally:
            _unlock_file(fd)
        where, inner = self._locations(), 0
        for digest, body in bodies:
            loc = (self._segment_no, offset, len(member), inner, len(body))
            where[digest] = loc
            self._blob_lines.append(_BLOB.pack(digest, *loc))
            inner += len(body)

    def _write_block(self) -> None:
        if self._block.bodies:
            bodies = list(self._block.bodies.items())
            self._write_member(bodies, _gzip_member(b"".join(b for _, b in bodies), self._level))
            self._block = _Block()

    def _store(self, digest: bytes, body: bytes, member: bytes | None) -> None:
        """Store one new body (caller holds the lock): its own member when large, else into the block."""
        if member is not None:
            self._write_member([(digest, body)], member)
            return
        self._block.add(digest, body)
        if self._block.size >= BLOCK_BYTES:
            self._write_block()

    # -- writing
    def put(
        self,
        url: str,
        status: int | None,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
        body: bytes,
        *,
        source: str,
        kind: str,
        fetched_at: str | datetime | None = None,
    ) -> ArchiveRecord:
        """Store ``body`` once (by hash) and index this fetch. Thread-safe."""
        digest = hashlib.sha256(body).digest()
        where = self._locations()
        big = len(body) >= BLOCK_BYTES and digest not in where
        member = _gzip_member(body, self._level) if big else None  # large bodies: compressed outside the lock
        record = ArchiveRecord(
            sha256=digest.hex(), url=_scrub_url(url, self._secrets), status=status,
            headers=stored_headers(headers, self._secrets, len(body)), fetched_at=_iso_utc(fetched_at),
            source=source, kind=kind, size=len(body))
        line = record.to_json().encode("utf-8") + b"\n"
        with self._lock:
            if digest not in where and digest not in self._block.bodies:  # another thread may have stored it
                self._store(digest, body, member)
            self._index_lines.append(line)
            if not self._bulk or len(self._index_lines) >= _FLUSH_EVERY:
                self.flush()
        return record

    # -- reading
    def get(self, sha256: str) -> bytes:
        """The raw body; raises FileNotFoundError if absent, ArchiveCorruptError if altered."""
        try:
            digest = bytes.fromhex(sha256)
        except ValueError:
            raise FileNotFoundError(f"no body {sha256!r} in the archive") from None
        with self._lock:
            pending = self._block.bodies.get(digest)
        if pending is not None:
            return pending
        loc = self._locations().get(digest) or self._reload_locations().get(digest)
        if loc is None:
            raise FileNotFoundError(f"no body {sha256} in the archive at {self.root}")
        body = self._read_member(loc)[loc[3]:loc[3] + loc[4]]
        actual = hashlib.sha256(body).hexdigest()
        if actual != sha256:
            raise ArchiveCorruptError(f"blob {sha256} hashes to {actual}")
        return body

    def _read_member(self, loc: Location) -> bytes:
        segment, offset, length = loc[:3]
        cached = self._cache
        if cached is not None and cached[0] == (segment, offset):
            return cached[1]
        with open(self.segment_path(segment), "rb") as fh:
            fh.seek(offset)
            member = fh.read(length)
        try:
            data = zlib.decompress(member, 31)
        except zlib.error as exc:
            raise ArchiveCorruptError(f"member at {self.segment_path(segment).name}:{offset}: {exc}") from None
        self._cache = ((segment, offset), data)
        return data

    def iter_records(self, source: str | None = None, kind: str | None = None) -> Iterator[ArchiveRecord]:
        """Index records in append order, optionally filtered, one at a time (flat memory)."""
        self.flush()
        if not self.index_path.exists():
            return
        with open(self.index_path, encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    rec = ArchiveRecord(**{k: v for k, v in data.items() if k in _RECORD_FIELDS})
                except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
                    log.warning("%s:%d: skipping unreadable index line (%s)", self.index_path, lineno, exc)
                    continue
                if (source is None or rec.source == source) and (kind is None or rec.kind == kind):
                    yield rec

    def records(self, source: str | None = None, kind: str | None = None) -> list[ArchiveRecord]:
        """All index records in append order, optionally filtered."""
        return list(self.iter_records(source, kind))

    def latest(self, source: str | None, kind: str | None) -> list[ArchiveRecord]:
        """For each URL, its newest record (later index line wins a fetched_at tie)."""
        newest: dict[str, ArchiveRecord] = {}
        for rec in self.iter_records(source, kind):
            prev = newest.get(rec.url)
            if prev is None or rec.fetched_at >= prev.fetched_at:
                newest[rec.url] = rec
        return list(newest.values())


def _lock_file(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)


def _unlock_file(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _append_bytes(path: Path, data: bytes, record: int = 0) -> None:
    """Append ``data``; first repair a torn tail left by a crash (partial record or line)."""
    if not data:
        return
    with open(path, "a+b") as fh:
        end = fh.seek(0, os.SEEK_END)
        if record and end % record:
            fh.truncate(end - end % record)  # a torn blob record: its body is re-stored if seen again
        elif not record and end > 0:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                fh.write(b"\n")  # a previous run died mid-line: start a fresh line
        fh.seek(0, os.SEEK_END)
        fh.write(data)
        fh.flush()


def _read_blobs(path: Path) -> dict[bytes, Location]:
    where: dict[bytes, Location] = {}
    if not path.exists():
        return where
    data = path.read_bytes()
    whole = len(data) - len(data) % _BLOB.size
    if whole != len(data):
        log.warning("%s: skipping a torn last record (%d bytes)", path, len(data) - whole)
    for digest, *loc in _BLOB.iter_unpack(data[:whole]):
        where.setdefault(digest, tuple(loc))
    return where


def migrate_per_file_archive(archive: Archive) -> int:
    """Move bodies of the old layout (``<sha[:2]>/<sha>.gz``) into segments; returns bodies moved.

    Idempotent and safe to interrupt: old files are removed only after their body is durable in a
    segment; a body found corrupt is left in place (and logged) for a human to look at."""
    moved = 0
    with archive._lock:
        for path in sorted(archive.root.glob("[0-9a-f][0-9a-f]/*.gz")):
            sha = path.name[:-3]
            try:
                digest = bytes.fromhex(sha)
            except ValueError:
                continue
            if len(digest) != 32:
                continue
            if digest not in archive._locations():
                with open(path, "rb") as fh:
                    body = zlib.decompress(fh.read(), 31)
                if hashlib.sha256(body).digest() != digest:
                    log.warning("%s: body does not hash to its name; left in place", path)
                    continue
                archive._store(digest, body, _gzip_member(body, archive._level) if len(body) >= BLOCK_BYTES else None)
                moved += 1
        archive.flush()
        for path in archive.root.glob("[0-9a-f][0-9a-f]/*.gz"):
            try:
                if bytes.fromhex(path.name[:-3]) in archive._locations():
                    path.unlink()
            except ValueError:
                continue
        for folder in archive.root.glob("[0-9a-f][0-9a-f]"):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    if moved:
        log.info("migrated %d bodies of %s into segments", moved, archive.root)
    return moved
