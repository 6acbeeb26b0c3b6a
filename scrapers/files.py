"""``maglabels ingest PATH...``: local DSLD label JSON and saved HTML into the archive.

Labels go in as ``kind="label"``, ``source="dsld"``, ``status=None`` (no HTTP involved),
with URL ``file://<absolute path>``. A file holding a JSON list of labels (as a bulk
download may) becomes one archived document per label, URL ``file://<path>#<index>``;
those bodies are the list element re-serialised as JSON, not bytes as found.
Bad inputs become ``IngestError`` entries and the rest goes on.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from selectolax.lexbor import LexborHTMLParser

from .archive import Archive, ArchiveRecord
from .http import host_key

log = logging.getLogger(__name__)

HTML_SUFFIXES = (".html", ".htm", ".html.gz", ".htm.gz")


def is_html_path(path: Path | str) -> bool:
    return str(path).lower().endswith(HTML_SUFFIXES)


@dataclass(frozen=True)
class IngestError:
    path: str
    reason: str


def _expand(paths: Iterable[Path | str], suffixes: tuple[str, ...]) -> Iterator[Path | IngestError]:
    """Files as given, plus matching files under directories (recursive, sorted)."""
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(suffixes))
        elif path.is_file():
            yield path
        else:
            yield IngestError(str(path), "not found")


def _looks_like_label(obj: object) -> bool:
    return isinstance(obj, dict) and "id" in obj and "ingredientRows" in obj


def ingest_paths(
    paths: Iterable[Path | str], archive: Archive
) -> tuple[list[ArchiveRecord], list[IngestError]]:
    """Archive DSLD label JSON files (or directories of ``*.json``)."""
    records: list[ArchiveRecord] = []
    errors: list[IngestError] = []
    for item in _expand(paths, (".json",)):
        if isinstance(item, IngestError):
            errors.append(item)
            continue
        try:
            body = item.read_bytes()
        except OSError as exc:
            errors.append(IngestError(str(item), f"unreadable: {exc.strerror or exc}"))
            continue
        try:
            data = json.loads(body)
        except UnicodeDecodeError as exc:
            errors.append(IngestError(str(item), f"invalid JSON: not UTF-8 text ({exc.reason})"))
            continue
        except json.JSONDecodeError as exc:
            errors.append(IngestError(str(item), f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"))
            continue
        url = item.as_uri()
        if isinstance(data, list):
            for i, element in enumerate(data):
                if not _looks_like_label(element):
                    errors.append(IngestError(f"{item}#{i}", "not a DSLD label (needs 'id' and 'ingredientRows')"))
                    continue
                doc = json.dumps(element, ensure_ascii=False).encode("utf-8")
                records.append(archive.put(f"{url}#{i}", None, {"content-type": "application/json"}, doc, source="dsld", kind="label"))
        elif _looks_like_label(data):
            records.append(archive.put(url, None, {"content-type": "application/json"}, body, source="dsld", kind="label"))
        else:
            errors.append(IngestError(str(item), "not a DSLD label (needs 'id' and 'ingredientRows')"))
    return records, errors


def canonical_url(html: bytes | str) -> str | None:
    """The href of ``<link rel="canonical">``, if the page has one."""
    tree = LexborHTMLParser(html if isinstance(html, str) else html.decode("utf-8", errors="replace"))
    for node in tree.css("link[rel][href]"):
        if "canonical" in (node.attributes.get("rel") or "").lower().split():
            href = (node.attributes.get("href") or "").strip()
            if href.startswith(("http://", "https://")):
                return href
    return None


def ingest_html(
    paths: Iterable[Path | str], archive: Archive, url: str | None = None
) -> tuple[list[ArchiveRecord], list[IngestError]]:
    """Archive saved product pages as ``kind="page"``.

    The archived URL and ``source`` (host) come from the page's canonical link, else from
    ``url``; a page with neither is an error, since its origin would be unknown.
    """
    records: list[ArchiveRecord] = []
    errors: list[IngestError] = []
    for item in _expand(paths, HTML_SUFFIXES):
        if isinstance(item, IngestError):
            errors.append(item)
            continue
        try:
            body = item.read_bytes()
            if item.name.lower().endswith(".gz"):  # pages saved compressed (as in tests/fixtures)
                body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            errors.append(IngestError(str(item), f"unreadable: {getattr(exc, 'strerror', None) or exc}"))
            continue
        page_url = canonical_url(body) or url
        if not page_url:
            errors.append(IngestError(str(item), "no <link rel=canonical> and no url given"))
            continue
        headers = {"content-type": "text/html", "x-maglabels-local-file": item.as_uri()}
        records.append(archive.put(page_url, None, headers, body, source=host_key(page_url), kind="page"))
    return records, errors
