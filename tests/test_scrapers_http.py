"""PoliteClient: retries, Retry-After, timeouts, robots.txt, rate limits, allow-list, API key."""

from __future__ import annotations

import email.utils
import gzip
import logging
import threading
import time

import pytest
from maglabels.scrapers.http import (
    USER_AGENT,
    FetchError,
    FetchSkipped,
    PoliteClient,
    RateLimiter,
    RateSpec,
    RetryPolicy,
    Timeouts,
    api_key_from_env,
    client_options,
    parse_retry_after,
)

from tests.http_server import FakeClock, Resp, SleepRecorder

FAST_RETRY = RetryPolicy(attempts=3, backoff_initial=0.001, backoff_max=0.01, jitter=0.0, retry_after_cap=10.0)


def make(sleep=None, **kw) -> PoliteClient:
    kw.setdefault("rate", None)
    kw.setdefault("retry", FAST_RETRY)
    kw.setdefault("obey_robots", False)
    kw.setdefault("timeouts", Timeouts(connect=1.0, read=1.0))
    return PoliteClient(sleep=sleep or SleepRecorder(), **kw)


# ---------------------------------------------------------------- retries


def test_429_retry_after_seconds_is_honoured(server):
    server.route("/x", [Resp(429, headers={"Retry-After": "2"}), Resp(200, b"ok")])
    sleep = SleepRecorder()
    with make(sleep) as client:
        resp = client.get(server.url("/x"))
    assert resp.status_code == 200 and resp.content == b"ok"
    assert len(server.hits("/x")) == 2
    assert sleep.calls == [2.0]


def test_429_retry_after_http_date_is_honoured_and_capped(server):
    now = 1_700_000_000.0
    soon = email.utils.formatdate(now + 5, usegmt=True)
    late = email.utils.formatdate(now + 3600, usegmt=True)
    server.route("/x", [Resp(429, headers={"Retry-After": soon}), Resp(503, headers={"Retry-After": late}), Resp(200, b"ok")])
    sleep = SleepRecorder()
    with make(sleep, wallclock=lambda: now) as client:
        assert client.get(server.url("/x")).status_code == 200
    assert sleep.calls == [pytest.approx(5.0), 10.0]  # second one capped by retry_after_cap


def test_retry_after_pauses_the_whole_host(server, other_server):
    # with several requests in flight per host, the others must wait out a Retry-After too
    server.route("/a", Resp(429, headers={"Retry-After": "5"}))
    server.route("/b", Resp(200))
    other_server.route("/c", Resp(200))
    clock = FakeClock()
    with make(retry=RetryPolicy(attempts=1), clock=clock, sleep=clock.sleep) as client:
        with pytest.raises(FetchError):
            client.get(server.url("/a"))
        client.get(other_server.url("/c"))  # another host is not held
        assert clock.sleeps == []
        client.get(server.url("/b"))
        client.get(server.url("/b"))  # once waited out, no more waiting
    assert clock.sleeps == [pytest.approx(5.0)]


def test_5xx_then_success(server):
    server.route("/x", [Resp(503), Resp(500), Resp(200, b"fine")])
    sleep = SleepRecorder()
    with make(sleep) as client:
        assert client.get(server.url("/x")).content == b"fine"
    assert len(server.hits("/x")) == 3
    assert len(sleep.calls) == 2 and all(0 < s <= 0.01 for s in sleep.calls)  # exponential, tiny


def test_persistent_5xx_raises_fetch_error_with_status(server):
    server.route("/x", Resp(502, b"bad gateway"))
    with make() as client, pytest.raises(FetchError) as info:
        client.get(server.url("/x"))
    assert info.value.status == 502 and "3 attempts" in info.value.reason
    assert info.value.response is not None and info.value.response.content == b"bad gateway"
    assert len(server.hits("/x")) == 3


def test_timeout_is_retried_then_fetch_error(server):
    server.route("/slow", Resp(200, b"late", delay=0.6))
    with make(timeouts=Timeouts(connect=1.0, read=0.1)) as client, pytest.raises(FetchError) as info:
        client.get(server.url("/slow"))
    assert info.value.status is None and "timeout" in info.value.reason
    assert len(server.hits("/slow")) == 3


def test_connection_refused_is_fetch_error(server):
    url = server.url("/x")
    server.stop()
    sleep = SleepRecorder()
    with make(sleep) as client, pytest.raises(FetchError) as info:
        client.get(url)
    assert info.value.status is None and "ConnectError" in info.value.reason
    assert len(sleep.calls) == 2  # retried


@pytest.mark.parametrize("status", [400, 403, 404, 410])
def test_other_4xx_not_retried(server, status):
    server.route("/x", Resp(status, b"no"))
    sleep = SleepRecorder()
    with make(sleep) as client, pytest.raises(FetchError) as info:
        client.get(server.url("/x"))
    assert info.value.status == status
    assert len(server.hits("/x")) == 1 and sleep.calls == []


def test_parse_retry_after():
    assert parse_retry_after("120", now=0) == 120.0
    assert parse_retry_after(None, now=0) is None
    assert parse_retry_after("soon", now=0) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 30) == pytest.approx(30)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 + 30) == 0.0


def test_user_agent_is_descriptive(server):
    server.route("/x", Resp(200))
    with make() as client:
        client.get(server.url("/x"))
    ua = server.hits("/x")[0].headers["user-agent"]
    assert ua == USER_AGENT and ua.startswith("maglabels/") and "label research" in ua


# ---------------------------------------------------------------- API key


def test_api_key_from_env_prefers_maglabels_name():
    assert api_key_from_env({"DSLD_API_KEY": "b"}) == "b"
    assert api_key_from_env({"MAGLABELS_DSLD_API_KEY": "a", "DSLD_API_KEY": "b"}) == "a"
    assert api_key_from_env({"MAGLABELS_DSLD_API_KEY": "  "}) is None


def test_api_key_sent_as_header_only_to_api_hosts(server, other_server, caplog):
    caplog.set_level(logging.DEBUG)
    server.route("/api", Resp(200))
    other_server.route("/page", Resp(200))
    with make(api_key="SECRET-KEY-123", api_key_hosts={server.host}) as client:
        client.get(server.url("/api"), params={"q": "*"})
        client.get(other_server.url("/page"))
        assert "SECRET" not in repr(client)
    api_req = server.hits("/api")[0]
    assert api_req.headers["x-api-key"] == "SECRET-KEY-123"
    assert "SECRET" not in api_req.raw_path
    assert "x-api-key" not in other_server.hits("/page")[0].headers
    assert "SECRET-KEY-123" not in caplog.text


# ---------------------------------------------------------------- robots.txt


def test_robots_obeyed_and_fetched_once_per_host(server):
    server.route("/robots.txt", Resp(200, "User-agent: *\nDisallow: /private\n"))
    for p in ("/a", "/b", "/private/x"):
        server.route(p, Resp(200, p))
    seen = []
    with make(obey_robots=True, on_robots=lambda url, r: seen.append((url, r.status_code))) as client:
        assert client.get(server.url("/a")).text == "/a"
        assert client.get(server.url("/b")).text == "/b"
        with pytest.raises(FetchSkipped) as info:
            client.get(server.url("/private/x"))
        assert client.get(server.url("/a")).status_code == 200
    assert info.value.reason == "robots_disallowed"
    assert server.hits("/private/x") == []
    assert len(server.hits("/robots.txt")) == 1
    assert seen == [(server.url("/robots.txt"), 200)]


def test_robots_specific_agent_group(server):
    server.route("/robots.txt", Resp(200, "User-agent: maglabels\nDisallow: /\n\nUser-agent: *\nAllow: /\n"))
    server.route("/a", Resp(200))
    with make(obey_robots=True) as client, pytest.raises(FetchSkipped):
        client.get(server.url("/a"))
    assert server.hits("/a") == []


def test_robots_404_means_allow_all(server):
    server.route("/a", Resp(200, b"ok"))  # no /robots.txt route -> 404
    with make(obey_robots=True) as client:
        assert client.get(server.url("/a")).content == b"ok"
    assert len(server.hits("/robots.txt")) == 1


def test_robots_5xx_means_disallow_all(server):
    server.route("/robots.txt", Resp(503))
    server.route("/a", Resp(200))
    with make(obey_robots=True) as client:
        for _ in range(2):
            with pytest.raises(FetchSkipped) as info:
                client.get(server.url("/a"))
            assert info.value.reason == "robots_disallowed"
    assert server.hits("/a") == []
    assert len(server.hits("/robots.txt")) == FAST_RETRY.attempts  # retried once, then cached


def test_robots_crawl_delay_slows_host_down(server):
    server.route("/robots.txt", Resp(200, "User-agent: *\nCrawl-delay: 3\n"))
    server.route("/a", Resp(200))
    clock = FakeClock()
    with make(obey_robots=True, rate=RateSpec(100, burst=5), clock=clock, sleep=clock.sleep) as client:
        client.get(server.url("/a"))
        client.get(server.url("/a"))
    assert clock.sleeps == [pytest.approx(3.0)]


# ---------------------------------------------------------------- rate limits


def test_rate_limiter_token_bucket_with_fake_clock():
    clock = FakeClock()
    limiter = RateLimiter(RateSpec(per_second=2, burst=2), clock=clock, sleep=clock.sleep)
    stamps = []
    for _ in range(6):
        limiter.acquire()
        stamps.append(clock.now - 1000.0)
    assert stamps == pytest.approx([0, 0, 0.5, 1.0, 1.5, 2.0])  # burst of 2, then 2/s


def test_rate_spec_per_hour_stays_under_quota():
    spec = RateSpec.per_hour(1000, burst=3)
    assert spec.per_second * 3600 + spec.burst <= 1000
    with pytest.raises(ValueError):
        RateSpec(0)


def test_per_host_rate_limit_observed_by_server(server):
    # The server stamps arrivals with the client's own (fake) clock, which only moves when the
    # limiter sleeps: the schedule the server sees is exact, whatever the machine's load.
    # (It used to compare wall-clock arrival gaps with 1/rate minus a 20 ms guess at jitter,
    # and went red whenever a loaded machine delayed one request more than the next.)
    server.route("/p", Resp(200))
    clock = FakeClock()
    server.clock = clock
    with make(rate=RateSpec(per_second=20, burst=1), clock=clock, sleep=clock.sleep) as client:
        for _ in range(5):
            client.get(server.url("/p"))
    times = [r.time - 1000.0 for r in server.hits("/p")]
    assert times == pytest.approx([0.0, 0.05, 0.10, 0.15, 0.20])
    assert clock.sleeps == pytest.approx([0.05] * 4)


def _assert_spacing_bound(times: list[float], interval: float) -> None:
    """Server-side check of the limiter's guarantee that no machine load can break.

    Requests to one host go one at a time, so request k arrives before request k+1 is even
    released (same monotonic clock on both sides), and releases are >= ``interval`` apart:
    hence arrival[k+2] - arrival[k] >= interval for every k, with no allowance for jitter.
    """
    assert all(b - a >= interval - 1e-6 for a, b in zip(times, times[2:], strict=False)), times
    assert times[-1] - times[0] >= (len(times) - 2) * interval - 1e-6, times


def test_per_host_rate_limit_real_clock_bound(server):
    server.route("/p", Resp(200))
    with make(rate=RateSpec(per_second=20, burst=1), sleep=time.sleep) as client:
        for _ in range(5):
            client.get(server.url("/p"))
    _assert_spacing_bound([r.time for r in server.hits("/p")], 0.05)


def test_fetch_many_runs_hosts_concurrently_each_at_its_own_rate(server, other_server):
    # Concurrency is shown by a rendezvous, not by timing: each host's first page is held
    # (at most 5 s) until the other host's first request has arrived. Fetching the hosts one
    # after the other could not meet it.
    arrived = {server.port: threading.Event(), other_server.port: threading.Event()}

    def first_page(srv, other):
        def respond(req):
            arrived[srv.port].set()
            met = arrived[other.port].wait(timeout=5)
            return Resp(200, f"{srv.port}-0 met={met}")
        return respond

    for srv, other in ((server, other_server), (other_server, server)):
        srv.route("/p0", first_page(srv, other))
        for i in (1, 2):
            srv.route(f"/p{i}", Resp(200, f"{srv.port}-{i}"))
    urls = [server.url(f"/p{i}") for i in range(3)] + [other_server.url(f"/p{i}") for i in range(3)]
    with make(rate=RateSpec(per_second=10, burst=1), sleep=time.sleep) as client:
        results = dict(client.fetch_many(urls, workers=2))
    assert all(r.status_code == 200 for r in results.values()) and len(results) == 6
    assert results[server.url("/p0")].text.endswith("met=True")
    assert results[other_server.url("/p0")].text.endswith("met=True")
    for srv in (server, other_server):  # per host: in order, and at its own rate
        assert [r.path for r in srv.requests] == ["/p0", "/p1", "/p2"]
        _assert_spacing_bound([r.time for r in srv.requests], 0.1)


class _InFlight:
    """Route that counts concurrent requests; the first ones wait (at most 2 s) until ``want``
    are in flight together, and every request lingers 20 ms so that any excess would show."""

    def __init__(self, want: int) -> None:
        self.want, self.now, self.peak = want, 0, 0
        self.cond = threading.Condition()

    def __call__(self, req) -> Resp:
        with self.cond:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.peak >= self.want, timeout=2)
        time.sleep(0.02)
        with self.cond:
            self.now -= 1
        return Resp(200, req.path)


@pytest.mark.parametrize("per_host", [1, 3])
def test_fetch_many_per_host_concurrency_is_the_setting(server, per_host):
    route = _InFlight(per_host)
    for i in range(6):
        server.route(f"/p{i}", route)
    urls = [server.url(f"/p{i}") for i in range(6)]
    with make() as client:
        results = dict(client.fetch_many(urls, workers=4, per_host=per_host))
    assert sorted(r.text for r in results.values()) == [f"/p{i}" for i in range(6)]
    assert route.peak == per_host  # reached, never exceeded


def test_fetch_many_handle_runs_on_fetching_thread_and_its_value_is_yielded(server):
    server.route("/ok", Resp(200, b"body"))
    server.route("/gone", Resp(410))
    threads = set()

    def handle(url, outcome):
        threads.add(threading.get_ident())
        return ("error", outcome.status) if isinstance(outcome, FetchError) else ("page", len(outcome.content))

    with make() as client:
        results = dict(client.fetch_many([server.url("/ok"), server.url("/gone")], handle=handle))
    assert results == {server.url("/ok"): ("page", 4), server.url("/gone"): ("error", 410)}
    assert threading.get_ident() not in threads


def test_fetch_many_slow_consumer_pauses_fetchers(server):
    for i in range(30):
        server.route(f"/p{i}", Resp(200))
    with make() as client:
        results = client.fetch_many([server.url(f"/p{i}") for i in range(30)], workers=1, per_host=1)
        next(results)
        deadline = time.monotonic() + 0.5  # give unbounded fetchers every chance to run ahead
        while time.monotonic() < deadline and len(server.requests) < 5:
            time.sleep(0.01)
        # one consumed + a queue of 2 (2 x 1 thread) + one in the worker's hand
        assert len(server.requests) <= 4
        results.close()  # abandoning the generator stops the workers
    assert len(server.requests) <= 5


def test_fetch_many_sends_headers_for_each_url(server):
    server.route("/a", Resp(200))
    server.route("/b", Resp(200))
    with make() as client:
        list(client.fetch_many([server.url("/a"), server.url("/b")],
                               headers_for=lambda url: {"If-None-Match": '"v1"'} if url.endswith("/a") else None))
    assert server.hits("/a")[0].headers["if-none-match"] == '"v1"'
    assert "if-none-match" not in server.hits("/b")[0].headers


def test_fetch_many_reports_errors_without_stopping(server):
    server.route("/ok", Resp(200))
    server.route("/gone", Resp(410))
    with make() as client:
        results = dict(client.fetch_many([server.url("/gone"), server.url("/ok")]))
    assert isinstance(results[server.url("/gone")], FetchError)
    assert results[server.url("/ok")].status_code == 200


# ---------------------------------------------------------------- allow-list / redirects


def test_redirect_within_allow_list_followed(server):
    server.route("/old", Resp(301, headers={"Location": "/new"}))
    server.route("/new", Resp(200, b"moved"))
    with make(allowed_hosts={server.host}) as client:
        resp = client.get(server.url("/old"))
    assert resp.content == b"moved" and str(resp.url) == server.url("/new")


def test_redirect_to_off_list_host_not_followed(server, other_server):
    server.route("/go", Resp(302, headers={"Location": other_server.url("/elsewhere")}))
    other_server.route("/elsewhere", Resp(200))
    with make(allowed_hosts={server.host}) as client, pytest.raises(FetchSkipped) as info:
        client.get(server.url("/go"))
    assert info.value.reason == "redirect_off_allowlist"
    assert info.value.target == other_server.url("/elsewhere")
    assert other_server.requests == []


def test_host_not_on_list_never_requested(server, other_server):
    other_server.route("/x", Resp(200))
    with make(allowed_hosts={server.host}) as client, pytest.raises(FetchSkipped) as info:
        client.get(other_server.url("/x"))
    assert info.value.reason == "host_not_allowed" and other_server.requests == []


def test_bare_host_entry_allows_any_port(server):
    server.route("/x", Resp(200))
    with make(allowed_hosts={"127.0.0.1"}) as client:
        assert client.get(server.url("/x")).status_code == 200


def test_redirect_loop_gives_up(server):
    server.route("/loop", Resp(302, headers={"Location": "/loop"}))
    with make(max_redirects=3) as client, pytest.raises(FetchError) as info:
        client.get(server.url("/loop"))
    assert "redirects" in info.value.reason and len(server.hits("/loop")) == 4


# ---------------------------------------------------------------- streaming, size cap


def test_body_over_cap_by_content_length_is_refused_unread(server):
    server.route("/big", Resp(200, b"x" * 5000))
    sleep = SleepRecorder()
    with make(sleep, max_body_bytes=1000) as client, pytest.raises(FetchError) as info:
        client.get(server.url("/big"))
    assert info.value.reason == "body_too_large" and info.value.status == 200
    assert len(server.hits("/big")) == 1 and sleep.calls == []  # not retried


def test_body_over_cap_without_content_length_is_cut_while_streaming(server):
    server.route("/big", Resp(200, b"y" * 3_000_000, chunked=True))
    server.route("/small", Resp(200, b"z" * 999, chunked=True))
    with make(max_body_bytes=1000) as client:
        with pytest.raises(FetchError) as info:
            client.get(server.url("/big"))
        assert client.get(server.url("/small")).content == b"z" * 999  # the client still works
    assert info.value.reason == "body_too_large"


def test_gzip_body_is_decoded_and_headers_describe_it(server):
    page = b"<html>" + b"magnesium " * 5000 + b"</html>"
    server.route("/gz", Resp(200, gzip.compress(page), {"Content-Encoding": "gzip", "ETag": '"e1"'}))
    with make() as client:
        resp = client.get(server.url("/gz"))
    assert resp.content == page
    assert "content-encoding" not in resp.headers and resp.headers["content-length"] == str(len(page))
    assert resp.headers["etag"] == '"e1"' and str(resp.url) == server.url("/gz")


def test_cap_applies_to_decoded_size(server):
    bomb = gzip.compress(b"\0" * 2_000_000)  # ~2 KB on the wire, 2 MB decoded
    server.route("/bomb", Resp(200, bomb, {"Content-Encoding": "gzip"}))
    with make(max_body_bytes=100_000) as client, pytest.raises(FetchError) as info:
        client.get(server.url("/bomb"))
    assert info.value.reason == "body_too_large"


@pytest.mark.parametrize("fault", [dict(reset_after=1000), dict(length=10_000)])
def test_body_cut_mid_way_is_retried_then_fetch_error(server, fault):
    server.route("/cut", Resp(200, b"a" * 5000, **fault))
    with make() as client, pytest.raises(FetchError) as info:
        client.get(server.url("/cut"))
    assert info.value.status is None and len(server.hits("/cut")) == FAST_RETRY.attempts


def test_304_is_returned_to_the_caller(server):
    server.route("/p", Resp(200, b"v1", {"ETag": '"abc"'}))
    with make() as client:
        assert client.get(server.url("/p")).status_code == 200
        resp = client.get(server.url("/p"), headers={"If-None-Match": '"abc"'})
    assert resp.status_code == 304 and resp.content == b""


# ---------------------------------------------------------------- secrets echoed back


def test_key_echoed_in_redirect_location_is_never_logged_or_reported(server, other_server, caplog):
    caplog.set_level(logging.DEBUG)
    key = "SECRET-KEY-9f8e7d"
    server.route("/api", Resp(302, headers={"Location": f"/next/{key}?echo={key}", "X-Echo": key}))
    server.route(f"/next/{key}", Resp(302, headers={"Location": other_server.url(f"/away?k={key}")}))
    with make(api_key=key, api_key_hosts={server.host}, allowed_hosts={server.host}) as client:
        with pytest.raises(FetchSkipped) as info:
            client.get(server.url("/api"))
        assert client.secrets == (key,)
    assert info.value.reason == "redirect_off_allowlist"
    assert key not in str(info.value) and key not in info.value.url and key not in (info.value.target or "")
    assert "[REDACTED]" in info.value.target
    assert key not in caplog.text and "/next/[REDACTED]" in caplog.text  # httpx's request log, scrubbed
    assert other_server.requests == []


def test_client_options_from_settings():
    from maglabels.settings import Settings

    settings = Settings.load({"MAGLABELS_RETRY_ATTEMPTS": "2", "MAGLABELS_RETRY_BACKOFF": "0.01",
                              "MAGLABELS_HTTP_READ_TIMEOUT": "0.5", "MAGLABELS_PAGE_REQUESTS_PER_SECOND": "50",
                              "MAGLABELS_MAX_BODY_BYTES": "1000", "MAGLABELS_CONCURRENT_REQUESTS_PER_HOST": "8"})
    options = client_options(settings)
    assert options["retry"].attempts == 2 and options["retry"].backoff_initial == 0.01
    assert options["timeouts"].read == 0.5 and options["rate"].per_second == 50
    assert options["max_body_bytes"] == 1000 and settings.concurrent_requests_per_host == 8
    defaults = Settings.load({})
    assert defaults.max_body_bytes == 20 * 1024 * 1024 and defaults.page_requests_per_second == 0.2
