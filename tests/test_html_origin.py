"""A page's identity comes from where it was fetched, not from what it says (issue 9).

The fault: a page served from one host, whose canonical link names an iHerb product, replaced
the real iHerb row (105 -> 999 mg/day). Here the real iHerb page 104996 is served, byte for
byte except its magnesium amount (altered: "105 mg" -> "999 mg" in its one magnesium row),
as if from another host; the real page is fetched from iHerb itself.
"""
from __future__ import annotations

import gzip

import pytest
from maglabels.normalize.batch import normalize_labels
from maglabels.normalize.html import CANONICAL_OFFSITE, IDENTITY_FROM_PAGE, page_origin, parse_page
from maglabels.normalize.html.origin import same_site
from maglabels.normalize.product_identity import ProductIdentity
from maglabels.normalize.sites import Site, for_host
from maglabels.scrapers.archive import Archive
from maglabels.scrapers.http import RateSpec, RetryPolicy, Timeouts
from maglabels.scrapers.pages import scrape_pages
from maglabels.warehouse.db import connect
from maglabels.warehouse.load import load_batch
from maglabels.warehouse.runs import finish_run, start_run

from maglabels import pipeline
from maglabels.parsing import item_of, read_label
from tests.conftest import MULTI_PAGE
from tests.http_server import Resp, SleepRecorder

IHERB_URL = ("https://www.iherb.com/pr/california-gold-nutrition-multivitamin-and-mineral-with-methyl-b12-vitamin-c-"
             "l-methylfolate-and-quercetin-two-a-day-60-veggie-capsules/104996")
OFFSITE_URL = "https://shop.example.net/products/cgn-multivitamin-two-a-day"
MG_ROW = b"<td>Magnesium (as Magnesium Oxide and Magnesium Bisglycinate)</td><td>105 mg</td>"


@pytest.fixture(scope="module")
def real() -> bytes:
    return gzip.decompress(MULTI_PAGE.read_bytes())


@pytest.fixture(scope="module")
def forged(real: bytes) -> bytes:
    assert real.count(MG_ROW) == 1
    return real.replace(MG_ROW, MG_ROW.replace(b"105 mg", b"999 mg"))


def test_real_page_served_from_another_host_is_keyed_to_that_host(real):
    ex = parse_page(real, url=OFFSITE_URL)
    assert (ex.label.source, ex.label.url) == ("shop.example.net", OFFSITE_URL)
    assert ex.site == "generic"  # chosen by the serving host, not by the canonical link's
    assert ex.canonical_url == IHERB_URL  # the claim is kept, as a claim
    ((flag, reason),) = ex.flags
    assert flag == CANONICAL_OFFSITE and "www.iherb.com" in reason and OFFSITE_URL in reason
    assert ex.label.extra["flags"] == [{"flag": CANONICAL_OFFSITE, "reason": reason}]
    # the panel is still read: the page is a label of its own, not a lost document
    assert any(r.name.startswith("Magnesium") and r.amount == 105 for r in ex.label.rows)


def test_the_same_page_from_its_own_host_has_no_flag(real):
    ex = parse_page(real, url=IHERB_URL)
    assert (ex.label.source, ex.label.source_id, ex.site, ex.flags) == ("www.iherb.com", "104996", "iherb", ())


def _archive_and_parse(tmp_path, pages: list[tuple[str, bytes]]):
    archive = Archive(tmp_path / "archive")
    records = [archive.put(url, 200, {"content-type": "text/html"}, body, source=url.split("/")[2], kind="page")
               for url, body in pages]
    return records, [read_label(item_of(r, archive.get(r.sha256))) for r in records]


@pytest.mark.parametrize("forged_first", [True, False], ids=["forged-first", "real-first"])
def test_forged_page_never_replaces_the_iherb_label(tmp_path, real, forged, forged_first):
    pages = [(IHERB_URL, real), (OFFSITE_URL, forged)]
    _, labels = _archive_and_parse(tmp_path, pages[::-1] if forged_first else pages)
    daily = normalize_labels(labels).magnesium_labels.set_index("source")
    assert sorted(daily.index) == ["shop.example.net", "www.iherb.com"]
    assert daily.loc["www.iherb.com", "source_id"] == "104996"
    assert daily.loc["www.iherb.com", "mg_per_day_max"] == 105
    assert daily.loc["shop.example.net", "mg_per_day_max"] == 999


def test_forged_page_in_a_later_run_leaves_the_warehouse_row(tmp_path, real, forged):
    con = connect(tmp_path / "w.duckdb")
    try:
        for url, body in ((IHERB_URL, real), (OFFSITE_URL, forged)):  # two nightly runs
            records, labels = _archive_and_parse(tmp_path / url.split("/")[2], [(url, body)])
            run = start_run(con, "test")
            load_batch(con, normalize_labels(labels), run_id=run, documents_df=pipeline.documents_frame(records))
            finish_run(con, run, "ok", {}, None)
        rows = con.execute("SELECT source, source_id, mg_per_day_max FROM magnesium_daily ORDER BY source").fetchall()
        flagged = con.execute("SELECT source, flag FROM label_flags WHERE flag = 'canonical_offsite'").fetchall()
        daily_flags = con.execute("SELECT flags FROM magnesium_daily WHERE source = 'shop.example.net'").fetchone()[0]
    finally:
        con.close()
    assert [(s, d) for s, _, d in rows] == [("shop.example.net", 999), ("www.iherb.com", 105)]
    assert rows[1][1] == "104996"
    assert flagged == [("shop.example.net", "canonical_offsite")]  # the finding reaches the warehouse
    assert "canonical_offsite" in daily_flags


def test_page_fetched_over_http_after_a_redirect_is_keyed_to_the_final_url(server, tmp_path, real):  # noqa: F811
    # a loopback server answers /go with a redirect to /p/multivitamin, which serves the real bytes
    server.route("/robots.txt", Resp(200, "User-agent: *\nAllow: /\n"))
    server.route("/go", Resp(302, headers={"Location": server.url("/p/multivitamin")}))
    server.route("/p/multivitamin", Resp(200, real, {"Content-Type": "text/html; charset=utf-8"}))
    archive = Archive(tmp_path / "archive")
    fast = dict(rate=RateSpec(per_second=1000, burst=100), timeouts=Timeouts(5.0, 5.0), sleep=SleepRecorder(),
                retry=RetryPolicy(attempts=1, backoff_initial=0.001, backoff_max=0.01, jitter=0.0))
    result = scrape_pages(archive, urls=[server.url("/go")], progress=False, **fast)
    (label,) = [read_label(item_of(r, archive.get(r.sha256))) for r in result.records]
    assert (label.source, label.url) == ("127.0.0.1", server.url("/p/multivitamin"))
    assert [f["flag"] for f in label.extra["flags"]] == [CANONICAL_OFFSITE]


# --------------------------------------------------------------------------- the rules, one by one


def test_same_site_canonical_keeps_the_fetched_host_and_gives_no_flag():
    # ca.iherb.com is a storefront of the same registered site as www.iherb.com
    o = page_origin("https://ca.iherb.com/pr/x/104996?rcode=abc", IHERB_URL)
    assert (o.host, o.key_url, o.flags) == ("ca.iherb.com", IHERB_URL, ())
    assert same_site("iherb.com", "www.iherb.com") and same_site("shop.example.net", "www.shop.example.net")
    assert not same_site("shop.example.net", "www.iherb.com") and not same_site("a.example.net", "b.example.net")


def test_no_fetch_url_falls_back_to_the_canonical_link_with_a_flag(real):
    ex = parse_page(real)
    assert (ex.label.source, ex.label.source_id, ex.label.url) == ("www.iherb.com", "104996", IHERB_URL)
    assert [f for f, _ in ex.flags] == [IDENTITY_FROM_PAGE]


def test_saved_page_whose_url_is_its_own_canonical_is_flagged(real):
    # `maglabels ingest` stores a saved page under its canonical link (status None in the archive)
    ex = parse_page(real, url=IHERB_URL, saved=True)
    assert (ex.label.source, ex.label.source_id) == ("www.iherb.com", "104996")
    assert [f for f, _ in ex.flags] == [IDENTITY_FROM_PAGE]
    # a saved page given another URL with --url keeps that URL, and its canonical link is off-site
    ex = parse_page(real, url=OFFSITE_URL, saved=True)
    assert ex.label.source == "shop.example.net" and [f for f, _ in ex.flags] == [CANONICAL_OFFSITE]


def test_pipeline_marks_archived_files_as_saved(tmp_path, real):
    archive = Archive(tmp_path / "archive")
    rec = archive.put(IHERB_URL, None, {"content-type": "text/html"}, real, source="www.iherb.com", kind="page")
    label = read_label(item_of(rec, archive.get(rec.sha256)))
    assert [f["flag"] for f in label.extra["flags"]] == [IDENTITY_FROM_PAGE]


def test_og_url_on_another_host_is_a_claim_too(real):
    # the real page with its canonical link turned into an og:url meta tag (altered; same URL)
    link = f'<link rel="canonical" href="{IHERB_URL}">'.encode()
    assert real.count(link) == 1
    page = real.replace(link, f'<meta property="og:url" content="{IHERB_URL}">'.encode())
    ex = parse_page(page, url=OFFSITE_URL)
    assert ex.canonical_url == IHERB_URL
    assert ex.label.source == "shop.example.net" and [f for f, _ in ex.flags] == [CANONICAL_OFFSITE]


# --------------------------------------------------------------------------- site overrides (recipe-scrapers style)


class _HouseBrand(Site):
    """A site whose markup puts brand, name and price elsewhere: each hook overrides one field."""

    name = "house-brand"

    def product_id(self, url):
        return url.rsplit("/", 1)[-1] if url else None

    def brand(self, tree, identity: ProductIdentity):
        return "Store Brand"

    def price(self, tree, identity):
        return 9.99, "EUR"


def test_site_class_overrides_single_fields_and_keeps_the_generic_rest(real):
    ex = parse_page(real, url=OFFSITE_URL, site=_HouseBrand())
    generic = parse_page(real, url=OFFSITE_URL)
    assert (ex.label.brand, ex.label.price, ex.label.currency) == ("Store Brand", 9.99, "EUR")
    assert ex.label.source_id == "cgn-multivitamin-two-a-day"
    assert ex.label.product_name == generic.label.product_name  # not overridden: the generic extractor's
    assert generic.label.brand == "California Gold Nutrition" and generic.label.price == 12.38


def test_generic_site_identity_hooks_return_the_generic_identity():
    ident = ProductIdentity(name="n", brand="b", price=1.5, currency="USD")
    g = for_host("example.org")
    assert (g.brand(None, ident), g.product_name(None, ident), g.price(None, ident)) == ("b", "n", (1.5, "USD"))
