"""What the archive's index says about each fetch: ``ArchiveRecord``, its ``index.jsonl`` line,
and the stored headers (scrubbed of secrets, describing the stored body). No I/O: the segment
files and the writing are ``scrapers/archive.py``.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .redact import redact_headers, redact_url

# Headers that describe the bytes on the wire; bodies are stored decoded, so they are rewritten.
_WIRE_HEADERS = ("content-encoding", "transfer-encoding", "content-length")
ORIGINAL_PREFIX = "x-maglabels-original-"


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

    def to_json(self, headers_json: str | None = None) -> str:
        """The index line: exactly json.dumps of the fields (keys sorted, ensure_ascii=False), written
        out without a dict for the encoder to walk (that was 1/5 of put). ``headers_json``: the
        headers' JSON when the caller has it already."""
        if headers_json is None:
            headers_json = json.dumps(self.headers, ensure_ascii=False)
        return (f'{{"fetched_at": {_json(self.fetched_at)}, "headers": {headers_json}, "kind": {_json(self.kind)}, '
                f'"sha256": {_json(self.sha256)}, "size": {_json(self.size)}, "source": {_json(self.source)}, '
                f'"status": {_json(self.status)}, "url": {_json(self.url)}}}')


_RECORD_FIELDS = frozenset(ArchiveRecord.__dataclass_fields__)
_json_str = json.encoder.encode_basestring  # the str encoder of json.dumps(..., ensure_ascii=False)


def _json(value: object) -> str:
    """json.dumps(value, ensure_ascii=False), quicker for the str / int / None of a record."""
    if type(value) is str:
        return _json_str(value)
    if type(value) is int:
        return str(value)
    return "null" if value is None else json.dumps(value, ensure_ascii=False)


_now: tuple[int, str] = (0, "")  # the current second and its ISO text (formatting was 1/20 of put)


def utc_now_iso() -> str:
    global _now
    second = int(time.time())
    if _now[0] != second:
        _now = (second, datetime.fromtimestamp(second, UTC).isoformat())
    return _now[1]


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


@functools.lru_cache(maxsize=256)
def _cached_headers(items: tuple[tuple[str, str], ...], secrets: tuple[str, ...]) -> tuple[dict[str, str], str]:
    """stored_headers (for a body of size 0) and its JSON; most puts send one of a few header lists."""
    out = stored_headers(items, secrets, 0)
    return out, json.dumps(out, ensure_ascii=False)


def _headers_and_json(headers: Mapping[str, str] | Iterable[tuple[str, str]] | None, secrets: tuple[str, ...],
                      body_size: int) -> tuple[dict[str, str], str]:
    """stored_headers(headers, secrets, body_size) and its JSON (a fresh dict: records never share one)."""
    items = () if headers is None else tuple(headers.items() if isinstance(headers, Mapping) else headers)
    try:
        out, text = _cached_headers(items, secrets)
    except TypeError:  # an unhashable header value: nothing to cache
        out = stored_headers(items, secrets, body_size)
        return out, json.dumps(out, ensure_ascii=False)
    if ORIGINAL_PREFIX + "content-length" in out:  # the one header that depends on the body
        out = {**out, "content-length": str(body_size)}
        return out, json.dumps(out, ensure_ascii=False)
    return dict(out), text


def _scrub_url(url: str, secrets: tuple[str, ...]) -> str:
    if "?" in url or "@" in url:  # query parameters or userinfo: the only places redact_url changes
        url = redact_url(url)
    for secret in secrets:
        url = url.replace(secret, "REDACTED")
    return url
