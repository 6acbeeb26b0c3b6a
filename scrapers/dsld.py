"""NIH DSLD API v9: page through ``search-filter`` for label ids, then ``label/{id}``.

What public code shows about the API (no live call was made from this project):

- Base ``https://api.ods.od.nih.gov/dsld/v9`` (several clients note that dsld.od.nih.gov
  answers API paths with a Cloudflare challenge).
- ``GET search-filter`` takes ``q``, ``from``, ``size``; filter-only searches pass
  ``q=*``. ``status``: 2 = all, 1 = on market, 0 = off market
  (seancheick/PharmaGuide_Pipeline ``scripts/dsld_api_client.py``). Other filters seen in
  the wild: ``brand``, ``product_type``, ``sort_by=entryDate``, ``sort_order``.
- The response is ``{"hits": [{"_index", "_id", "_score", "_source": {...}}], "stats":
  {"count": N}}``: a flat ``hits`` list (not Elasticsearch's ``hits.hits``); ``_source``
  carries fullName, brandName, upcSku, allIngredients, ... . We stop on a short page and
  use ``stats.count`` only as an early stop when present.
- A bulk fetcher used ``size=10000`` plus ascending/descending sorts to get past a
  10,000-result window, so ``from + size`` is assumed capped at 10,000 (``RESULT_WINDOW``).
- One client checks ``!Array.isArray(data) && data.id`` on ``label/{id}``: a 200 that is
  not a label object is possible, so it is treated as an error here.
- ``ingredient_name`` did not appear in any public code we could find; it is the
  parameter named by the DSLD API guide as relayed to us and is unverified.
- api.data.gov keys go in the ``X-Api-Key`` header (PoliteClient adds it).

Archive kinds: search pages ``"search"``, labels ``"label"``, and any error response
body (404 label, non-label JSON, ...) ``"error"``, so a ``kind="label"`` record is
always a label.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field

import httpx
from tqdm import tqdm

from .archive import Archive, ArchiveRecord
from .http import FetchError, PoliteClient

log = logging.getLogger(__name__)

DSLD_BASE = "https://api.ods.od.nih.gov/dsld/v9"
DSLD_HOST = "api.ods.od.nih.gov"
SOURCE = "dsld"
DEFAULT_QUERY = "*"  # the API wants a query term; "*" means "everything" for filter-only searches
DEFAULT_INGREDIENT = "Magnesium"
DEFAULT_STATUS = 2  # all labels, on and off market
DEFAULT_PAGE_SIZE = 100
RESULT_WINDOW = 10_000


@dataclass(frozen=True)
class ScrapeError:
    what: str  # "search" or "label"
    id: str | None  # DSLD label id, for label errors
    url: str
    status: int | None
    reason: str


@dataclass
class ScrapeResult:
    label_records: list[ArchiveRecord]
    errors: list[ScrapeError]
    pages: list[ArchiveRecord]  # archived search-filter pages
    ids: list[str] = field(default_factory=list)  # ids found by the search, in order


def _archive(archive: Archive, resp: httpx.Response, kind: str) -> ArchiveRecord:
    return archive.put(
        str(resp.url), resp.status_code, resp.headers.multi_items(), resp.content, source=SOURCE, kind=kind
    )


def _hits(payload: object) -> list[dict]:
    hits = payload.get("hits") if isinstance(payload, dict) else None
    if isinstance(hits, dict):  # tolerate an Elasticsearch-style envelope
        hits = hits.get("hits")
    if not isinstance(hits, list):
        raise ValueError("response has no 'hits' list")
    return [h for h in hits if isinstance(h, dict)]


def _hit_id(hit: dict) -> str | None:
    value = hit.get("_id")
    if value is None and isinstance(hit.get("_source"), dict):
        value = hit["_source"].get("id")
    return None if value is None else str(value)


def search_ids(
    client: PoliteClient,
    archive: Archive,
    *,
    query: str = DEFAULT_QUERY,
    ingredient: str | None = DEFAULT_INGREDIENT,
    status: int | None = DEFAULT_STATUS,
    page_size: int = DEFAULT_PAGE_SIZE,
    limit: int | None = None,
    base_url: str = DSLD_BASE,
) -> tuple[list[str], list[ArchiveRecord], list[ScrapeError]]:
    """Page through search-filter; returns (unique ids in order, archived pages, errors)."""
    url = f"{base_url.rstrip('/')}/search-filter"
    ids: list[str] = []
    seen: set[str] = set()
    pages: list[ArchiveRecord] = []
    errors: list[ScrapeError] = []
    offset = 0
    while limit is None or len(ids) < limit:
        if offset >= RESULT_WINDOW:
            errors.append(ScrapeError("search", None, url, None, f"result window of {RESULT_WINDOW} reached; narrow the query"))
            break
        size = min(page_size, RESULT_WINDOW - offset)
        params = {"q": query or DEFAULT_QUERY, "ingredient_name": ingredient, "status": status, "from": offset, "size": size}
        try:
            resp = client.get(url, params=params, headers={"Accept": "application/json"})
        except FetchError as exc:
            if exc.response is not None:
                _archive(archive, exc.response, "error")
            errors.append(ScrapeError("search", None, exc.url, exc.status, exc.reason))
            break  # without this page we cannot know what comes after it
        pages.append(_archive(archive, resp, "search"))
        try:
            payload = resp.json()
            hits = _hits(payload)
        except ValueError as exc:
            errors.append(ScrapeError("search", None, str(resp.url), resp.status_code, f"bad search page: {exc}"))
            break
        new = 0
        for hit in hits:
            hid = _hit_id(hit)
            if hid is not None and hid not in seen:
                seen.add(hid)
                ids.append(hid)
                new += 1
        offset += len(hits)
        total = payload.get("stats", {}).get("count") if isinstance(payload.get("stats"), dict) else None
        log.info("search-filter from=%d: %d hits, %d new, %d ids so far", offset - len(hits), len(hits), new, len(ids))
        if len(hits) < size or new == 0 or (isinstance(total, int) and offset >= total):
            break  # short page = last page; no new ids = the API ignored `from`
    if limit is not None:
        ids = ids[:limit]
    return ids, pages, errors


def fetch_label(
    client: PoliteClient, archive: Archive, label_id: str, *, base_url: str = DSLD_BASE
) -> ArchiveRecord | ScrapeError:
    """GET label/{id}; the archived label record, or a ScrapeError (error body archived)."""
    url = f"{base_url.rstrip('/')}/label/{label_id}"
    try:
        resp = client.get(url, headers={"Accept": "application/json"})
    except FetchError as exc:
        if exc.response is not None:
            _archive(archive, exc.response, "error")
        return ScrapeError("label", label_id, exc.url, exc.status, exc.reason)
    try:
        data = json.loads(resp.content)
    except ValueError as exc:
        _archive(archive, resp, "error")
        return ScrapeError("label", label_id, str(resp.url), resp.status_code, f"not JSON: {exc}")
    if not isinstance(data, dict) or "id" not in data:
        _archive(archive, resp, "error")
        return ScrapeError("label", label_id, str(resp.url), resp.status_code, "not a label object (no 'id')")
    if str(data["id"]) != str(label_id):
        log.warning("label/%s returned label id %s", label_id, data["id"])
    return _archive(archive, resp, "label")


def scrape_dsld(
    client: PoliteClient,
    archive: Archive,
    *,
    query: str = DEFAULT_QUERY,
    ingredient: str | None = DEFAULT_INGREDIENT,
    status: int | None = DEFAULT_STATUS,
    limit: int | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    progress: bool = True,
    base_url: str = DSLD_BASE,
) -> ScrapeResult:
    """Discover label ids with search-filter, then fetch and archive every label.

    Failures never stop the run: each becomes a ScrapeError in ``result.errors``.
    """
    ids, pages, errors = search_ids(
        client, archive, query=query, ingredient=ingredient, status=status,
        page_size=page_size, limit=limit, base_url=base_url,
    )
    records: list[ArchiveRecord] = []
    bar = tqdm(ids, desc="DSLD labels", unit="label", disable=not progress or not sys.stderr.isatty())
    for label_id in bar:
        outcome = fetch_label(client, archive, label_id, base_url=base_url)
        if isinstance(outcome, ScrapeError):
            log.warning("label %s: %s %s", label_id, outcome.status, outcome.reason)
            errors.append(outcome)
        else:
            records.append(outcome)
    bar.close()
    return ScrapeResult(label_records=records, errors=errors, pages=pages, ids=ids)
