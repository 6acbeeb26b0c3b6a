"""A DSLD API v9 simulator on 127.0.0.1 for the nightly-job tests and benchmark.

Serves REAL labels (tests/fixtures/dsld_sim/labels.jsonl.gz, a subset of the flattened DSLD
corpus; see SOURCES.md there) rebuilt in v9 label shape by ``to_v9``, with:
- ``search-filter``: ``q``, ``ingredient_name``, ``status``, ``product_type`` (LanguaL code),
  ``sort_by=entryDate``/``sort_order``, ``from``/``size``, ``stats.count``; a result window
  (``from + size`` past it answers 400, as Elasticsearch does); optional bad documents (invalid ``_id``) at the head of the unpartitioned search, a search
  that ignores ``from``, a too-low ``stats.count``;
- ``label/{id}``: the label, 404 for unknown ids, and poison labels (500, malformed JSON with
  200, empty body with 200, another label's id);
- a quota: after ``quota`` requests every request answers 429 with ``Retry-After`` (seconds or
  an HTTP-date) until ``quota`` is raised again;
- request counters by route.

Rebuild the fixture: ``python -m tests.dsld_simulator --build /work/shared/realdata/dsld/derived/ingredient_scanner_products.jsonl.gz``
"""
from __future__ import annotations

import argparse
import email.utils
import gzip
import json
import random
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURE = Path(__file__).parent / "fixtures" / "dsld_sim" / "labels.jsonl.gz"
PREFIX = "/dsld/v9"
# LanguaL codes of the product types (public bulk fetcher, see scrapers/dsld.py)
TYPE_CODES = {
    "Mineral": "A1299", "Vitamin": "A1302", "Amino acid/Protein": "A1305", "Botanical": "A1306",
    "Non-Nutrient/Non-Botanical": "A1309", "Fat/Fatty Acid": "A1310", "Multi-Vitamin and Mineral (MVM)": "A1315",
    "Botanical with Nutrients": "A1317", "Other Combinations": "A1325",
}
KEEP = ("dsld_id", "brand", "name", "upc", "off_market", "entry_date", "physical_state", "product_type",
        "serving", "ingredients", "other_ingredients", "nutrient_panel", "target_groups")


def _has_magnesium(p: dict) -> bool:
    return any("magnesium" in (r.get("name") or "").lower() for r in (p.get("nutrient_panel") or []) + p["ingredients"])


def build_fixture(source: Path, *, magnesium: int = 1500, other: int = 500, seed: int = 8) -> None:
    """Pick real products of the nine known product types (seeded), keep the fields to_v9 reads."""
    mg: list[dict] = []
    rest: list[dict] = []
    with gzip.open(source, "rt", encoding="utf-8") as fh:
        for line in fh:
            p = json.loads(line)
            if p.get("product_type") in TYPE_CODES:
                (mg if _has_magnesium(p) else rest).append({k: p.get(k) for k in KEEP})
    rng = random.Random(seed)
    chosen = rng.sample(mg, magnesium) + rng.sample(rest, other)
    chosen.sort(key=lambda p: p["dsld_id"])
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(FIXTURE, "wt", encoding="utf-8", compresslevel=9) as out:
        for p in chosen:
            out.write(json.dumps(p, ensure_ascii=False, sort_keys=True) + "\n")


def _group(name: str) -> str:
    # DSLD files magnesium compounds under the ingredient group "Magnesium"
    return "Magnesium" if "magnesium" in name.lower() else name


def _row(r: dict, order: int, serving_qty: float | None) -> dict:
    qty = r.get("quantity")
    dv = r.get("percent_dv")
    quantity = [] if qty is None else [{
        "servingSizeOrder": 1, "servingSizeQuantity": serving_qty, "operator": "=", "quantity": qty,
        "unit": r.get("unit"),
        "dailyValueTargetGroup": [] if dv is None else [{"name": None, "operator": "=", "percent": dv}],
    }]
    name = r.get("name") or ""
    return {"order": order, "name": name, "category": r.get("dsld_category") or "nutrient",
            "ingredientGroup": _group(name), "uniiCode": r.get("unii"), "quantity": quantity,
            "nestedRows": [], "forms": []}


def to_v9(p: dict) -> dict:
    """A flattened product back in v9 label shape (the keys normalize/dsld_label.py reads).

    Nutrient-panel rows (moved out of the tree by the flattener) come first as top-level rows;
    ingredient rows are re-nested by ``depth``; a nested magnesium compound whose parent was
    moved to the panel goes back under the panel's Magnesium row (as normalize/flat_dsld.py does).
    """
    serving = p.get("serving") or {}
    sq = serving.get("quantity")
    rows: list[dict] = []
    panel_mg = None
    for r in p.get("nutrient_panel") or []:
        row = _row(r, len(rows) + 1, sq)
        rows.append(row)
        if panel_mg is None and (r.get("name") or "").strip().lower() == "magnesium":
            panel_mg = row
    stack: list[tuple[int, dict]] = []
    for r in p.get("ingredients") or []:
        depth = int(r.get("depth") or 0)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        row = _row(r, 0, sq)
        parent = stack[-1][1] if stack and stack[-1][0] == depth - 1 else None
        if depth > 0 and panel_mg is not None and "magnesium" in row["name"].lower() and not (
                parent and "magnesium" in parent["name"].lower()):
            parent = panel_mg
        siblings = parent["nestedRows"] if parent is not None else rows
        row["order"] = len(siblings) + 1
        siblings.append(row)
        stack.append((depth, row))
    return {
        "id": int(p["dsld_id"]), "fullName": p.get("name"), "brandName": p.get("brand"), "upcSku": p.get("upc") or "",
        "entryDate": p.get("entry_date"), "offMarket": 1 if p.get("off_market") else 0,
        "productType": {"langualCode": TYPE_CODES.get(p.get("product_type") or ""),
                        "langualCodeDescription": p.get("product_type")},
        "physicalState": {"langualCode": None, "langualCodeDescription": p.get("physical_state")},
        "servingSizes": [{"order": 1, "minQuantity": sq, "maxQuantity": serving.get("max_quantity") or sq,
                          "unit": serving.get("unit") or "", "minDailyServings": None, "maxDailyServings": None}]
        if serving else [],
        "servingsPerContainer": serving.get("per_container"),
        "ingredientRows": rows,
        "otheringredients": {"ingredients": [{"order": i, "name": o.get("name"), "category": o.get("dsld_category"),
                                              "forms": []} for i, o in enumerate(p.get("other_ingredients") or [], 1)]},
        "targetGroups": list(p.get("target_groups") or []),
    }


def load_labels(n: int | None = None, *, magnesium_share: float = 0.75, seed: int = 1) -> dict[int, dict]:
    """v9 labels from the fixture; ``n``: a seeded subset keeping about ``magnesium_share`` Mg labels."""
    with gzip.open(FIXTURE, "rt", encoding="utf-8") as fh:
        products = [json.loads(line) for line in fh]
    if n is not None:
        rng = random.Random(seed)
        mg = [p for p in products if _has_magnesium(p)]
        rest = [p for p in products if not _has_magnesium(p)]
        k = min(len(mg), round(n * magnesium_share))
        products = rng.sample(mg, k) + rng.sample(rest, min(len(rest), n - k))
    return {int(p["dsld_id"]): to_v9(p) for p in sorted(products, key=lambda p: p["dsld_id"])}


def _rows(rows):
    for r in rows or []:
        yield r
        yield from _rows(r.get("nestedRows"))


class DsldSimulator:
    def __init__(self, labels: dict[int, dict], *, window: int = 200) -> None:
        self.labels = dict(labels)
        self.window = window
        self.poison: dict[int, str] = {}  # id -> "500" | "badjson" | "empty" | "wrongid"
        self.bad_hits: list[object] = []  # extra `_id`s put on the first page of every search
        self.ignore_from = False
        self.count_offset = 0  # added to stats.count (negative: a too-low count)
        self.quota: int | None = None  # requests answered before 429s start
        self.throttle_next = 0  # the next this-many requests answer 429 (then normal again)
        self.retry_after = "1"  # seconds, or "date:<seconds>" for an HTTP-date that far ahead
        self.hits: Counter[str] = Counter()
        self.label_hits: Counter[str] = Counter()  # label/<id> requests per id
        self.throttled_at: list[float] = []  # monotonic times of the 429 answers
        self.first_after_throttle: float | None = None  # when the first request after them came
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle
    def __enter__(self) -> DsldSimulator:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                status, headers, body = sim.handle(self.path)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{PREFIX}"

    @property
    def total(self) -> int:
        return sum(self.hits.values())

    # -- routing
    def handle(self, path: str) -> tuple[int, dict, bytes]:
        url = urlsplit(path)
        route = url.path[len(PREFIX) + 1:] if url.path.startswith(PREFIX + "/") else ""
        kind = "search" if route == "search-filter" else "label" if route.startswith("label/") else "other"
        with self._lock:
            self.hits[kind] += 1
            if self.throttle_next > 0:
                self.throttle_next -= 1
                self.hits["429"] += 1
                self.throttled_at.append(time.monotonic())
                return 429, {"Retry-After": self._retry_after()}, b'{"error": "OVER_RATE_LIMIT"}'
            if self.throttled_at and self.first_after_throttle is None:
                self.first_after_throttle = time.monotonic()
            if self.quota is not None:
                if self.quota <= 0:
                    self.hits["429"] += 1
                    return 429, {"Retry-After": self._retry_after()}, b'{"error": "OVER_RATE_LIMIT"}'
                self.quota -= 1
        if kind == "search":
            return self._search({k: v[-1] for k, v in parse_qs(url.query).items()})
        if kind == "label":
            with self._lock:
                self.label_hits[route[len("label/"):]] += 1
            return self._label(route[len("label/"):])
        return 404, {}, b'{"error": "no route"}'

    def _retry_after(self) -> str:
        if self.retry_after.startswith("date:"):
            return email.utils.formatdate(time.time() + float(self.retry_after[5:]), usegmt=True)
        return self.retry_after

    @staticmethod
    def _json(status: int, payload: object) -> tuple[int, dict, bytes]:
        return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()

    def _matches(self, label: dict, q: dict) -> bool:
        ingredient = (q.get("ingredient_name") or "").lower()
        if ingredient and not any(ingredient in {(r.get("name") or "").lower(), (r.get("ingredientGroup") or "").lower()}
                                  for r in _rows(label["ingredientRows"])):
            return False
        status = int(q.get("status", 2))
        if status in (0, 1) and label["offMarket"] != (1 - status):
            return False
        ptype = q.get("product_type")
        return not ptype or label["productType"]["langualCode"] == ptype

    def _search(self, q: dict) -> tuple[int, dict, bytes]:
        start, size = int(q.get("from", 0)), int(q.get("size", 10))
        if start + size > self.window:
            return self._json(400, {"error": f"Result window is too large, from + size must be <= {self.window}"})
        matches = [lab for lab in self.labels.values() if self._matches(lab, q)]
        if q.get("sort_by") == "entryDate":
            matches.sort(key=lambda lab: (lab["entryDate"] or "", lab["id"]), reverse=q.get("sort_order") == "desc")
        if self.ignore_from:
            start = 0
        docs: list[dict] = [{"_index": "sim", "_id": str(lab["id"]),
                             "_source": {"id": lab["id"], "fullName": lab["fullName"], "entryDate": lab["entryDate"]}}
                            for lab in matches]
        if not q.get("product_type"):  # bad documents head the unpartitioned search (and its count)
            docs = [{"_index": "sim", "_id": bad, "_source": {}} for bad in self.bad_hits] + docs
        return self._json(200, {"hits": docs[start:start + size], "stats": {"count": len(docs) + self.count_offset}})

    def _label(self, raw: str) -> tuple[int, dict, bytes]:
        if not raw.isdigit() or int(raw) not in self.labels:
            return self._json(404, {"error": "not found"})
        lid = int(raw)
        mode = self.poison.get(lid)
        if mode == "500":
            return self._json(500, {"error": "internal"})
        if mode == "badjson":
            return 200, {"Content-Type": "application/json"}, b'{"id": ' + raw.encode() + b', "ingredientRows": [{'
        if mode == "empty":
            return 200, {"Content-Type": "application/json"}, b""
        if mode == "wrongid":
            other = next(i for i in self.labels if i != lid)
            return self._json(200, self.labels[other])
        return self._json(200, self.labels[lid])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", type=Path, required=True, help="the flattened DSLD corpus (.jsonl.gz)")
    build_fixture(parser.parse_args().build)
