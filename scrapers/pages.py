"""Retailer/brand product pages: URLs, a seed file or a sitemap, into the archive.

Same PoliteClient as the API (robots.txt, per-host rate, allow-list, retries) and the
same archive: pages are ``kind="page"``, ``source=<host>``; robots.txt and sitemaps are
archived too (``kind="robots"`` / ``"sitemap"``) so a run can be audited later.
Robots-disallowed URLs and off-list redirects are never fetched; they come back in
``PagesResult.skipped`` with the reason.

Each body goes to the archive on the thread that fetched it, and the run keeps only the
record, so memory does not grow with the number of pages (compression, if any, is the
archive's business). Re-fetches are conditional: a URL archived with an ETag or
Last-Modified is requested with If-None-Match / If-Modified-Since, and a 304 reuses the
archived record (counted in ``PagesResult.unchanged``; nothing new is stored).
"""

from __future__ import annotations

import gzip
import html
import io
import logging
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tqdm import tqdm

from .archive import Archive, ArchiveRecord
from .http import PAGE_RATE, FetchError, FetchSkipped, PoliteClient, RateSpec, host_key
from .redact import redact_headers, redact_url, scrub

log = logging.getLogger(__name__)

EMPTY_BODY = "empty_body"  # PageError.reason for a 2xx page without a byte of content
SITEMAP_MAX_BYTES = 50 * 1024 * 1024  # sitemaps.org: 50 MB uncompressed per file
_LOC = re.compile(r"<loc>\s*(.*?)\s*</loc>", re.IGNORECASE | re.DOTALL)
_INDEX = re.compile(rb"<sitemapindex[\s>]", re.IGNORECASE)


@dataclass(frozen=True)
class Skipped:
    url: str
    reason: str  # robots_disallowed, host_not_allowed, redirect_off_allowlist
    target: str | None = None  # where an off-list redirect pointed


@dataclass(frozen=True)
class PageError:
    url: str
    status: int | None
    reason: str


@dataclass
class SitemapResult:
    urls: list[str] = field(default_factory=list)  # page URLs, deduplicated, in sitemap order
    sitemaps: list[ArchiveRecord] = field(default_factory=list)  # archived sitemap files
    skipped: list[Skipped] = field(default_factory=list)
    errors: list[PageError] = field(default_factory=list)


@dataclass
class PagesResult:
    records: list[ArchiveRecord] = field(default_factory=list)  # fetched pages, 304s included
    skipped: list[Skipped] = field(default_factory=list)
    errors: list[PageError] = field(default_factory=list)
    unchanged: int = 0  # pages answered 304: their archived record is reused, nothing stored


@dataclass(frozen=True)
class _NotModified:
    record: ArchiveRecord


def read_seed_file(path: Path | str) -> list[str]:
    """One URL per line; blank lines and ``#`` comments ignored."""
    urls = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            urls.append(line)
    return urls


def _archive(
    archive: Archive, url: str, resp: httpx.Response, kind: str, secrets: Iterable[str] = ()
) -> ArchiveRecord:
    # scrubbed here as well as in the archive: a server may echo the key in any header or in the URL
    secrets = tuple(secrets)
    return archive.put(
        scrub(redact_url(url), secrets), resp.status_code, redact_headers(resp.headers.multi_items(), secrets),
        resp.content, source=host_key(url), kind=kind,
    )


def _validators(archive: Archive) -> dict[str, ArchiveRecord]:
    """Newest archived page per URL that carries an ETag or Last-Modified (for conditional GETs)."""
    return {
        r.url: r
        for r in archive.latest(None, "page")
        if r.status == 200 and ("etag" in r.headers or "last-modified" in r.headers)
    }


def conditional_headers(record: ArchiveRecord) -> dict[str, str]:
    """If-None-Match / If-Modified-Since from an archived response's validators (RFC 9110 13.1)."""
    headers = {}
    if etag := record.headers.get("etag"):
        headers["If-None-Match"] = etag
    if modified := record.headers.get("last-modified"):
        headers["If-Modified-Since"] = modified
    return headers


def make_pages_client(
    allowed_hosts: Iterable[str] | None,
    *,
    archive: Archive | None = None,
    rate: RateSpec | None = PAGE_RATE,
    **kwargs,
) -> PoliteClient:
    """A robots-obeying client; robots.txt responses are archived when ``archive`` is given."""
    on_robots = None
    if archive is not None:
        def on_robots(url: str, resp: httpx.Response) -> None:
            _archive(archive, url, resp, "robots", client.secrets)
    client = PoliteClient(rate=rate, allowed_hosts=allowed_hosts, obey_robots=True, on_robots=on_robots, **kwargs)
    return client


def _outcome_to_result(result: PagesResult | SitemapResult, url: str, exc: FetchError) -> None:
    if isinstance(exc, FetchSkipped):
        log.info("skipped %s: %s", exc.url, exc.reason)
        result.skipped.append(Skipped(url, exc.reason, exc.target))  # url as requested (seed/sitemap)
    else:
        log.warning("failed %s: %s %s", exc.url, exc.status, exc.reason)
        result.errors.append(PageError(exc.url, exc.status, exc.reason))


def sitemap_urls(
    client: PoliteClient,
    sitemap_url: str,
    *,
    archive: Archive | None = None,
    max_depth: int = 2,
    max_sitemaps: int = 50,
) -> SitemapResult:
    """Page URLs listed by a sitemap; sitemap indexes are followed ``max_depth`` levels deep."""
    result = SitemapResult()
    urls: list[str] = []
    queue: list[tuple[str, int]] = [(sitemap_url, 0)]
    seen: set[str] = set()
    while queue and len(seen) < max_sitemaps:
        url, depth = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        try:
            resp = client.get(url)
        except FetchError as exc:
            _outcome_to_result(result, url, exc)
            continue
        if archive is not None:
            result.sitemaps.append(_archive(archive, str(resp.url), resp, "sitemap", client.secrets))
        body = resp.content
        if body[:2] == b"\x1f\x8b":  # sitemap.xml.gz
            try:
                with gzip.GzipFile(fileobj=io.BytesIO(body)) as gz:
                    body = gz.read(SITEMAP_MAX_BYTES + 1)
            except OSError as exc:
                result.errors.append(PageError(url, resp.status_code, f"bad gzip sitemap: {exc}"))
                continue
        if len(body) > SITEMAP_MAX_BYTES:
            result.errors.append(PageError(url, resp.status_code, "sitemap larger than 50 MB"))
            continue
        locs = [html.unescape(m) for m in _LOC.findall(body.decode("utf-8", errors="replace"))]
        if _INDEX.search(body[:4096]):
            if depth >= max_depth:
                result.errors.append(PageError(url, resp.status_code, f"sitemap index deeper than {max_depth}; not followed"))
            else:
                queue.extend((loc, depth + 1) for loc in locs)
        else:
            urls.extend(locs)
    if queue:
        result.errors.append(PageError(sitemap_url, None, f"stopped after {max_sitemaps} sitemaps"))
    result.urls = list(dict.fromkeys(urls))
    return result


def fetch_pages(
    client: PoliteClient,
    archive: Archive,
    urls: Iterable[str],
    *,
    workers: int = 4,
    per_host: int = 1,
    conditional: bool = True,
    progress: bool = True,
) -> PagesResult:
    """Fetch and archive pages: hosts in parallel, ``per_host`` in flight per host, each at its polite rate."""
    result = PagesResult()
    unique = list(dict.fromkeys(urls))
    known = _validators(archive) if conditional else {}
    secrets = client.secrets

    def headers_for(url: str) -> dict[str, str] | None:
        record = known.get(redact_url(url))
        return conditional_headers(record) if record else None

    def store(url: str, outcome: httpx.Response | FetchError) -> ArchiveRecord | _NotModified | FetchError:
        # runs on the fetching thread: the body goes to the archive here and only the record travels on
        if isinstance(outcome, FetchError):
            if outcome.response is not None and not isinstance(outcome, FetchSkipped):
                _archive(archive, outcome.url, outcome.response, "error", secrets)
            return outcome
        if outcome.status_code == 304:
            record = known.get(client.redact(str(outcome.url))) or known.get(redact_url(url))
            if record is None:
                return FetchError(url, 304, "304 Not Modified without an archived copy")
            return _NotModified(record)
        if not outcome.content:  # a product page with no bytes is a server fault, not a page
            _archive(archive, str(outcome.url), outcome, "error", secrets)
            return FetchError(str(outcome.url), outcome.status_code, EMPTY_BODY, outcome)
        return _archive(archive, str(outcome.url), outcome, "page", secrets)

    bar = tqdm(total=len(unique), desc="pages", unit="page", disable=not progress or not sys.stderr.isatty())
    for url, outcome in client.fetch_many(unique, workers=workers, per_host=per_host,
                                          headers_for=headers_for if known else None, handle=store):
        bar.update(1)
        if isinstance(outcome, FetchError):
            _outcome_to_result(result, url, outcome)
        elif isinstance(outcome, _NotModified):
            result.unchanged += 1
            result.records.append(outcome.record)
        else:
            result.records.append(outcome)
    bar.close()
    return result


def scrape_pages(
    archive: Archive,
    *,
    urls: Iterable[str] = (),
    seed_file: Path | str | None = None,
    sitemap: str | None = None,
    allowed_hosts: Iterable[str] | None = None,
    client: PoliteClient | None = None,
    workers: int = 4,
    per_host: int = 1,
    conditional: bool = True,
    progress: bool = True,
    **client_kwargs,
) -> PagesResult:
    """URLs + seed file + sitemap -> archived pages.

    Without ``allowed_hosts`` the allow-list is the hosts of the given URLs and sitemap,
    so redirects (and sitemap entries) can never wander onto other sites.
    """
    wanted = list(urls) + (read_seed_file(seed_file) if seed_file else [])
    if allowed_hosts is None:
        allowed_hosts = {host_key(u) for u in wanted + ([sitemap] if sitemap else [])}
    own_client = client is None
    client = client or make_pages_client(allowed_hosts, archive=archive, **client_kwargs)
    try:
        result = PagesResult()
        if sitemap:
            found = sitemap_urls(client, sitemap, archive=archive)
            wanted += found.urls
            result.skipped += found.skipped
            result.errors += found.errors
        fetched = fetch_pages(client, archive, wanted, workers=workers, per_host=per_host,
                              conditional=conditional, progress=progress)
        result.records += fetched.records
        result.skipped += fetched.skipped
        result.errors += fetched.errors
        result.unchanged += fetched.unchanged
        return result
    finally:
        if own_client:
            client.close()
