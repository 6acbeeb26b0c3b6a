"""NIH DSLD API v9: discover label ids with ``search-filter``, fetch each with ``label/{id}``.

What public code shows about the API (no live call was made from this project); the source
of each assumption is named:

- Base ``https://api.ods.od.nih.gov/dsld/v9`` (several clients note that dsld.od.nih.gov
  answers API paths with a Cloudflare challenge). Configurable: ``MAGLABELS_DSLD_BASE_URL``.
- ``GET search-filter`` takes ``q``, ``from``, ``size``; filter-only searches pass
  ``q=*``. ``status``: 2 = all, 1 = on market, 0 = off market
  (seancheick/PharmaGuide_Pipeline ``scripts/dsld_api_client.py``).
- ``product_type`` takes a LanguaL code; the nine codes in ``PRODUCT_TYPES`` and their
  sizes (Botanical 55,666, Other Combinations 76,497, ...) come from a public bulk fetcher
  (``scripts/fetch-dsld.mjs``: "9 product types x 10K results each"), which also sorts with
  ``sort_by=entryDate&sort_order=asc|desc`` to read the first and last 10,000 of a type.
  The same sort, newest first, is how a public "recent changes" tool pages new labels
  ("pages DSLD newest-first (sort_by=entryDate&sort_order=desc) to the cutoff").
- The 10,000-result window: that bulk fetcher's note "Types >20K are capped at 20K
  (asc+desc)" implies ``from + size`` cannot pass 10,000 (``RESULT_WINDOW``; a setting, so
  tests use a small one). No public code shows a date-range filter, so partitions are
  product type x market status (both documented above), each read ascending and, when it
  is larger than the window, descending too: a partition of up to 2 x window is complete.
  A partition larger than that, or whose ids do not add up to its ``stats.count``, is
  RECORDED (``crawl_problems``), never only logged.
- The response is ``{"hits": [{"_index", "_id", "_score", "_source": {...}}], "stats":
  {"count": N}}``: a flat ``hits`` list (a python client reads ``j['stats']['count']`` and
  ``j['hits'][0]['_source']['entryDate']``). Paging stops on a short page, never on the
  count alone, so a too-low ``stats.count`` is detected (more ids than it said) and a
  search that ignores ``from`` (a full page of ids already seen) is detected and recorded.
- One client checks ``!Array.isArray(data) && data.id`` on ``label/{id}``: a 200 that is
  not a label object is possible, so it is an error here; so is a label whose ``id`` is not
  the one asked for (the document for that id is lost, not silently replaced).
- Label ids are positive integers (every public client does ``parseInt(id)``); an id from
  the network of any other form (``"12\r\n"``, ``"../../x"``) never reaches a URL: it is a
  recorded error and the run goes on.
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
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from tqdm import tqdm

from .archive import Archive, ArchiveRecord
from .http import FetchError, PoliteClient, QuotaExhausted

log = logging.getLogger(__name__)

DSLD_BASE = "https://api.ods.od.nih.gov/dsld/v9"
DSLD_HOST = "api.ods.od.nih.gov"
SOURCE = "dsld"
DEFAULT_QUERY = "*"  # the API wants a query term; "*" means "everything" for filter-only searches
DEFAULT_INGREDIENT = "Magnesium"
DEFAULT_STATUS = 2  # all labels, on and off market
DEFAULT_PAGE_SIZE = 100
RESULT_WINDOW = 10_000
# LanguaL product-type codes (public bulk fetcher, see the module docstring)
PRODUCT_TYPES = ("A1299", "A1302", "A1305", "A1306", "A1309", "A1310", "A1315", "A1317", "A1325")
MARKET_STATUSES = (1, 0)  # on market, off market: together status=2
_LABEL_ID = re.compile(r"[1-9][0-9]{0,11}")


def valid_label_id(value: object) -> int | None:
    """A DSLD label id (a positive integer, as int or digits) or None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value < 10**12 else None
    if isinstance(value, str) and _LABEL_ID.fullmatch(value):
        return int(value)
    return None


@dataclass(frozen=True)
class ScrapeError:
    what: str  # "search" or "label"
    id: str | None  # DSLD label id, for label errors
    url: str
    status: int | None
    reason: str


@dataclass(frozen=True)
class SearchProblem:
    """Something in discovery that can hide labels; stored in ``crawl_problems``."""

    partition: str
    problem: str  # window_overflow | count_mismatch | count_too_low | from_ignored | partitions_short
    reported: int | None = None
    seen: int | None = None
    detail: str | None = None


@dataclass
class ScrapeResult:
    label_records: list[ArchiveRecord]
    errors: list[ScrapeError]
    pages: list[ArchiveRecord]  # archived search-filter pages
    ids: list[str] = field(default_factory=list)  # ids found by the search, in order


@dataclass(frozen=True)
class SearchConfig:
    base_url: str = DSLD_BASE
    query: str = DEFAULT_QUERY
    ingredient: str | None = DEFAULT_INGREDIENT
    status: int | None = DEFAULT_STATUS
    page_size: int = DEFAULT_PAGE_SIZE
    window: int = RESULT_WINDOW

    @property
    def search_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/search-filter"


@dataclass
class Budget:
    """A run's limits: requests sent by ``client`` and a monotonic deadline."""

    client: PoliteClient
    max_requests: int | None = None
    deadline: float | None = None
    clock: Callable[[], float] = time.monotonic

    def exhausted(self) -> str | None:
        if self.max_requests is not None and self.client.requests_sent >= self.max_requests:
            return f"request budget of {self.max_requests} used"
        if self.deadline is not None and self.clock() >= self.deadline:
            return "time budget used"
        return None


@dataclass
class Walk:
    """One paging of one search (a partition in one sort order)."""

    ids: list[int] = field(default_factory=list)
    count: int | None = None
    pages: list[ArchiveRecord] = field(default_factory=list)
    errors: list[ScrapeError] = field(default_factory=list)
    problems: list[SearchProblem] = field(default_factory=list)
    hit_window: bool = False
    complete: bool = False  # paged to the end (short page), or stopped at known ids


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


def _count(payload: dict) -> int | None:
    stats = payload.get("stats")
    total = stats.get("count") if isinstance(stats, dict) else None
    if total is None and isinstance(payload.get("hits"), dict):  # Elasticsearch hits.total
        total = payload["hits"].get("total")
        total = total.get("value") if isinstance(total, dict) else total
    return total if isinstance(total, int) and not isinstance(total, bool) else None


def _hit_id(hit: dict) -> object:
    value = hit.get("_id")
    if value is None and isinstance(hit.get("_source"), dict):
        value = hit["_source"].get("id")
    return value


def _search_page(client, archive, cfg: SearchConfig, params: dict, walk: Walk) -> tuple[list[dict], dict] | None:
    """GET one search page; None (error recorded in ``walk``) when it cannot be read."""
    url = cfg.search_url
    try:
        resp = client.get(url, params=params, headers={"Accept": "application/json"})
    except QuotaExhausted:
        raise
    except FetchError as exc:
        if exc.response is not None:
            _archive(archive, exc.response, "error")
        walk.errors.append(ScrapeError("search", None, exc.url, exc.status, exc.reason))
        return None
    walk.pages.append(_archive(archive, resp, "search"))
    try:
        payload = json.loads(resp.content)
        return _hits(payload), payload
    except ValueError as exc:
        walk.errors.append(ScrapeError("search", None, str(resp.url), resp.status_code, f"bad search page: {exc}"))
        return None


def walk_search(
    client: PoliteClient, archive: Archive, cfg: SearchConfig, *, key: str = "all",
    extra: dict | None = None, order: str | None = None, stop_at_known: set[int] | None = None,
    budget: Budget | None = None, limit: int | None = None,
) -> Walk:
    """Page one search until a short page, the result window, the budget, or (with
    ``stop_at_known``) a page with no unknown id. Invalid ids become errors."""
    walk = Walk()
    seen: set[int] = set()
    base = {"q": cfg.query or DEFAULT_QUERY, "ingredient_name": cfg.ingredient, "status": cfg.status, **(extra or {})}
    if order:
        base.update(sort_by="entryDate", sort_order=order)
    offset = 0
    while True:
        if limit is not None and len(walk.ids) >= limit:
            walk.complete = True
            break
        if offset >= cfg.window:
            walk.hit_window = True
            break
        if budget is not None and budget.exhausted():
            break
        size = min(cfg.page_size, cfg.window - offset)
        got = _search_page(client, archive, cfg, {**base, "from": offset, "size": size}, walk)
        if got is None:
            break
        hits, payload = got
        walk.count = _count(payload) if walk.count is None else walk.count
        new = unknown = 0
        for hit in hits:
            raw = _hit_id(hit)
            lid = valid_label_id(raw)
            if lid is None:
                walk.errors.append(ScrapeError("search", repr(raw)[:80], walk.pages[-1].url, 200,
                                               "invalid label id in search hit (not a positive integer)"))
                continue
            if lid not in seen:
                seen.add(lid)
                walk.ids.append(lid)
                new += 1
                unknown += stop_at_known is not None and lid not in stop_at_known
        log.info("search-filter %s from=%d: %d hits, %d new, %d ids so far", key, offset, len(hits), new, len(walk.ids))
        offset += len(hits)
        if len(hits) < size:
            walk.complete = True
            break
        if new == 0:  # a full page of ids we already had: the API ignored `from`
            walk.problems.append(SearchProblem(key, "from_ignored", walk.count, len(walk.ids),
                                               f"page from={offset - len(hits)} repeated earlier ids"))
            break
        if stop_at_known is not None and unknown == 0:
            walk.complete = True
            break
    if walk.count is not None and len(walk.ids) > walk.count:
        walk.problems.append(SearchProblem(key, "count_too_low", walk.count, len(walk.ids),
                                           "paging returned more ids than stats.count"))
    return walk


def discover_partition(client, archive, cfg: SearchConfig, key: str, extra: dict, *,
                       budget: Budget | None = None) -> Walk:
    """Read one partition oldest-first and, past the window, newest-first too; check the count."""
    walk = walk_search(client, archive, cfg, key=key, extra=extra, order="asc", budget=budget)
    if walk.hit_window and not (budget and budget.exhausted()):
        desc = walk_search(client, archive, cfg, key=key, extra=extra, order="desc", budget=budget)
        known = set(walk.ids)
        walk.ids += [i for i in desc.ids if i not in known]
        walk.pages += desc.pages
        walk.errors += desc.errors
        walk.problems += desc.problems
        walk.complete = desc.complete or (walk.count is not None and len(walk.ids) >= walk.count)
        if not walk.complete and desc.hit_window and walk.count is not None:
            walk.complete = True  # read as far as the API lets us; the shortfall is recorded below
    if walk.complete and walk.count is not None and len(walk.ids) < walk.count:
        kind = "window_overflow" if walk.hit_window else "count_mismatch"
        walk.problems.append(SearchProblem(key, kind, walk.count, len(walk.ids),
                                           f"{walk.count - len(walk.ids)} labels not reachable (window {cfg.window})"))
    return walk


def partitions() -> list[tuple[str, dict]]:
    """Full-discovery partitions: product type x market status (see the module docstring)."""
    return [(f"product_type={t}&status={s}", {"product_type": t, "status": s})
            for t in PRODUCT_TYPES for s in MARKET_STATUSES]


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
    """Page through search-filter once; returns (unique ids in order, archived pages, errors).

    Search problems (window reached, ``from`` ignored, count too low) are errors here.
    """
    cfg = SearchConfig(base_url=base_url, query=query, ingredient=ingredient, status=status, page_size=page_size)
    walk = walk_search(client, archive, cfg, limit=limit)
    errors = list(walk.errors)
    if walk.hit_window:
        errors.append(ScrapeError("search", None, cfg.search_url, None,
                                  f"result window of {cfg.window} reached; narrow the query"))
    errors += [ScrapeError("search", None, cfg.search_url, None, f"{p.problem}: {p.detail}") for p in walk.problems]
    ids = [str(i) for i in walk.ids]
    return (ids[:limit] if limit is not None else ids), walk.pages, errors


def fetch_label(
    client: PoliteClient, archive: Archive, label_id: str | int, *, base_url: str = DSLD_BASE
) -> ArchiveRecord | ScrapeError:
    """GET label/{id}; the archived label record, or a ScrapeError (error body archived).

    Raises QuotaExhausted: the run should stop, the label is not lost."""
    lid = valid_label_id(label_id)
    url = f"{base_url.rstrip('/')}/label/{lid}"
    if lid is None:
        return ScrapeError("label", repr(label_id)[:80], base_url, None, "invalid label id (not a positive integer)")
    try:
        resp = client.get(url, headers={"Accept": "application/json"})
    except QuotaExhausted:
        raise
    except FetchError as exc:
        if exc.response is not None:
            _archive(archive, exc.response, "error")
        return ScrapeError("label", str(lid), exc.url, exc.status, exc.reason)
    try:
        data = json.loads(resp.content)
    except ValueError as exc:
        _archive(archive, resp, "error")
        return ScrapeError("label", str(lid), str(resp.url), resp.status_code, f"not JSON: {exc}")
    if not isinstance(data, dict) or "id" not in data:
        _archive(archive, resp, "error")
        return ScrapeError("label", str(lid), str(resp.url), resp.status_code, "not a label object (no 'id')")
    if valid_label_id(data["id"]) != lid:
        _archive(archive, resp, "error")
        return ScrapeError("label", str(lid), str(resp.url), resp.status_code,
                           f"label/{lid} answered with label id {str(data['id'])[:40]!r}")
    return _archive(archive, resp, "label")


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def fetch_labels(
    client: PoliteClient, archive: Archive, ids: Iterable[int], *, base_url: str = DSLD_BASE,
    budget: Budget | None = None, on_result: Callable[[int, ArchiveRecord | ScrapeError], None],
) -> str | None:
    """Fetch ids in order, handing each result to ``on_result``; returns why it stopped early
    (budget) or None. QuotaExhausted propagates (results so far were already handed over)."""
    for lid in ids:
        if budget is not None and (why := budget.exhausted()):
            return why
        outcome = fetch_label(client, archive, lid, base_url=base_url)
        if isinstance(outcome, ScrapeError):
            log.warning("label %s: %s %s", lid, outcome.status, outcome.reason)
        on_result(lid, outcome)
    return None


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
    """One-shot: discover label ids with search-filter, then fetch and archive every label
    (no frontier; the nightly job is maglabels.nightly). Failures become ``result.errors``."""
    ids, pages, errors = search_ids(
        client, archive, query=query, ingredient=ingredient, status=status,
        page_size=page_size, limit=limit, base_url=base_url,
    )
    records: list[ArchiveRecord] = []
    bar = tqdm(ids, desc="DSLD labels", unit="label", disable=not progress or not sys.stderr.isatty())

    def keep(_lid: int, outcome: ArchiveRecord | ScrapeError) -> None:
        (errors if isinstance(outcome, ScrapeError) else records).append(outcome)  # type: ignore[arg-type]
        bar.update()

    fetch_labels(client, archive, [int(i) for i in ids], base_url=base_url, on_result=keep)
    bar.close()
    return ScrapeResult(label_records=records, errors=errors, pages=pages, ids=ids)
