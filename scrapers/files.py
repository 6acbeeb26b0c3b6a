"""``maglabels ingest PATH...``: local DSLD label files and saved HTML, read as a stream of documents.

Formats (by file name; directories are searched recursively, sorted):

* ``*.json`` / ``*.json.gz``: one DSLD v9 label, or a JSON array of labels (v9 or the flattened
  ingredient-scanner shape, as in the source shards). Array elements become one document each,
  URL ``file://<path>#<index>``, body = the element re-serialised as JSON (not bytes as found).
* ``*.jsonl`` / ``*.ndjson`` (plain or ``.gz``): one document per non-empty line, URL
  ``file://<path>#line=<n>``, body = the line as found. Read line by line: memory stays flat.

``iter_documents`` yields ``RawDocument`` (bytes in hand, not yet archived; which label format
it is gets decided when it is parsed) or ``IngestError`` for whatever cannot be read (missing
file, invalid JSON file, nesting too deep, truncated gzip, non-object array element); the rest
goes on. A truncated ``.jsonl.gz`` keeps the lines read before the damage.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from selectolax.lexbor import LexborHTMLParser

from .archive import Archive, ArchiveRecord
from .gzipio import ERRORS as GZIP_ERRORS
from .gzipio import decompress, open_gzip
from .http import host_key

log = logging.getLogger(__name__)

HTML_SUFFIXES = (".html", ".htm", ".html.gz", ".htm.gz")
JSON_SUFFIXES = (".json", ".json.gz")
LINES_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
LABEL_SUFFIXES = JSON_SUFFIXES + LINES_SUFFIXES

_PAGE_ERRORS: tuple[type[BaseException], ...] = (OSError, *GZIP_ERRORS)  # a saved page that cannot be read or gunzipped


def is_html_path(path: Path | str) -> bool:
    return str(path).lower().endswith(HTML_SUFFIXES)


@dataclass(frozen=True)
class IngestError:
    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class RawDocument:
    """One document read from a local file, not yet archived."""

    url: str
    body: bytes
    data: Any = None  # the parsed JSON when reading needed it anyway (array elements), else None
    sha256: str = field(init=False)  # of the body, computed once: the skip check and the archive need it

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha256", hashlib.sha256(self.body).hexdigest())


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


def json_error(exc: BaseException) -> str:
    """A specific, one-line reason for a document that json.loads refused."""
    if isinstance(exc, UnicodeDecodeError):
        return f"invalid JSON: not UTF-8 text ({exc.reason})"
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, RecursionError):
        return "invalid JSON: nested too deeply to read (RecursionError)"
    return f"invalid JSON: {type(exc).__name__}: {exc}"


def loads(body: bytes | str) -> Any:
    """JSON by orjson (2-3x faster than json.loads); what orjson refuses (NaN, integers past 64
    bits, UTF-16) is read by json.loads, and every way that fails raises ValueError with the
    reason of ``json_error``."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ValueError(json_error(exc)) from None


def _lines(fh: IO[bytes], block: int = 1 << 22) -> Iterator[bytes]:
    """The lines of a binary stream without their newline, read 4 MiB at a time (iterating a
    GzipFile line by line costs ~5 us per line in its readline)."""
    rest = bytearray()  # the unfinished line (grows without copying when a line spans blocks)
    while chunk := fh.read(block):
        lines = chunk.split(b"\n")
        rest += lines[0]
        if len(lines) == 1:
            continue
        yield bytes(rest)
        yield from lines[1:-1]
        rest = bytearray(lines[-1])
    if rest:
        yield bytes(rest)


def _read_lines(path: Path) -> Iterator[RawDocument | IngestError]:
    url = path.as_uri()
    number = 0
    try:
        opener = open_gzip if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as fh:
            for number, line in enumerate(_lines(fh), start=1):  # noqa: B007 - number is reported on failure
                body = line.rstrip(b"\r")
                if body.strip():
                    yield RawDocument(f"{url}#line={number}", body)
    except GZIP_ERRORS as exc:
        yield IngestError(str(path), f"truncated or corrupt gzip after line {number}: {exc or type(exc).__name__}")
    except OSError as exc:
        yield IngestError(str(path), f"unreadable: {exc.strerror or exc}")


def _read_json(path: Path) -> Iterator[RawDocument | IngestError]:
    try:
        body = path.read_bytes()
        if path.name.lower().endswith(".gz"):
            body = decompress(body)
    except GZIP_ERRORS as exc:
        yield IngestError(str(path), f"truncated or corrupt gzip: {exc or type(exc).__name__}")
        return
    except OSError as exc:
        yield IngestError(str(path), f"unreadable: {exc.strerror or exc}")
        return
    url = path.as_uri()
    if not body.lstrip().startswith(b"["):
        yield RawDocument(url, body)  # one document: parsed (once) by the pipeline
        return
    try:
        data = loads(body)
    except ValueError as exc:
        yield IngestError(str(path), str(exc))
        return
    for i, element in enumerate(data):
        if not isinstance(element, dict):
            yield IngestError(f"{path}#{i}", f"not a label: array element is {type(element).__name__}, not an object")
            continue
        try:
            doc = json.dumps(element, ensure_ascii=False).encode("utf-8")
        except RecursionError:
            yield IngestError(f"{path}#{i}", json_error(RecursionError()))
            continue
        yield RawDocument(f"{url}#{i}", doc, element)


def iter_documents(paths: Iterable[Path | str]) -> Iterator[RawDocument | IngestError]:
    """Every document of the given label files/directories, one at a time."""
    for item in _expand(paths, LABEL_SUFFIXES):
        if isinstance(item, IngestError):
            yield item
        elif item.name.lower().endswith(LINES_SUFFIXES):
            yield from _read_lines(item)
        else:
            yield from _read_json(item)


def looks_like_label(obj: object) -> bool:
    return isinstance(obj, dict) and "id" in obj and "ingredientRows" in obj


def looks_like_flat_label(obj: object) -> bool:
    return isinstance(obj, dict) and "dsld_id" in obj


FLAT_KIND = "label-flat"  # archive kind of a product of the flattened corpus


def document_kind(data: object) -> str:
    """The archive kind of a file's parsed JSON: "label" (DSLD v9), FLAT_KIND, or "" (not a label)."""
    return "label" if looks_like_label(data) else FLAT_KIND if looks_like_flat_label(data) else ""


def archive_document(archive: Archive, doc: RawDocument, kind: str) -> ArchiveRecord:
    """Store a file's JSON document in the archive, with the digest computed when it was read."""
    return archive.put(doc.url, None, {"content-type": "application/json"}, doc.body, source="dsld", kind=kind,
                       sha256=doc.sha256)


NOT_A_LABEL = "not a DSLD label (needs 'id' and 'ingredientRows', or 'dsld_id' for the flattened format)"


def ingest_paths(
    paths: Iterable[Path | str], archive: Archive
) -> tuple[list[ArchiveRecord], list[IngestError]]:
    """Archive DSLD label files (all of them, in memory: small inputs; the CLI streams instead)."""
    records: list[ArchiveRecord] = []
    errors: list[IngestError] = []
    for item in iter_documents(paths):
        if isinstance(item, IngestError):
            errors.append(item)
            continue
        where = item.url[len("file://"):]
        try:
            data = item.data if item.data is not None else loads(item.body)
        except ValueError as exc:
            errors.append(IngestError(where, str(exc)))
            continue
        kind = document_kind(data)
        if not kind:
            errors.append(IngestError(where, NOT_A_LABEL))
            continue
        records.append(archive_document(archive, item, kind))
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
                body = decompress(body)
        except _PAGE_ERRORS as exc:
            errors.append(IngestError(str(item), f"unreadable: {getattr(exc, 'strerror', None) or exc}"))
            continue
        page_url = canonical_url(body) or url
        if not page_url:
            errors.append(IngestError(str(item), "no <link rel=canonical> and no url given"))
            continue
        headers = {"content-type": "text/html", "x-maglabels-local-file": item.as_uri()}
        records.append(archive.put(page_url, None, headers, body, source=host_key(page_url), kind="page"))
    return records, errors
