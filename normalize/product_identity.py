"""Product identity and offer of a product page: JSON-LD, then microdata, then Open Graph.

`extract_identity(page)` reads, in this order of trust:

1. JSON-LD (`<script type="application/ld+json">`): a schema.org `Product` (or `ProductGroup`,
   `IndividualProduct`, `ProductModel`, `DietarySupplement`), found at the top level, in a list,
   in `@graph`, or as a `WebPage.mainEntity`. Products nested deeper (``isRelatedTo``,
   ``isSimilarTo``, an ``ItemList`` of recommendations) are other products and are not read.
2. Microdata (`itemscope itemtype=".../Product"` with `itemprop`s), only from a product scope
   that is not nested in another scope; with several such scopes, only the one whose URL or
   name matches the page (else none: a carousel of other products is not this product).
3. Open Graph / `product:` meta tags (both `property=` and the common `name=` misspelling).

Each field is taken from the first source that has it; `ProductIdentity.sources` says which.

The offer: `offers` may be an object, a list, or an `AggregateOffer` (lowPrice). When
`offers.price` is null the price sits in `offers.priceSpecification[]`: the current price is
the specification that is *not* a `StrikethroughPrice`/`ListPrice` (those are "was" prices,
kept as `list_price`), preferring one without a `referenceQuantity` (a per-unit price).
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

__all__ = ["ProductIdentity", "extract_identity", "canonical_url", "declared_canonical", "parse_price"]

_PRODUCT_TYPES = frozenset(
    {"product", "productgroup", "individualproduct", "productmodel", "somproducts", "dietarysupplement"}
)
_GTIN_KEYS = ("gtin12", "gtin13", "gtin14", "gtin8", "gtin", "upc", "ean")
_WAS_PRICE = re.compile(r"strikethrough|listprice|msrp|srp|wasprice", re.I)


@dataclass(frozen=True)
class ProductIdentity:
    name: str | None = None
    brand: str | None = None
    gtin: str | None = None  # digits as given (gtin12 is a UPC-A)
    gtin_kind: str | None = None  # "gtin12", "gtin13", ...
    sku: str | None = None
    mpn: str | None = None
    product_id: str | None = None  # schema.org productID
    url: str | None = None  # the product's own URL as the markup gives it
    price: float | None = None  # current price
    currency: str | None = None
    list_price: float | None = None  # strikethrough / list price, when given
    availability: str | None = None  # "InStock", ...
    sources: dict = field(default_factory=dict, compare=False)  # field -> "json-ld"/"microdata"/"opengraph"


# --------------------------------------------------------------------------- helpers


def _as_tree(page: LexborHTMLParser | str | bytes) -> LexborHTMLParser:
    if isinstance(page, LexborHTMLParser):
        return page
    if isinstance(page, bytes):
        page = page.decode("utf-8", "replace")
    return LexborHTMLParser(page)


_MAX_VALUE_DEPTH = 16  # JSON-LD values nested deeper are not a name or a price


def _text(value: Any, depth: int = 0) -> str | None:
    """A scalar JSON-LD value as a clean string (None for empty / non-scalars)."""
    if isinstance(value, list):
        for v in value:
            t = _text(v, depth + 1) if depth < _MAX_VALUE_DEPTH else None
            if t:
                return t
        return None
    if isinstance(value, dict):
        for key in ("name", "@value", "value"):
            if key in value:
                return _text(value[key], depth + 1) if depth < _MAX_VALUE_DEPTH else None
        return None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    s = " ".join(str(value).split())
    return s or None


def _types(obj: dict) -> set[str]:
    t = obj.get("@type")
    items = t if isinstance(t, list) else [t]
    out = set()
    for x in items:
        if isinstance(x, str):
            out.add(x.rsplit("/", 1)[-1].rsplit(":", 1)[-1].lower())
    return out


def _is_product(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(_types(obj) & _PRODUCT_TYPES)


def parse_price(value: Any) -> float | None:
    """A price as a float: 12.38, "12.38", "$1,234.50", "12,38" (decimal comma) -> float."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        f = float(value)
        return f if math.isfinite(f) and f >= 0 else None
    s = str(value).strip()
    m = re.search(r"[0-9][0-9.,\s]*", s)
    if not m:
        return None
    num = re.sub(r"\s", "", m.group(0)).rstrip(".,")
    if "," in num and "." in num:
        # the last separator is the decimal one
        if num.rfind(",") > num.rfind("."):
            num = num.replace(".", "").replace(",", ".")
        else:
            num = num.replace(",", "")
    elif "," in num:
        head, _, tail = num.rpartition(",")
        num = num.replace(",", "") if len(tail) == 3 else head.replace(",", "") + "." + tail
    try:
        f = float(num)
    except ValueError:
        return None
    return f if math.isfinite(f) and f >= 0 else None


def _availability(value: Any) -> str | None:
    s = _text(value)
    if not s:
        return None
    return s.rstrip("/").rsplit("/", 1)[-1]


def _norm_url(u: str | None) -> str | None:
    if not u:
        return None
    p = urlsplit(u.strip())
    return (p.netloc.lower().removeprefix("www.") + p.path.rstrip("/")).lower() or None


def declared_canonical(tree: LexborHTMLParser, url: str | None = None) -> str | None:
    """What the page says its URL is: `<link rel=canonical>`, else `og:url`; made absolute
    against `url`. Page content, so a claim, not an identity (see `normalize.html.origin`)."""
    for node in tree.css("link[rel][href]"):
        a = node.attributes
        if "canonical" not in (a.get("rel") or "").lower().split():
            continue
        href = (a.get("href") or "").strip()
        if href:
            return urljoin(url, href) if url else href
    for node in tree.css('meta[property="og:url"], meta[name="og:url"]'):
        c = (node.attributes.get("content") or "").strip()
        if c:
            return urljoin(url, c) if url else c
    return None


def canonical_url(tree: LexborHTMLParser, url: str | None = None) -> str | None:
    """`<link rel=canonical>`, else `og:url`, else `url`; made absolute against `url`."""
    return declared_canonical(tree, url) or url


# --------------------------------------------------------------------------- JSON-LD


def _load_jsonld(raw: str) -> Any:
    s = raw.strip()
    if s.startswith("<!--"):
        s = s[4:]
    if s.endswith("-->"):
        s = s[:-3]
    s = s.strip()
    if s.startswith("<![CDATA["):
        s = s[9:]
    if s.endswith("]]>"):
        s = s[:-3]
    s = s.strip().rstrip(";")
    try:
        return json.loads(s, strict=False)
    except RecursionError:  # nested thousands deep: not product markup, skipped like broken JSON
        return None
    except ValueError:
        pass
    # a common breakage: trailing commas
    try:
        return json.loads(re.sub(r",\s*([}\]])", r"\1", s), strict=False)
    except (ValueError, RecursionError):
        return None


def _top_level_objects(doc: Any) -> Iterator[dict]:
    """Objects a page states at the top: the document, list items, @graph members, mainEntity."""
    stack = [doc]
    while stack:
        obj = stack.pop(0)
        if isinstance(obj, list):
            stack[:0] = obj
            continue
        if not isinstance(obj, dict):
            continue
        yield obj
        if "@graph" in obj:
            g = obj["@graph"]
            stack.extend(g if isinstance(g, list) else [g])
        for key in ("mainEntity", "mainEntityOfPage"):
            v = obj.get(key)
            if isinstance(v, (dict, list)) and not _is_product(obj):
                stack.extend(v if isinstance(v, list) else [v])


def _jsonld_products(tree: LexborHTMLParser) -> list[dict]:
    out: list[dict] = []
    for node in tree.css('script[type="application/ld+json" i]'):
        doc = _load_jsonld(node.text(deep=True) or "")
        if doc is None:
            continue
        out.extend(o for o in _top_level_objects(doc) if _is_product(o))
    return out


def _iter_offers(offers: Any, depth: int = 0) -> Iterator[dict]:
    if depth > _MAX_VALUE_DEPTH:
        return
    if isinstance(offers, list):
        for o in offers:
            yield from _iter_offers(o, depth + 1)
    elif isinstance(offers, dict):
        yield offers
        if "offers" in offers:  # AggregateOffer.offers
            yield from _iter_offers(offers["offers"], depth + 1)


def _price_from_specs(specs: Any) -> tuple[float | None, str | None, float | None]:
    """(current price, currency, was-price) from a priceSpecification value."""
    items = specs if isinstance(specs, list) else [specs]
    current: list[tuple[int, float, str | None]] = []
    was = None
    for spec in items:
        if not isinstance(spec, dict):
            continue
        price = parse_price(spec.get("price"))
        if price is None:
            price = parse_price(spec.get("minPrice"))
        if price is None:
            continue
        cur = _text(spec.get("priceCurrency"))
        if _WAS_PRICE.search(_text(spec.get("priceType")) or ""):
            if was is None:
                was = price
            continue
        per_unit = 1 if spec.get("referenceQuantity") else 0
        current.append((per_unit, price, cur))
    if not current:
        return None, None, was
    current.sort(key=lambda t: t[0])  # stable: item prices before per-unit prices
    return current[0][1], current[0][2], was


def _offer_fields(offers: Any) -> dict:
    out: dict = {}
    for offer in _iter_offers(offers):
        price = parse_price(offer.get("price"))
        cur = _text(offer.get("priceCurrency"))
        spec_price, spec_cur, was = _price_from_specs(offer.get("priceSpecification"))
        if price is None:
            price, cur = spec_price, cur or spec_cur
        if price is None and "aggregateoffer" in _types(offer):
            price = parse_price(offer.get("lowPrice"))
            if price is None:
                price = parse_price(offer.get("highPrice"))
        if was is not None and "list_price" not in out:
            out["list_price"] = was
        if "availability" not in out and offer.get("availability"):
            out["availability"] = _availability(offer.get("availability"))
        if price is not None:
            out["price"] = price
            if cur:
                out["currency"] = cur
            return out
    return out


def _jsonld_fields(obj: dict) -> dict:
    out: dict = {}
    out["name"] = _text(obj.get("name"))
    out["brand"] = _text(obj.get("brand")) or _text(obj.get("manufacturer"))
    for key in _GTIN_KEYS:
        g = _text(obj.get(key))
        if g:
            out["gtin"], out["gtin_kind"] = g, key
            break
    out["sku"] = _text(obj.get("sku"))
    out["mpn"] = _text(obj.get("mpn"))
    out["product_id"] = _text(obj.get("productID"))
    out["url"] = _text(obj.get("url")) or (obj.get("@id") if isinstance(obj.get("@id"), str) else None)
    out.update(_offer_fields(obj.get("offers")))
    return {k: v for k, v in out.items() if v is not None}


def _pick(candidates: list[dict], canonical: str | None, url_of) -> dict | None:
    if not candidates:
        return None
    if len(candidates) > 1 and canonical:
        want = _norm_url(canonical)
        for c in candidates:
            if _norm_url(url_of(c)) == want:
                return c
    return candidates[0]


# --------------------------------------------------------------------------- microdata


def _itemtypes(node: LexborNode) -> set[str]:
    t = node.attributes.get("itemtype") or ""
    return {x.rstrip("/").rsplit("/", 1)[-1].lower() for x in t.split()}


def _md_value(node: LexborNode) -> str | None:
    a = node.attributes
    for key in ("content", "value"):
        if a.get(key):
            return _text(a[key])
    tag = node.tag
    if tag in ("a", "link", "area") and a.get("href"):
        return a["href"]
    if tag in ("img", "audio", "video", "source", "embed", "iframe") and a.get("src"):
        return a["src"]
    if tag == "meta":
        return _text(a.get("content"))
    if tag in ("data", "meter") and a.get("value"):
        return a["value"]
    return _text(node.text(deep=True))


_MAX_SCOPE_NESTING = 8  # itemscopes nested deeper than this are read as plain text values


def _md_props(scope: LexborNode, nesting: int = 0) -> dict[str, list]:
    """itemprop values that belong to `scope` (nested scopes become dicts).

    Iterative over the scope's subtree, so markup nested thousands deep is read, not a crash.
    """
    props: dict[str, list] = {}
    stack = _element_children(scope)
    while stack:  # pre-order: a value inside an element comes before its next sibling's
        node = stack.pop()
        nested = "itemscope" in node.attributes
        for n in (node.attributes.get("itemprop") or "").split():
            value = _md_scope_value(node, nesting) if nested and nesting < _MAX_SCOPE_NESTING else _md_value(node)
            props.setdefault(n, []).append(value)
        if not nested:
            stack.extend(_element_children(node))
    return props


def _element_children(node: LexborNode) -> list[LexborNode]:
    """Element children of `node`, last first (ready to be popped in document order)."""
    out = []
    child = node.last_child
    while child is not None:
        if child.is_element_node:
            out.append(child)
        child = child.prev
    return out


def _md_scope_value(node: LexborNode, nesting: int) -> dict:
    value: dict[str, Any] = {k: v[0] for k, v in _md_props(node, nesting + 1).items()}
    value["@types"] = _itemtypes(node)
    return value


def _product_scopes(tree: LexborHTMLParser) -> list[LexborNode]:
    """Product itemscopes that are not nested in another itemscope."""
    scopes = []
    for node in tree.css("[itemscope][itemtype]"):
        if not (_itemtypes(node) & _PRODUCT_TYPES):
            continue
        p, nested = node.parent, False
        while p is not None and p.tag not in ("html", "-undef"):
            if p.is_element_node and "itemscope" in p.attributes:
                nested = True
                break
            p = p.parent
        if not nested:
            scopes.append(node)
    return scopes


def _choose_scope(props_list: list[dict], canonical: str | None, og_title: str | None) -> dict | None:
    """One scope: the only one, else the one whose URL or name is the page's."""
    if len(props_list) == 1:
        return props_list[0]
    want_url, want_name = _norm_url(canonical), (og_title or "").strip().lower()
    for p in props_list:
        u = _norm_url(_text(p.get("url", [None])[0]) if p.get("url") else None)
        n = (_text(p.get("name", [None])[0]) or "").lower() if p.get("name") else ""
        if (want_url and u == want_url) or (want_name and n == want_name):
            return p
    return None


def _md_offers(chosen: dict) -> list[dict]:
    offer_dicts = []
    for o in chosen.get("offers") or []:
        if isinstance(o, dict):
            d = dict(o)
            if "aggregateoffer" in d.get("@types", set()):
                d["@type"] = "AggregateOffer"
            offer_dicts.append(d)
    if not offer_dicts and chosen.get("price"):
        offer_dicts.append({"price": chosen["price"][0], "priceCurrency": (chosen.get("priceCurrency") or [None])[0]})
    return offer_dicts


def _microdata_fields(tree: LexborHTMLParser, canonical: str | None, og_title: str | None) -> dict:
    scopes = _product_scopes(tree)
    if not scopes:
        return {}
    chosen = _choose_scope([_md_props(s) for s in scopes], canonical, og_title)
    if chosen is None:
        return {}

    def first(key: str) -> Any:
        v = chosen.get(key)
        return v[0] if v else None

    out: dict = {"name": _text(first("name")), "brand": _text(first("brand")) or _text(first("manufacturer"))}
    for key in _GTIN_KEYS:
        g = _text(first(key))
        if g:
            out["gtin"], out["gtin_kind"] = g, key
            break
    out["sku"] = _text(first("sku"))
    out["mpn"] = _text(first("mpn"))
    out["product_id"] = _text(first("productID"))
    out["url"] = _text(first("url"))
    out.update(_offer_fields(_md_offers(chosen)))
    return {k: v for k, v in out.items() if v is not None}


# --------------------------------------------------------------------------- Open Graph


def _meta(tree: LexborHTMLParser) -> dict[str, str]:
    out: dict[str, str] = {}
    for node in tree.css("meta[content]"):
        a = node.attributes
        key = (a.get("property") or a.get("name") or "").strip().lower()
        if not key or key in out:
            continue
        val = (a.get("content") or "").strip()
        if val:
            out[key] = val
    return out


def _og_fields(meta: dict[str, str]) -> dict:
    out: dict = {}
    out["name"] = _text(meta.get("og:title"))
    out["brand"] = _text(meta.get("product:brand") or meta.get("og:brand"))
    out["url"] = meta.get("og:url")
    out["product_id"] = _text(meta.get("product:retailer_item_id"))
    for key, kind in (("product:upc", "gtin12"), ("product:ean", "gtin13"), ("product:gtin", "gtin")):
        if meta.get(key):
            out["gtin"], out["gtin_kind"] = meta[key], kind
            break
    price = parse_price(meta.get("product:price:amount") or meta.get("og:price:amount"))
    if price is not None:
        out["price"] = price
        out["currency"] = _text(meta.get("product:price:currency") or meta.get("og:price:currency"))
    was = parse_price(meta.get("product:original_price:amount"))
    if was is not None:
        out["list_price"] = was
    avail = meta.get("product:availability") or meta.get("og:availability")
    if avail:
        out["availability"] = avail.replace(" ", "")
    return {k: v for k, v in out.items() if v is not None}


# --------------------------------------------------------------------------- public


def extract_identity(
    page: LexborHTMLParser | str | bytes, *, url: str | None = None, canonical: str | None = None
) -> ProductIdentity:
    """Name, brand, GTIN, sku, productID, price and currency of the page's product."""
    tree = _as_tree(page)
    canonical = canonical or canonical_url(tree, url)
    meta = _meta(tree)

    layers: list[tuple[str, dict]] = []
    products = _jsonld_products(tree)
    chosen = _pick(products, canonical, lambda o: _text(o.get("url")) or o.get("@id"))
    if chosen is not None:
        layers.append(("json-ld", _jsonld_fields(chosen)))
    layers.append(("microdata", _microdata_fields(tree, canonical, meta.get("og:title"))))
    layers.append(("opengraph", _og_fields(meta)))

    merged: dict = {}
    sources: dict = {}
    for src, fields in layers:
        for key, value in fields.items():
            if key in ("gtin_kind", "currency") or key in merged:
                continue
            merged[key], sources[key] = value, src
            if key == "gtin":
                merged["gtin_kind"] = fields.get("gtin_kind")
    # a currency belongs to the price it came with
    for src, fields in layers:
        if "price" in merged and sources["price"] != src:
            continue
        if fields.get("currency"):
            merged["currency"], sources["currency"] = fields["currency"], src
            break
    return ProductIdentity(sources=sources, **merged)

