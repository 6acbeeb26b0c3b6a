"""Content-addressed raw archive in append-only segment files: every body stored once, every fetch indexed.

Layout under ``root``::

    segments/seg-000001.gz  concatenated gzip members (``zcat`` reads a segment whole)
    blobs.idx               fixed 56-byte records: sha256 (32 bytes), segment no., member offset,
                            member length, body offset inside the member, body size
    index.jsonl             one JSON line per fetch (a body fetched twice: stored once, indexed twice)

sha = sha256 of the *uncompressed* body. Small bodies are packed together into one gzip member of
about ``BLOCK_BYTES``; a body of ``BLOCK_BYTES`` or more gets a member of its own, compressed on
the calling thread outside the lock (zlib releases the GIL, so fetch workers compress in
parallel); inside ``bulk()`` one writer thread compresses and writes every member instead. Why not
one gzip file per body (the old layout) or one WARC record per body: creating a file per body cost
~13 s per 10,000 labels, and a deflate stream per 2 KB label costs ~90 us of set-up each and
compresses to 33 %; 128 KB blocks at level 1 compress at ~100 MB/s to 13 % (numbers in
docs/benchmarks.md). Random access reads one member (<= ~128 KB decompressed; the last block
read is cached, so reading in archive order decompresses each block once).

Crash safety: a member is written (one unbuffered ``write``, under a file lock so several
processes can share a segment) before the ``blobs.idx`` records naming it, and those before the
``index.jsonl`` lines of their fetches, so after a crash the index only names bodies that are
stored; unreferenced bytes at a segment's end are harmless. Each put() is durable when it returns,
except inside ``with archive.bulk():`` (bulk ingest): there a full block, with the index lines of
the puts up to it (at most 1,000), goes through a bounded queue to one writer thread, which writes
member, blob records, index lines in that order, job after job; has() and get() serve the bodies
still queued, and flush(), ``records()`` and leaving bulk() wait for the writer. If it fails, what
it had not written is dropped and the error is raised by the next put() or flush() and again on
leaving bulk(). A torn ``blobs.idx`` record or last index line is skipped (with a warning) and
repaired on the next append.

An archive written by the one-file-per-body layout (``<sha[:2]>/<sha>.gz``) is migrated on open:
bodies are copied into a segment (hash-checked), then the old files removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import queue
import struct
import threading
import weakref

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one writer process per archive
    fcntl = None  # type: ignore[assignment]
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import IO

from .archive_index import _RECORD_FIELDS, ArchiveRecord, _headers_and_json, _iso_utc, _scrub_url
from .blob_map import BlobMap
from .gzipio import ERRORS as GZIP_ERRORS
from .gzipio import compress_member, decompress_member

log = logging.getLogger(__name__)

INDEX_NAME = "index.jsonl"
BLOBS_NAME = "blobs.idx"
SEGMENTS_DIR = "segments"
SEGMENT_MAX_BYTES = 1 << 30  # rotate segments at 1 GiB: easy to copy, few files
_BLOB = struct.Struct(">32sIQIII")  # sha256, segment no., member offset, member length, body offset, size
_LOCATION = struct.Struct(">IQIII")  # the location part of a blob record, as the in-memory map keeps it
# The map sha256 -> location holds every body of the archive: a BlobMap (sorted arrays, ~56 B a
# body) rather than a dict of bytes (~174 B a body: 70 MiB at 400,000 bodies, for the whole run).
BLOCK_BYTES = 128 * 1024  # small bodies are packed into members of about this size (uncompressed)
Location = tuple[int, int, int, int, int]  # segment, member offset, member length, body offset, body size
_FLUSH_EVERY = 1000  # in bulk(): index lines held before they go to the writer (with the open block)
_IN_FLIGHT = 3  # in bulk(): jobs (blocks) waiting for the writer, so memory stays flat


class ArchiveCorruptError(ValueError):
    """A stored blob does not hash to its name."""


class ArchiveWriteError(RuntimeError):
    """The writer thread of bulk() failed (the cause is chained); puts it had not written were dropped."""


class _Block:
    """Small bodies waiting to be packed into one member."""

    def __init__(self) -> None:
        self.bodies: dict[bytes, bytes] = {}
        self.size = 0

    def add(self, digest: bytes, body: bytes) -> None:
        self.bodies[digest] = body
        self.size += len(body)


_Job = tuple[list[tuple[bytes, bytes]], bytes | None, list[bytes]]  # (digest, body) pairs, their member if made, lines


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
        self._where: BlobMap | None = None  # sha256 digest -> _LOCATION packed
        # Bodies not on disk yet, served by get(): the open block, then (bulk) those handed to the
        # writer. A body moves block -> _queued -> _where, each time added before it is removed, so
        # looking in that order never misses it.
        self._block = _Block()
        self._queued: dict[bytes, bytes] = {}
        self._cache: tuple[tuple[int, int], bytes] | None = None  # the last member read, decompressed
        self._bulk = 0  # > 0 inside bulk()
        self._jobs: queue.Queue[_Job | None] | None = None  # the writer's queue, inside bulk()
        self._writer: threading.Thread | None = None
        self._writer_error: BaseException | None = None
        self._segment: IO[bytes] | None = None
        self._segment_no = 0
        self._index_lines: list[bytes] = []  # lines of puts whose block is not handed on yet
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
        """Buffer puts (small bodies packed into blocks, written with their index lines by a writer
        thread) until the block ends; outside it every put() is durable and visible to other readers
        when it returns. Leaving it raises ArchiveWriteError if the writer failed (unless another
        exception is on its way out: then the writer's error is logged)."""
        with self._lock:
            self._bulk += 1
            if self._jobs is None:
                self._jobs = queue.Queue(maxsize=_IN_FLIGHT)
                self._writer = threading.Thread(target=self._write_jobs, args=(self._jobs,),
                                                name=f"archive-writer {self.root}", daemon=True)
                self._writer.start()
        try:
            yield self
        except BaseException:
            try:
                self._leave_bulk()
            except ArchiveWriteError:  # the caller's own exception goes on; this one must not vanish
                log.error("archive %s: the writer failed too", self.root, exc_info=True)
            raise
        self._leave_bulk()

    def _leave_bulk(self) -> None:
        with self._lock:
            self._bulk -= 1
            try:
                self.flush()
            finally:
                if not self._bulk:
                    self._stop_writer()

    def _stop_writer(self) -> None:
        """End the writer thread (caller holds the lock; the writer never takes it)."""
        jobs, writer = self._jobs, self._writer
        if jobs is None or writer is None:
            return
        jobs.put(None)
        writer.join()
        self._jobs, self._writer, self._writer_error = None, None, None

    def close(self) -> None:
        with self._lock:
            self.flush()
            if self._segment is not None:
                self._segment.close()
                self._segment = None

    @staticmethod
    def _close_handles(state: dict) -> None:
        """At garbage collection / interpreter exit: write pending index lines, unless they may name a
        body not written (then they are dropped, as in a crash)."""
        try:
            if not state["_block"].bodies and not state["_queued"]:
                _append_bytes(state["index_path"], b"".join(state["_index_lines"]))
            seg = state.get("_segment")
            if seg is not None and not seg.closed:
                seg.close()
        except (OSError, ValueError):  # pragma: no cover - best effort at exit
            pass

    def flush(self) -> None:
        """Make every put() so far durable in order: segment bytes, then blob records, then index
        lines. Inside bulk(): hand the open block to the writer and wait until it has written all."""
        with self._lock:
            self._raise_writer_error()
            self._write_block()
            if self._jobs is not None:
                self._jobs.join()  # holding the lock is fine: the writer never takes it
                self._raise_writer_error()

    def _raise_writer_error(self) -> None:
        """Raise the writer's failure in the caller (holding the lock), and drop the puts not handed on."""
        if self._writer_error is not None:
            self._block, self._index_lines = _Block(), []
            raise ArchiveWriteError(f"archive {self.root}: the writer thread failed; puts it had not written "
                                    f"were dropped: {self._writer_error!r}") from self._writer_error

    # -- locations
    def _locations(self) -> BlobMap:
        if self._where is None:
            with self._lock:
                if self._where is None:
                    self._where = _read_blobs(self.blobs_path)
        return self._where

    def _reload_locations(self) -> BlobMap:
        """Re-read blobs.idx (another process or Archive on this root may have added bodies); the
        locations this Archive knows win, as before."""
        with self._lock:
            self.flush()
            fresh = _read_blobs(self.blobs_path, known=self._locations())
            self._where = fresh
        return fresh

    def _pending(self, digest: bytes) -> bytes | None:
        """A body put but not on disk yet (see __init__ for why this order)."""
        body = self._block.bodies.get(digest)
        return self._queued.get(digest) if body is None else body

    def has(self, sha256: str) -> bool:
        """Whether a body with this hash is stored (by this Archive, or on disk when it was opened), or
        put and on its way (bulk)."""
        digest = bytes.fromhex(sha256)
        return self._pending(digest) is not None or digest in self._locations()

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

    def _write(self, bodies: list[tuple[bytes, bytes]], member: bytes | None, lines: list[bytes]) -> None:
        """Write ``bodies`` as one member (compressed here unless given), then their blob records,
        then ``lines``: the crash-safety order. Runs under the lock outside bulk(), and only on the
        writer thread inside it. A file lock makes the offset right when another process (or
        Archive on the same root) appends too."""
        if bodies:
            if member is None:
                member = compress_member(b"".join(b for _, b in bodies), self._level)
            seg = self._open_segment(len(member))
            fd = seg.fileno()
            _lock_file(fd)
            try:
                offset = os.lseek(fd, 0, os.SEEK_END)
                seg.write(member)
            finally:
                _unlock_file(fd)
            located: list[tuple[bytes, bytes]] = []
            inner = 0
            for digest, body in bodies:
                located.append((digest, _LOCATION.pack(self._segment_no, offset, len(member), inner, len(body))))
                inner += len(body)
            _append_bytes(self.blobs_path, b"".join(d + loc for d, loc in located), record=_BLOB.size)
            where = self._locations()
            for digest, loc in located:
                where.add(digest, loc)
                self._queued.pop(digest, None)  # after where: see __init__
        if lines:
            _append_bytes(self.index_path, b"".join(lines))

    def _write_jobs(self, jobs: queue.Queue[_Job | None]) -> None:
        """The writer thread of bulk(): jobs in order until None. After a failure it only drains the
        queue (so callers never block), dropping the jobs' bodies so has() does not claim them."""
        while (job := jobs.get()) is not None:
            try:
                if self._writer_error is None:
                    self._write(*job)
            except BaseException as exc:  # kept for the caller, who raises it
                self._writer_error = exc
            finally:
                if self._writer_error is not None:
                    for digest, _ in job[0]:
                        self._queued.pop(digest, None)
                jobs.task_done()

    def _submit(self, bodies: list[tuple[bytes, bytes]], member: bytes | None, lines: list[bytes]) -> None:
        """Write now (outside bulk()) or queue for the writer (caller holds the lock; a full queue
        blocks here, which keeps memory flat)."""
        if self._jobs is None:
            self._write(bodies, member, lines)
            return
        self._queued.update(bodies)
        self._jobs.put((bodies, member, lines))

    def _write_block(self) -> None:
        """The open block and the index lines so far: they name only bodies in it or in an earlier job."""
        if self._block.bodies or self._index_lines:
            self._submit(list(self._block.bodies.items()), None, self._index_lines)
            self._block, self._index_lines = _Block(), []

    def _store(self, digest: bytes, body: bytes, member: bytes | None) -> None:
        """Store one new body (caller holds the lock): its own member when large, else into the block."""
        if member is not None or len(body) >= BLOCK_BYTES:
            self._submit([(digest, body)], member, [])
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
        sha256: str | None = None,
    ) -> ArchiveRecord:
        """Store ``body`` once (by hash) and index this fetch. Thread-safe.

        ``sha256``: the hex digest of exactly ``body`` when the caller has just computed it; it is
        trusted (not computed again), and get() still checks every body it reads from disk."""
        digest = hashlib.sha256(body).digest() if sha256 is None else bytes.fromhex(sha256)
        if len(digest) != 32:
            raise ValueError(f"sha256 must be 64 hex digits, got {sha256!r}")
        where = self._locations()
        # large bodies get a member of their own, compressed here outside the lock (bulk: by the writer)
        big = len(body) >= BLOCK_BYTES and self._jobs is None and digest not in where
        member = compress_member(body, self._level) if big else None
        headers_dict, headers_json = _headers_and_json(headers, self._secrets, len(body))
        record = ArchiveRecord(
            sha256=digest.hex(), url=_scrub_url(url, self._secrets), status=status, headers=headers_dict,
            fetched_at=_iso_utc(fetched_at), source=source, kind=kind, size=len(body))
        line = record.to_json(headers_json).encode("utf-8") + b"\n"
        with self._lock:
            self._raise_writer_error()
            if self._pending(digest) is None and digest not in where:  # another thread may have stored it
                self._store(digest, body, member)
            self._index_lines.append(line)
            if self._jobs is None:
                self.flush()
            elif len(self._index_lines) >= _FLUSH_EVERY:
                self._write_block()
        return record

    def url_as_stored(self, url: str) -> str:
        """``url`` as ``put`` stores it (secrets scrubbed)."""
        return _scrub_url(url, self._secrets)

    # -- reading
    def get(self, sha256: str) -> bytes:
        """The raw body; raises FileNotFoundError if absent, ArchiveCorruptError if altered."""
        try:
            digest = bytes.fromhex(sha256)
        except ValueError:
            raise FileNotFoundError(f"no body {sha256!r} in the archive") from None
        pending = self._pending(digest)
        if pending is not None:
            return pending
        packed = self._locations().get(digest) or self._reload_locations().get(digest)
        if packed is None:
            raise FileNotFoundError(f"no body {sha256} in the archive at {self.root}")
        loc = _LOCATION.unpack(packed)
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
            data = decompress_member(member)
        except GZIP_ERRORS as exc:
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


def _read_blobs(path: Path, known: BlobMap | None = None) -> BlobMap:
    """blobs.idx as a map (a body recorded twice, e.g. by two processes, keeps its first location),
    after the entries of ``known`` (which win)."""
    data = path.read_bytes() if path.exists() else b""
    whole = len(data) - len(data) % _BLOB.size
    if whole != len(data):
        log.warning("%s: skipping a torn last record (%d bytes)", path, len(data) - whole)
    if known is not None and len(known):
        return BlobMap.from_records(known.records() + memoryview(data)[:whole], _BLOB.size)
    return BlobMap.from_records(memoryview(data)[:whole], _BLOB.size)


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
                    body = decompress_member(fh.read())
                if hashlib.sha256(body).digest() != digest:
                    log.warning("%s: body does not hash to its name; left in place", path)
                    continue
                archive._store(digest, body, None)
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
