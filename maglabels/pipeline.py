"""Wires the stages: archive records -> Labels -> NormalizedBatch -> warehouse.

The only module that knows both the scrapers and the normaliser; neither knows the other.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd

from .normalize.batch import normalize_labels
from .normalize.dsld_label import parse_label
from .normalize.flat_dsld import parse_flat_product
from .normalize.magnesium import NormalizedBatch
from .normalize.model import Label
from .scrapers.archive import Archive, ArchiveRecord
from .settings import Settings

log = logging.getLogger(__name__)

FLAT_CORPUS = "ingredient_scanner_magnesium_products.jsonl.gz"
FLAT_KIND = "label-flat"
NORMALIZABLE_KINDS = ("label", FLAT_KIND, "page")


def data_dir() -> Path:
    return Settings.load().data_dir


def open_archive() -> Archive:
    return Archive(data_dir() / "archive")


@dataclass
class DocumentProblem:
    record: ArchiveRecord
    reason: str


@dataclass
class Parsed:
    labels: list[Label] = field(default_factory=list)
    problems: list[DocumentProblem] = field(default_factory=list)


def archive_flat_corpus(archive: Archive) -> list[ArchiveRecord]:
    """Put each product of the bundled flattened DSLD corpus in the archive (once) as a document."""
    known = {r.url: r for r in archive.records(kind=FLAT_KIND)}
    ref = resources.files("maglabels.scrapers").joinpath("bundled/dsld", FLAT_CORPUS)
    records: list[ArchiveRecord] = []
    with ref.open("rb") as fh, gzip.open(fh, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            body = line.rstrip("\n").encode("utf-8")
            url = f"bundled:scrapers/bundled/dsld/{FLAT_CORPUS}#line={number}"
            existing = known.get(url)
            if existing and existing.sha256 == hashlib.sha256(body).hexdigest():
                records.append(existing)
                continue
            records.append(archive.put(url, None, {"content-type": "application/json"}, body,
                                       source="dsld", kind=FLAT_KIND))
    return records


def parse_records(archive: Archive, records: list[ArchiveRecord]) -> Parsed:
    """Every normalisable document -> Label; unreadable ones become problems, the rest go on."""
    out = Parsed()
    for record in records:
        if record.kind not in NORMALIZABLE_KINDS:
            continue
        try:
            body = archive.get(record.sha256)
            if record.kind == "page":
                from .normalize.html_facts import parse_page  # selectolax only when pages are present

                out.labels.append(parse_page(body, url=record.url, raw_sha256=record.sha256).label)
                continue
            doc = json.loads(body)
            parse = parse_flat_product if record.kind == FLAT_KIND else parse_label
            out.labels.append(parse(doc, raw_sha256=record.sha256, url=record.url))
        except Exception as exc:  # one bad document must not lose the rest of the run
            out.problems.append(DocumentProblem(record, f"{type(exc).__name__}: {exc}"))
    return out


def normalize_records(archive: Archive, records: list[ArchiveRecord]) -> tuple[NormalizedBatch, list[DocumentProblem]]:
    parsed = parse_records(archive, records)
    batch = normalize_labels(parsed.labels)
    if parsed.problems:
        unreadable = pd.DataFrame.from_records([
            {"source": p.record.source, "source_id": p.record.url, "version_id": p.record.sha256[:20], "row_id": None,
             "raw_sha256": p.record.sha256, "row_text": None, "reason_code": "unreadable_document", "reason": p.reason}
            for p in parsed.problems])
        batch.quarantine = pd.concat([batch.quarantine, unreadable], ignore_index=True)
    return batch, parsed.problems


def documents_frame(records: list[ArchiveRecord]) -> pd.DataFrame:
    """Archive records as the warehouse's raw_documents rows."""
    return pd.DataFrame.from_records(
        [{"sha256": r.sha256, "url": r.url, "status": r.status, "headers": json.dumps(r.headers, sort_keys=True),
          "fetched_at": r.fetched_at, "source": r.source, "kind": r.kind, "size": r.size} for r in records],
        columns=["sha256", "url", "status", "headers", "fetched_at", "source", "kind", "size"],
    )


def latest_documents(archive: Archive) -> list[ArchiveRecord]:
    """The newest fetch of every normalisable URL in the archive (for `maglabels normalize`)."""
    return [record for kind in NORMALIZABLE_KINDS for record in archive.latest(None, kind)]
