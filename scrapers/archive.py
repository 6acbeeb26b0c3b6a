"""Content-addressed raw archive: every body stored once, every fetch indexed.

Layout under ``root``::

    <sha[:2]>/<sha>.gz   gzip of the raw body; sha = sha256 of the *uncompressed* body
    index.jsonl          one JSON line per fetch (a body fetched twice: stored once, indexed twice)

Bodies are written to a temp file and renamed into place so a crash never leaves a
half-written blob under its final name. Index lines are appended under a lock; a
truncated last line (crash mid-append) is skipped with a warning and repaired on the
next append.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .redact import redact_headers, redact_url

log = logging.getLogger(__name__)

INDEX_NAME = "index.jsonl"


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
    path: str  # absolute path of the gzip blob

    def to_json(self, root: Path) -> str:
        data = asdict(self)
        # the index stores the blob path relative to the archive root so it can be moved
        data["path"] = Path(self.path).relative_to(root).as_posix()
        return json.dumps(data, ensure_ascii=False, sort_keys=True)


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _iso_utc(value: str | datetime | None) -> str:
    if value is None:
        return utc_now_iso()
    if isinstance(value, str):
        value = datetime.fromisoformat(value)  # normalise ("Z", offsets) so strings sort by time
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="seconds")


class Archive:
    def __init__(self, root: Path | str, *, secrets: Iterable[str] = ()) -> None:
        """``secrets``: literal values (e.g. an API key) scrubbed from archived header values."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.index_path = self.root / INDEX_NAME
        self._secrets = tuple(s for s in secrets if s)
        self._lock = threading.Lock()

    # -- writing
    def blob_path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.gz"

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
        sha = hashlib.sha256(body).hexdigest()
        path = self.blob_path(sha)
        if not path.exists():
            self._write_blob(path, body)
        record = ArchiveRecord(
            sha256=sha,
            url=redact_url(url),
            status=status,
            headers=redact_headers(headers, self._secrets),
            fetched_at=_iso_utc(fetched_at),
            source=source,
            kind=kind,
            size=len(body),
            path=str(path),
        )
        self._append(record.to_json(self.root))
        return record

    def _write_blob(self, path: Path, body: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".gz")
        try:
            with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
                gz.write(body)  # mtime=0: identical bodies give identical blobs
            os.replace(tmp, path)  # atomic on POSIX and Windows
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _append(self, line: str) -> None:
        with self._lock, open(self.index_path, "a+b") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() > 0:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    fh.write(b"\n")  # a previous run died mid-line: start a fresh line
            fh.write(line.encode("utf-8") + b"\n")
            fh.flush()

    # -- reading
    def get(self, sha256: str) -> bytes:
        """The raw body; raises FileNotFoundError if absent, ArchiveCorruptError if altered."""
        with gzip.open(self.blob_path(sha256), "rb") as gz:
            body = gz.read()
        actual = hashlib.sha256(body).hexdigest()
        if actual != sha256:
            raise ArchiveCorruptError(f"blob {sha256} hashes to {actual}")
        return body

    def records(self, source: str | None = None, kind: str | None = None) -> list[ArchiveRecord]:
        """All index records in append order, optionally filtered."""
        if not self.index_path.exists():
            return []
        out: list[ArchiveRecord] = []
        with open(self.index_path, encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    data["path"] = str(self.root / data["path"])
                    rec = ArchiveRecord(**data)
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    log.warning("%s:%d: skipping unreadable index line (%s)", self.index_path, lineno, exc)
                    continue
                if (source is None or rec.source == source) and (kind is None or rec.kind == kind):
                    out.append(rec)
        return out

    def latest(self, source: str | None, kind: str | None) -> list[ArchiveRecord]:
        """For each URL, its newest record (later index line wins a fetched_at tie)."""
        newest: dict[str, ArchiveRecord] = {}
        for rec in self.records(source, kind):
            prev = newest.get(rec.url)
            if prev is None or rec.fetched_at >= prev.fetched_at:
                newest[rec.url] = rec
        return list(newest.values())
