"""Cold start from the DSLD full-database download: a zip of label JSON files, streamed.

``iter_zip_labels`` yields one member at a time (one label's bytes in memory, never the whole
archive), so a 100,000-label download loads with bounded memory. Each member must be one v9
label object with a valid id (a positive integer); anything else (not JSON, a list, no id,
an oversized member) is a ``BulkProblem`` and the rest goes on.

``archive_zip_labels`` puts each label in the archive (``kind="label"``, ``source="dsld"``,
URL ``zip:<zip name>!/<member>``) and yields ``(label id, ArchiveRecord)``: the caller loads
them and enters them in the crawl frontier as fetched, so the nightly crawl refreshes them
instead of fetching them again.
"""
from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .archive import Archive, ArchiveRecord
from .dsld import SOURCE, valid_label_id

MAX_MEMBER_BYTES = 20 * 1024 * 1024  # the largest real labels are well under 1 MB


@dataclass(frozen=True)
class BulkLabel:
    member: str
    label_id: int
    body: bytes


@dataclass(frozen=True)
class BulkProblem:
    member: str
    reason: str


def is_zip_path(path: Path | str) -> bool:
    return str(path).lower().endswith(".zip")


def iter_zip_labels(path: Path | str, *, max_member_bytes: int = MAX_MEMBER_BYTES) -> Iterator[BulkLabel | BulkProblem]:
    """Every ``*.json`` member of the zip, in archive order, one at a time."""
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.is_dir() or not info.filename.lower().endswith(".json"):
                continue
            if info.file_size > max_member_bytes:
                yield BulkProblem(info.filename, f"member of {info.file_size} bytes is over {max_member_bytes}")
                continue
            try:
                with zf.open(info) as fh:
                    body = fh.read(max_member_bytes + 1)
                doc = json.loads(body)
            except (ValueError, zipfile.BadZipFile, OSError, RecursionError) as exc:
                yield BulkProblem(info.filename, f"unreadable: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            lid = valid_label_id(doc.get("id")) if isinstance(doc, dict) else None
            if lid is None:
                yield BulkProblem(info.filename, "not a DSLD label object with a positive integer 'id'")
                continue
            yield BulkLabel(info.filename, lid, body)


def archive_zip_labels(path: Path | str, archive: Archive, *, problems: list[BulkProblem] | None = None
                       ) -> Iterator[tuple[int, ArchiveRecord]]:
    """Archive each label of the zip; problems are appended to ``problems`` (when given)."""
    name = Path(path).name
    for item in iter_zip_labels(path):
        if isinstance(item, BulkProblem):
            if problems is not None:
                problems.append(item)
            continue
        record = archive.put(f"zip:{name}!/{item.member}", None, {"content-type": "application/json"}, item.body,
                             source=SOURCE, kind="label")
        yield item.label_id, record
