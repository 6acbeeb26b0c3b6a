"""Product pages: seeds, sitemaps, robots, off-list redirects, archive kinds."""

from __future__ import annotations

import gzip

from maglabels.scrapers.archive import Archive, ArchiveRecord
from maglabels.scrapers.http import RateSpec, RetryPolicy, Timeouts
from maglabels.scrapers.pages import make_pages_client, read_seed_file, scrape_pages, sitemap_urls

from tests.conftest import IHERB_PAGES
from tests.http_server import Resp, SleepRecorder

FAST = dict(
    rate=RateSpec(per_second=1000, burst=100),
    retry=RetryPolicy(attempts=2, backoff_initial=0.001, backoff_max=0.01, jitter=0.0),
    timeouts=Timeouts(1.0, 1.0),
    sleep=SleepRecorder(),
)


def sitemap(*locs: str, index: bool = False) -> str:
    tag, item = ("sitemapindex", "sitemap") if index else ("urlset", "url")
    entries = "".join(f"<{item}><loc>{loc}</loc></{item}>" for loc in locs)
    return f'<?xml version="1.0" encoding="UTF-8"?><{tag} xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</{tag}>'


def test_read_seed_file(tmp_path):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("# retailer pages\nhttps://a.example/p1\n\n  https://a.example/p2  # glycinate\n#https://no\n")
    assert read_seed_file(seeds) == ["https://a.example/p1", "https://a.example/p2"]


def test_scrape_pages_robots_redirect_and_archive(server, other_server, tmp_path):
    server.route("/robots.txt", Resp(200, "User-agent: *\nDisallow: /private\n"))
    server.route("/p1", Resp(200, "<html>one</html>", {"Content-Type": "text/html", "Set-Cookie": "sid=1"}))
    server.route("/p2", Resp(200, "<html>two</html>"))
    server.route("/private", Resp(200, "secret"))
    server.route("/away", Resp(302, headers={"Location": other_server.url("/landing")}))
    other_server.route("/landing", Resp(200))
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(f"{server.url('/p2')}\n{server.url('/private')}\n{server.url('/away')}\n")
    archive = Archive(tmp_path / "archive")

    result = scrape_pages(archive, urls=[server.url("/p1")], seed_file=seeds, progress=False, **FAST)

    assert sorted(r.url for r in result.records) == [server.url("/p1"), server.url("/p2")]
    assert {(r.kind, r.source) for r in result.records} == {("page", server.host)}
    skipped = {s.url: (s.reason, s.target) for s in result.skipped}
    assert skipped == {
        server.url("/private"): ("robots_disallowed", None),
        server.url("/away"): ("redirect_off_allowlist", other_server.url("/landing")),
    }
    assert result.errors == []
    assert server.hits("/private") == [] and other_server.requests == []
    assert len(server.hits("/robots.txt")) == 1
    (robots,) = archive.records(kind="robots")
    assert robots.source == server.host and archive.get(robots.sha256).startswith(b"User-agent")
    assert all("set-cookie" not in r.headers for r in archive.records())


def test_sitemap_index_recursion_and_gzip(server, tmp_path):
    server.route("/sitemap.xml", Resp(200, sitemap(server.url("/sm-a.xml"), server.url("/sm-b.xml.gz"), index=True)))
    server.route("/sm-a.xml", Resp(200, sitemap(server.url("/p1"), server.url("/p2?x=1&amp;y=2"))))
    server.route("/sm-b.xml.gz", Resp(200, gzip.compress(sitemap(server.url("/p1"), server.url("/p3")).encode())))
    for p in ("/p1", "/p2", "/p3"):
        server.route(p, Resp(200, p))
    archive = Archive(tmp_path)
    result = scrape_pages(archive, sitemap=server.url("/sitemap.xml"), progress=False, **FAST)
    assert sorted(r.url for r in result.records) == sorted(
        [server.url("/p1"), server.url("/p2?x=1&y=2"), server.url("/p3")]
    )
    assert len(archive.records(kind="sitemap")) == 3
    assert len(server.hits("/p1")) == 1  # listed twice, fetched once


def test_sitemap_depth_is_bounded(server):
    server.route("/s0.xml", Resp(200, sitemap(server.url("/s1.xml"), index=True)))
    server.route("/s1.xml", Resp(200, sitemap(server.url("/s2.xml"), index=True)))
    server.route("/s2.xml", Resp(200, sitemap(server.url("/p"))))
    with make_pages_client({server.host}, **FAST) as client:
        found = sitemap_urls(client, server.url("/s0.xml"), max_depth=1)
    assert found.urls == [] and server.hits("/s2.xml") == []
    assert "deeper than 1" in found.errors[0].reason


def test_sitemap_entries_on_other_hosts_are_skipped(server, other_server, tmp_path):
    server.route("/sitemap.xml", Resp(200, sitemap(server.url("/p"), other_server.url("/q"))))
    server.route("/p", Resp(200, "<html>p</html>"))
    result = scrape_pages(Archive(tmp_path), sitemap=server.url("/sitemap.xml"), progress=False, **FAST)
    assert [r.url for r in result.records] == [server.url("/p")]
    assert [(s.url, s.reason) for s in result.skipped] == [(other_server.url("/q"), "host_not_allowed")]
    assert other_server.requests == []


def test_page_errors_are_reported(server, tmp_path):
    server.route("/gone", Resp(410, "gone"))
    archive = Archive(tmp_path)
    result = scrape_pages(archive, urls=[server.url("/gone")], progress=False, **FAST)
    assert [(e.url, e.status) for e in result.errors] == [(server.url("/gone"), 410)]
    assert [(r.kind, r.status) for r in archive.records()] == [("robots", 404), ("error", 410)]


REAL_PAGES = list(IHERB_PAGES.values())


def test_recrawl_is_conditional_and_304_reuses_the_archived_record(server, tmp_path):
    modified = "Wed, 21 Oct 2026 07:28:00 GMT"
    paths = []
    for i, page in enumerate(REAL_PAGES):
        body = gzip.decompress(page.read_bytes())
        validators = {"ETag": f'"v{i}"'} if i == 0 else {"Last-Modified": modified}
        server.route(f"/p{i}", Resp(200, body, {"Content-Type": "text/html", **validators}))
        paths.append(f"/p{i}")
    server.route("/plain", Resp(200, "<html>no validators</html>"))
    urls = [server.url(p) for p in (*paths, "/plain")]
    archive = Archive(tmp_path)

    first = scrape_pages(archive, urls=urls, progress=False, per_host=2, **FAST)
    pages_after_first = archive.records(kind="page")
    second = scrape_pages(archive, urls=urls, progress=False, per_host=2, **FAST)

    assert first.unchanged == 0 and len(first.records) == 3
    assert second.unchanged == 2 and second.errors == []
    assert {r.sha256 for r in second.records} == {r.sha256 for r in first.records}
    assert server.hits("/p0")[-1].headers["if-none-match"] == '"v0"'
    assert server.hits("/p1")[-1].headers["if-modified-since"] == modified
    assert "if-none-match" not in server.hits("/plain")[-1].headers  # nothing to validate: full GET
    # only the page without validators was stored again
    new = archive.records(kind="page")[len(pages_after_first):]
    assert [r.url for r in new] == [server.url("/plain")]


def test_changed_page_is_fetched_again_in_full(server, tmp_path):
    server.route("/p", [Resp(200, "<html>v1</html>", {"ETag": '"v1"'}), Resp(200, "<html>v2</html>", {"ETag": '"v2"'})])
    archive = Archive(tmp_path)
    scrape_pages(archive, urls=[server.url("/p")], progress=False, **FAST)
    second = scrape_pages(archive, urls=[server.url("/p")], progress=False, **FAST)
    assert second.unchanged == 0 and archive.get(second.records[0].sha256) == b"<html>v2</html>"


def test_echoed_api_key_is_not_archived(server, tmp_path):
    key = "SECRET-KEY-abc123"
    server.route("/p", Resp(302, headers={"Location": f"/q?session={key}", "X-Echo": f"your key is {key}"}))
    server.route("/q", Resp(200, "<html>page</html>", {"X-Debug": key, "Link": f"</q?session={key}>"}))
    archive = Archive(tmp_path)
    with make_pages_client({server.host}, archive=archive, api_key=key, api_key_hosts={server.host}, **FAST) as client:
        result = scrape_pages(archive, urls=[server.url("/p")], client=client, progress=False)
    assert len(result.records) == 1 and "REDACTED" in result.records[0].url
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.name == "index.jsonl")
    assert key.encode() not in stored and b"x-debug" not in stored


def test_results_keep_records_not_bodies(server, tmp_path):
    body = gzip.decompress(REAL_PAGES[0].read_bytes())
    server.route("/p", Resp(200, body))
    result = scrape_pages(Archive(tmp_path), urls=[server.url("/p")], progress=False, **FAST)
    (record,) = result.records
    assert isinstance(record, ArchiveRecord) and record.size == len(body)
