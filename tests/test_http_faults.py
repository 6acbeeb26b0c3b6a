"""HTTP fault suite: `maglabels scrape pages` against a loopback server (issue 9).

Every case crawls the two real iHerb pages (tests/golden/www.iherb.com) plus one faulty URL. Each
asserts that the good pages are loaded once (no duplicates), that the exit code and
`scrape_runs.status` say whether a page was lost (3/'partial') or not (0/'ok'), and that a lost
URL is reported with its reason. Timeouts, retries and backoffs come from settings (environment)
so the suite runs in seconds; the server's answers are bounded (no endless streams).
"""
from __future__ import annotations

import email.utils
import gzip
import json
import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from maglabels.scrapers.archive import INDEX_NAME, Archive

from maglabels.cli import cli
from tests.conftest import IHERB_PAGES
from tests.http_server import Resp

PAGE_FILES = list(IHERB_PAGES.values())
GOOD = {f"/good/{i}": gzip.decompress(p.read_bytes()) for i, p in enumerate(PAGE_FILES)}
PAGE = GOOD["/good/0"]  # the real multivitamin page (3,975,255 bytes)
FIFTY_MB = 50 * 1024 * 1024
READ_TIMEOUT = 0.3
RETRY_AFTER_CAP = 1.0

ENV = {
    "MAGLABELS_RETRY_ATTEMPTS": "3",
    "MAGLABELS_RETRY_BACKOFF": "0.01",
    "MAGLABELS_RETRY_AFTER_CAP": str(RETRY_AFTER_CAP),
    "MAGLABELS_HTTP_CONNECT_TIMEOUT": "2",
    "MAGLABELS_HTTP_READ_TIMEOUT": str(READ_TIMEOUT),
    "MAGLABELS_PAGE_REQUESTS_PER_SECOND": "1000",
}


def _malformed() -> bytes:
    """A real page's facts region cut out mid-tag at both ends: unbalanced, truncated markup."""
    at = PAGE.index(b"supplement-facts-container")
    return PAGE[at - 2001 : at + 6007]


def _http_date_route():
    calls = []

    def route(req):
        calls.append(req)
        if len(calls) == 1:  # 2-3 s ahead (whole seconds) by the wall clock, so > the cap even on a slow machine
            return Resp(429, headers={"Retry-After": email.utils.formatdate(time.time() + 3, usegmt=True)})
        return Resp(200, PAGE)

    return route


def _blobs(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and p.name != INDEX_NAME}


class Crawl:
    def __init__(self, srv, tmp_path, monkeypatch) -> None:
        self.server = srv
        self.data = tmp_path / "data"
        monkeypatch.setenv("MAGLABELS_DATA_DIR", str(self.data))
        monkeypatch.delenv("MAGLABELS_DB", raising=False)
        for name, value in ENV.items():
            monkeypatch.setenv(name, value)
        for path, body in GOOD.items():
            srv.route(path, Resp(200, body, {"Content-Type": "text/html; charset=utf-8"}))

    def run(self, *extra_paths: str, args: tuple[str, ...] = ()):
        urls = [self.server.url(p) for p in (*GOOD, *extra_paths)]
        result = CliRunner().invoke(cli, ["scrape", "pages", *args, *urls])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return result

    def db(self):
        return duckdb.connect(str(self.data / "maglabels.duckdb"), read_only=True)

    def check_good_pages_once(self) -> None:
        with self.db() as con:
            total, distinct = con.execute("SELECT count(*), count(DISTINCT (source, source_id)) FROM labels").fetchone()
            shas = {r[0] for r in con.execute("SELECT raw_sha256 FROM labels").fetchall()}
            fetches = con.execute("SELECT url, count(*) FROM raw_fetches WHERE kind = 'page' GROUP BY url").fetchall()
        import hashlib

        assert {hashlib.sha256(b).hexdigest() for b in GOOD.values()} <= shas
        assert total == distinct  # 0 duplicates
        assert all(n == 1 for _, n in fetches), fetches

    def last_run(self) -> tuple[str, dict]:
        """Status of the newest run and its counts (errors column + extra_counts JSON)."""
        with self.db() as con:
            status, errors, extra = con.execute(
                "SELECT status, errors, extra_counts FROM scrape_runs ORDER BY run_id DESC LIMIT 1").fetchone()
        return status, {"errors": errors, **(json.loads(extra) if isinstance(extra, str) else extra or {})}


@pytest.fixture
def crawl(server, tmp_path, monkeypatch) -> Crawl:
    return Crawl(server, tmp_path, monkeypatch)


def _assert_lost(crawl: Crawl, result, path: str, reason_part: str) -> None:
    assert result.exit_code == 3, result.output
    crawl.check_good_pages_once()
    status, counts = crawl.last_run()
    assert status == "partial" and counts["errors"] == 1
    lost = [line for line in result.stderr.splitlines() if line.startswith("maglabels: lost ")]
    assert len(lost) == 1 and crawl.server.url(path) in lost[0] and reason_part in lost[0], result.stderr


def _assert_ok(crawl: Crawl, result) -> None:
    assert result.exit_code == 0, result.output
    crawl.check_good_pages_once()
    assert crawl.last_run()[0] == "ok"
    assert "maglabels: lost" not in result.stderr


# ---------------------------------------------------------------- pages that arrive in the end


def test_429_retry_after_seconds(crawl):
    crawl.server.route("/f", [Resp(429, headers={"Retry-After": "1"}), Resp(200, PAGE)])
    _assert_ok(crawl, crawl.run("/f"))
    first, second = crawl.server.hits("/f")
    assert second.time - first.time >= 1.0  # waited as told (a backoff here would be ~0.01 s)


def test_429_retry_after_http_date(crawl):
    crawl.server.route("/f", _http_date_route())
    _assert_ok(crawl, crawl.run("/f"))
    first, second = crawl.server.hits("/f")
    assert second.time - first.time >= RETRY_AFTER_CAP  # date parsed (2-3 s ahead), then capped


def test_5xx_then_success(crawl):
    crawl.server.route("/f", [Resp(503), Resp(500), Resp(200, PAGE)])
    _assert_ok(crawl, crawl.run("/f"))
    assert len(crawl.server.hits("/f")) == 3


def test_off_list_redirect_is_skipped_and_reported_not_lost(crawl, other_server):
    crawl.server.route("/f", Resp(302, headers={"Location": other_server.url("/elsewhere")}))
    other_server.route("/elsewhere", Resp(200, PAGE))
    result = crawl.run("/f")
    _assert_ok(crawl, result)  # deliberately not fetched (policy), so nothing was lost
    assert f"skipped {crawl.server.url('/f')}: redirect_off_allowlist -> {other_server.url('/elsewhere')}" in result.stderr
    assert other_server.requests == []


def test_malformed_html_with_200_is_read_or_reported(crawl):
    crawl.server.route("/f", Resp(200, _malformed(), {"Content-Type": "text/html"}))
    result = crawl.run("/f")
    crawl.check_good_pages_once()
    status, counts = crawl.last_run()
    # fetched fine; whether the normaliser can read it decides ok vs partial, never a crash
    assert (result.exit_code, status) in {(0, "ok"), (3, "partial")}, result.output
    assert counts["errors"] == (1 if status == "partial" else 0)


# ---------------------------------------------------------------- pages that are lost


def test_slow_beyond_read_timeout(crawl):
    crawl.server.route("/f", Resp(200, PAGE, delay=READ_TIMEOUT * 2))
    _assert_lost(crawl, crawl.run("/f"), "/f", "timeout")
    assert len(crawl.server.hits("/f")) == 3


def test_connection_reset_mid_body(crawl):
    crawl.server.route("/f", Resp(200, PAGE, reset_after=len(PAGE) // 3))
    _assert_lost(crawl, crawl.run("/f"), "/f", "ReadError")
    assert len(crawl.server.hits("/f")) == 3  # retried


def test_truncated_body(crawl):
    crawl.server.route("/f", Resp(200, PAGE[: len(PAGE) // 2], length=len(PAGE)))
    _assert_lost(crawl, crawl.run("/f"), "/f", "RemoteProtocolError")
    assert len(crawl.server.hits("/f")) == 3  # retried


def test_empty_body(crawl):
    crawl.server.route("/f", Resp(200, b"", {"Content-Type": "text/html"}))
    _assert_lost(crawl, crawl.run("/f"), "/f", "empty_body")


def test_redirect_loop(crawl):
    crawl.server.route("/f", Resp(302, headers={"Location": "/f"}))
    _assert_lost(crawl, crawl.run("/f"), "/f", "redirects")
    assert len(crawl.server.hits("/f")) == 6  # the first request and 5 redirects, then it stops


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "streamed"])
def test_50_mb_body(crawl, chunked):
    crawl.server.route("/f", Resp(200, b"<html>" + b" " * (FIFTY_MB - 6), chunked=chunked))
    _assert_lost(crawl, crawl.run("/f"), "/f", "body_too_large")
    assert len(crawl.server.hits("/f")) == 1  # not retried


def test_all_good_is_ok_and_second_crawl_is_all_304(crawl):
    for path, body in GOOD.items():
        etag = f'"{path[-1]}-v1"'
        crawl.server.route(path, Resp(200, body, {"Content-Type": "text/html", "ETag": etag}))
    _assert_ok(crawl, crawl.run())
    archive = Archive(crawl.data / "archive")
    pages_before, blobs_before = archive.records(kind="page"), _blobs(crawl.data / "archive")
    result = crawl.run(args=("--concurrency-per-host", "2"))
    assert result.exit_code == 0, result.output
    assert "fetched 0 pages, 2 unchanged (304)" in result.stderr
    for path in GOOD:
        assert crawl.server.hits(path)[-1].headers["if-none-match"] == f'"{path[-1]}-v1"'
    assert archive.records(kind="page") == pages_before  # nothing new stored: no page record,
    assert _blobs(crawl.data / "archive") == blobs_before  # no body (robots.txt is re-checked each run)
    status, counts = crawl.last_run()
    assert status == "ok" and (counts["errors"], counts["skipped"], counts["unchanged"]) == (0, 0, 2)
    assert counts["already_loaded"] == 2  # the 304s' archived pages are not parsed or loaded again


def test_bad_http_setting_is_a_usage_error(crawl, monkeypatch):
    monkeypatch.setenv("MAGLABELS_HTTP_READ_TIMEOUT", "soon")
    result = crawl.run()
    assert result.exit_code == 2 and "MAGLABELS_HTTP_READ_TIMEOUT='soon' is not a number" in result.output
    assert crawl.server.requests == []
