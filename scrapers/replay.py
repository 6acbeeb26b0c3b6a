"""Offline DSLD: an httpx transport that answers from the bundled real labels.

``--offline`` swaps this in under the normal PoliteClient, so the real ``scrape_dsld``
code path (paging, archiving, error handling) runs with no network.

- ``label/{id}``: the bytes of ``bundled/dsld/labels/<id>.json`` exactly as stored; 404
  for ids we do not have.
- ``search-filter``: no real search-filter response was available, so pages are built
  from the bundled labels' own fields (``_id``, ``_source`` with fullName, brandName,
  ...), in id order, honouring ``from``/``size``, ``status`` and ``ingredient_name``
  (a label matches when one of its ingredient rows, nested rows included, has that name
  or ingredient group, case-insensitively), ``product_type`` (the label's LanguaL code) and
  ``sort_by=entryDate`` with ``sort_order``. See bundled/dsld/SOURCES.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

import httpx

from .dsld import DSLD_BASE, DSLD_HOST
from .http import (
    DSLD_RATE_NO_KEY,
    DSLD_RATE_WITH_KEY,
    PoliteClient,
    RateSpec,
    RetryPolicy,
    Timeouts,
    api_key_from_env,
    host_key,
)

BUNDLED_LABELS = Path(__file__).parent / "bundled" / "dsld" / "labels"
REPLAY_INDEX = "maglabels-replay"  # _index value marking hits as assembled offline
# archived with every offline response, so the archive shows the document came from the replay
REPLAY_HEADERS = {"content-type": "application/json", "x-maglabels-replay": "bundled"}


def _rows(rows: object) -> Iterator[dict]:
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict):
            yield row
            yield from _rows(row.get("nestedRows"))


def _json_response(status: int, payload: object) -> httpx.Response:
    return httpx.Response(status, headers=REPLAY_HEADERS, content=json.dumps(payload).encode())


class ReplayTransport(httpx.BaseTransport):
    def __init__(self, labels_dir: Path = BUNDLED_LABELS, base_url: str = DSLD_BASE) -> None:
        self.labels_dir = Path(labels_dir)
        self.base = httpx.URL(base_url)
        self.requests: list[httpx.Request] = []  # what was asked, for tests and reports

    @cached_property
    def _labels(self) -> dict[str, dict]:
        labels = {}
        for path in sorted(self.labels_dir.glob("*.json"), key=lambda p: (len(p.stem), p.stem)):
            labels[path.stem] = json.loads(path.read_bytes())
        return labels

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        prefix = self.base.path.rstrip("/") + "/"
        if request.url.host != self.base.host or not request.url.path.startswith(prefix):
            return _json_response(404, {"error": "not served by the offline replay"})
        route = request.url.path[len(prefix):].strip("/")
        if route.startswith("label/"):
            return self._label(route[len("label/"):])
        if route == "search-filter":
            return self._search(request.url.params)
        return _json_response(404, {"error": f"no offline route for {route!r}"})

    def _label(self, label_id: str) -> httpx.Response:
        path = self.labels_dir / f"{label_id}.json"
        if not label_id.isdigit() or not path.is_file():
            return _json_response(404, {"error": f"label {label_id} not in the bundled set"})
        return httpx.Response(200, headers=REPLAY_HEADERS, content=path.read_bytes())

    def _search(self, params: httpx.QueryParams) -> httpx.Response:
        try:
            start = int(params.get("from", 0))
            size = int(params.get("size", 10))
            status = int(params.get("status", 2))
        except ValueError:
            return _json_response(400, {"error": "from, size and status must be integers"})
        ingredient = (params.get("ingredient_name") or "").strip().lower()
        ptype = params.get("product_type")
        terms = [t for t in (params.get("q") or "*").lower().split() if t != "*"]
        matches = [
            (lid, label)
            for lid, label in self._labels.items()
            if self._matches(label, ingredient, terms, status)
            and (not ptype or (label.get("productType") or {}).get("langualCode") == ptype)
        ]
        if params.get("sort_by") == "entryDate":
            matches.sort(key=lambda m: (str(m[1].get("entryDate") or ""), int(m[0])),
                         reverse=params.get("sort_order") == "desc")
        page = matches[start : start + size]
        hits = [
            {"_index": REPLAY_INDEX, "_id": lid, "_score": 1.0, "_source": self._source(label)}
            for lid, label in page
        ]
        return _json_response(200, {"hits": hits, "stats": {"count": len(matches)}})

    @staticmethod
    def _matches(label: dict, ingredient: str, terms: list[str], status: int) -> bool:
        off = bool(label.get("offMarket"))
        if (status == 1 and off) or (status == 0 and not off):
            return False
        rows = list(_rows(label.get("ingredientRows")))
        if ingredient and not any(
            ingredient in {str(r.get("name") or "").lower(), str(r.get("ingredientGroup") or "").lower()} for r in rows
        ):
            return False
        text = " ".join(
            [str(label.get("fullName") or ""), str(label.get("brandName") or "")] + [str(r.get("name") or "") for r in rows]
        ).lower()
        return all(t in text for t in terms)

    @staticmethod
    def _source(label: dict) -> dict:
        """A search hit's _source, built only from the label's own fields."""
        keys = ("id", "fullName", "brandName", "upcSku", "entryDate", "offMarket", "productType", "physicalState")
        source = {k: label.get(k) for k in keys}
        source["allIngredients"] = [
            {"name": r.get("name"), "ingredientGroup": r.get("ingredientGroup"), "category": r.get("category")}
            for r in _rows(label.get("ingredientRows"))
        ]
        return source


def make_client(
    offline: bool,
    *,
    api_key: str | None = None,
    base_url: str = DSLD_BASE,
    requests_per_hour: int | None = None,
    transport: httpx.BaseTransport | None = None,
    retry: RetryPolicy | None = None,
    timeouts: Timeouts | None = None,
    **kwargs,
) -> PoliteClient:
    """A PoliteClient for the DSLD API.

    Offline: the replay transport and no rate limiting. Online: the api.data.gov quota
    (1,000/h keyless, 10,000/h with a key from ``MAGLABELS_DSLD_API_KEY``/``DSLD_API_KEY``),
    the key sent only as ``X-Api-Key`` and only to the API host, and only that host allowed.
    robots.txt is not consulted for the API: its use is governed by the API's terms.

    ``base_url`` moves the API (a mirror, a test server): the host allow-list follows it; the
    key is still only ever sent to the real API host. ``requests_per_hour`` overrides the rate.
    """
    host = host_key(base_url)
    if offline:
        key = None  # nothing to authenticate against
        transport = transport or ReplayTransport(base_url=base_url)
        kwargs.setdefault("rate", None)
    else:
        key = api_key if api_key is not None else api_key_from_env()
        if requests_per_hour is not None:
            kwargs.setdefault("rate", RateSpec.per_hour(requests_per_hour, burst=3))
        kwargs.setdefault("rate", DSLD_RATE_WITH_KEY if key else DSLD_RATE_NO_KEY)
    kwargs.setdefault("allowed_hosts", {host})
    return PoliteClient(
        retry=retry or RetryPolicy(), timeouts=timeouts or Timeouts(), obey_robots=False, api_key=key,
        api_key_hosts={DSLD_HOST}, transport=transport, **kwargs,
    )
