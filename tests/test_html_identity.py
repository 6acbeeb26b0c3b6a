"""Product identity and offer (normalize.product_identity) from the real iHerb pages' markup.

The JSON-LD `Product` objects are read from the fixture pages themselves; the structural
variants (@graph, a list, offers as a list, AggregateOffer, brand as a string) are those real
objects re-wrapped, and each test says how.
"""
from __future__ import annotations

import copy
import gzip
import json
import re

import pytest
from maglabels.normalize.product_identity import ProductIdentity, extract_identity, parse_price

from tests.conftest import BCOMPLEX_PAGE, MULTI_PAGE

MULTI = "iherb-104996-cgn-multivitamin-two-a-day"
BCOMPLEX = "iherb-108255-cgn-b-complex"
MULTI_NAME = (
    "California Gold Nutrition, Multivitamin and Mineral with Methyl B12, Vitamin C, L-MethylFolate and "
    "Quercetin, Two-A-Day, 60 Veggie Capsules"
)


def _raw(name: str) -> str:
    path = {MULTI: MULTI_PAGE, BCOMPLEX: BCOMPLEX_PAGE}[name]
    return gzip.decompress(path.read_bytes()).decode("utf-8")


def _ld_blocks(name: str) -> list[dict]:
    return [json.loads(m) for m in re.findall(r'<script type="application/ld\+json">(.*?)</script>', _raw(name), re.S)]


def _product(name: str) -> dict:
    (p,) = [b for b in _ld_blocks(name) if b.get("@type") == "Product"]
    return p


def _page(*ld: object, head: str = "") -> str:
    scripts = "".join(f'<script type="application/ld+json">{json.dumps(x)}</script>' for x in ld)
    return f"<html><head>{head}{scripts}</head><body></body></html>"


def test_real_product_price_sits_in_price_specification():
    p = _product(MULTI)
    assert p["offers"]["price"] is None  # as the page has it
    ident = extract_identity(_page(*_ld_blocks(MULTI)))
    assert ident.name == MULTI_NAME
    assert ident.brand == "California Gold Nutrition"
    assert (ident.gtin, ident.gtin_kind) == ("898220019908", "gtin12")
    assert (ident.sku, ident.mpn, ident.product_id) == ("CGN-01990", "CGN-01990", "104996")
    # the current price, not the StrikethroughPrice
    assert (ident.price, ident.currency, ident.list_price) == (12.38, "USD", 17.69)
    assert ident.availability == "InStock"
    assert ident.sources["price"] == "json-ld"


def test_real_product_flat_price():
    ident = extract_identity(_page(*_ld_blocks(BCOMPLEX)))
    assert (ident.price, ident.currency, ident.list_price) == (20.23, "USD", None)
    assert ident.gtin == "898220020904"


def test_product_inside_graph():
    # the real two blocks put into one @graph document
    doc = {"@context": "https://schema.org", "@graph": [dict(b) for b in _ld_blocks(MULTI)]}
    ident = extract_identity(_page(doc))
    assert ident.name == MULTI_NAME and ident.price == 12.38


def test_product_inside_a_list():
    # the real two blocks as one top-level JSON list
    ident = extract_identity(_page(_ld_blocks(BCOMPLEX)))
    assert ident.product_id == "108255" and ident.price == 20.23


def test_offers_as_a_list_and_brand_as_a_string():
    # real product; offers wrapped in a list, brand given as a plain string
    p = copy.deepcopy(_product(MULTI))
    p["offers"] = [p["offers"]]
    p["brand"] = "California Gold Nutrition"
    ident = extract_identity(_page(p))
    assert ident.brand == "California Gold Nutrition"
    assert (ident.price, ident.currency) == (12.38, "USD")


def test_aggregate_offer_low_price():
    # real product; its offer turned into an AggregateOffer (the form marketplaces use)
    p = copy.deepcopy(_product(BCOMPLEX))
    p["offers"] = {"@type": "AggregateOffer", "lowPrice": "20.23", "highPrice": "24.00", "priceCurrency": "USD", "offerCount": 2}
    ident = extract_identity(_page(p))
    assert (ident.price, ident.currency) == (20.23, "USD")


def test_single_price_specification_object():
    # real product; priceSpecification given as one object instead of a list
    p = copy.deepcopy(_product(MULTI))
    p["offers"]["priceSpecification"] = p["offers"]["priceSpecification"][0]
    assert extract_identity(_page(p)).price == 12.38


def test_only_strikethrough_price_gives_no_current_price():
    p = copy.deepcopy(_product(MULTI))
    p["offers"]["priceSpecification"] = p["offers"]["priceSpecification"][1:]
    ident = extract_identity(_page(p))
    assert ident.price is None and ident.list_price == 17.69


def test_related_products_nested_in_the_product_are_not_the_product():
    # real product; its null "isRelatedTo" filled with another real product (the B-complex)
    p = copy.deepcopy(_product(MULTI))
    p["isRelatedTo"] = _product(BCOMPLEX)
    assert extract_identity(_page(p)).product_id == "104996"


def test_canonical_url_picks_among_several_products():
    a, b = copy.deepcopy(_product(MULTI)), copy.deepcopy(_product(BCOMPLEX))
    a["url"] = "https://www.iherb.com/pr/x/104996"
    b["url"] = "https://www.iherb.com/pr/y/108255"
    head = '<link rel="canonical" href="https://www.iherb.com/pr/y/108255">'
    assert extract_identity(_page(a, b, head=head)).product_id == "108255"


def test_broken_json_ld_is_skipped():
    head = '<script type="application/ld+json">{"@type": "Product", "name": </script>'
    assert extract_identity(f"<html><head>{head}</head></html>") == ProductIdentity()


def test_open_graph_fallback_on_the_real_page_without_json_ld():
    # the real page with its JSON-LD scripts disabled: the name comes from og:title, and the
    # itemprop="name" of the carousels' other products (no itemscope) is never taken
    raw = _raw(MULTI).replace('type="application/ld+json"', 'type="text/disabled"')
    ident = extract_identity(raw)
    assert ident.name == MULTI_NAME
    assert ident.sources["name"] == "opengraph"
    assert ident.price is None and ident.gtin is None


def test_microdata_product_scope():
    # the real product's values marked up as microdata (the page itself has no itemscope)
    html = (
        '<div itemscope itemtype="https://schema.org/Product">'
        f'<h1 itemprop="name">{MULTI_NAME}</h1>'
        '<span itemprop="brand" itemscope itemtype="https://schema.org/Brand"><span itemprop="name">California Gold Nutrition</span></span>'
        '<meta itemprop="gtin12" content="898220019908"><meta itemprop="sku" content="CGN-01990">'
        '<div itemprop="offers" itemscope itemtype="https://schema.org/Offer">'
        '<span itemprop="price" content="12.38">$12.38</span><meta itemprop="priceCurrency" content="USD"></div>'
        "</div>"
    )
    ident = extract_identity(html)
    assert (ident.name, ident.brand, ident.gtin, ident.sku) == (MULTI_NAME, "California Gold Nutrition", "898220019908", "CGN-01990")
    assert (ident.price, ident.currency) == (12.38, "USD")
    assert ident.sources["name"] == "microdata"


def test_microdata_carousel_of_other_products_is_ambiguous():
    # two product scopes (altered: the real carousel names wrapped in itemscopes), neither matching the page
    cards = "".join(
        f'<div itemscope itemtype="https://schema.org/Product"><div itemprop="name">{n}</div>'
        f'<span itemprop="price">{p}</span></div>'
        for n, p in (("California Gold Nutrition, Omega-3 Premium Fish Oil, 100 Fish Gelatin Softgels (1,100 mg per Softgel)", "$12.20"),
                     ("California Gold Nutrition, Ashwagandha, 450 mg, 180 Veggie Capsules", "$19.28"))
    )
    head = f'<meta property="og:title" content="{MULTI_NAME}">'
    ident = extract_identity(f"<html><head>{head}</head><body>{cards}</body></html>")
    assert ident.name == MULTI_NAME and ident.sources["name"] == "opengraph"
    assert ident.price is None


@pytest.mark.parametrize(
    "value, want",
    [("12.38", 12.38), (12.38, 12.38), ("$1,234.50", 1234.5), ("12,38", 12.38), ("1.234,56", 1234.56), (None, None), ("", None), ("free", None), (True, None)],
)
def test_parse_price(value, want):
    assert parse_price(value) == want
