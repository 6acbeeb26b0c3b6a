"""PoliteClient: retries, Retry-After, timeouts, robots.txt, rate limits, allow-list, API key."""

from __future__ import annotations

import email.utils
import logging

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
    parse_retry_after,
)
from tests.http_server import FakeClock, Resp, SleepRecorder, other_server, server  # noqa: F401

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
    server.route("/p", Resp(200))
    with make(rate=RateSpec(per_second=20, burst=1), sleep=__import__("time").sleep) as client:
        for _ in range(5):
            client.get(server.url("/p"))
    times = [r.time for r in server.hits("/p")]
    gaps = [b - a for a, b in zip(times, times[1:])]
    # 1/20 s apart by the client's clock; server-side arrival times jitter by a few ms
    assert len(times) == 5 and times[-1] - times[0] >= 4 * 0.05 - 0.02 and min(gaps) >= 0.03


def test_fetch_many_runs_hosts_concurrently_each_at_its_own_rate(server, other_server):
    import time

    for srv in (server, other_server):
        for i in range(3):
            srv.route(f"/p{i}", Resp(200, f"{srv.port}-{i}"))
    urls = [server.url(f"/p{i}") for i in range(3)] + [other_server.url(f"/p{i}") for i in range(3)]
    with make(rate=RateSpec(per_second=10, burst=1), sleep=time.sleep) as client:
        results = dict(client.fetch_many(urls, workers=2))
    assert all(r.status_code == 200 for r in results.values()) and len(results) == 6
    a = [r.time for r in server.requests]
    b = [r.time for r in other_server.requests]
    for times in (a, b):  # per host: 1/10 s apart (minus arrival jitter)
        assert times[-1] - times[0] >= 0.18 and min(y - x for x, y in zip(times, times[1:])) >= 0.06
    assert min(b) < max(a) and min(a) < max(b)  # across hosts: overlapping


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
