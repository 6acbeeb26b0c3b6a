"""PoliteClient: the one place where the scrapers talk HTTP.

Everything polite lives here so the DSLD scraper and the page scraper cannot drift apart:
a descriptive User-Agent, connect/read timeouts, a token-bucket rate limit per host,
retries with exponential backoff and jitter (tenacity), ``Retry-After``, robots.txt
(protego), a host allow-list enforced on every redirect hop, and an API key that only
ever travels in a header to the hosts it belongs to (and is scrubbed from every URL, error
and log line, even when a server echoes it back in a redirect).

Bodies are streamed (``client.stream``) under a size cap (``max_body_bytes``, checked on
Content-Length and while reading), so one huge response becomes a ``body_too_large``
FetchError instead of eating the memory of the run. ``fetch_many`` hands each response to a
``handle`` callback on the fetching thread (the page scraper archives it there and keeps
only the record), with a bounded result queue, so memory stays flat in the number of URLs.

Rate limiting is ``scrapers.ratelimit`` (a small token bucket; see why there).
"""

from __future__ import annotations

import importlib.metadata
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx
from protego import Protego
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

from ..settings import DEFAULT_MAX_BODY_BYTES, Settings
from .fetch_policy import (  # re-exported: the client's callers import them from here
    FetchError,
    FetchSkipped,
    QuotaExhausted,
    RetryPolicy,
    Timeouts,
    _BodyTooLarge,
    _is_retryable,
    _RetryableStatus,
    client_options,
    host_key,
    origin,
    parse_retry_after,
)
from .ratelimit import (  # re-exported: callers configure rates through this module
    DSLD_RATE_NO_KEY,
    DSLD_RATE_WITH_KEY,
    PAGE_RATE,
    RateLimiter,
    RateSpec,
)
from .redact import install_log_scrubber, redact_url, scrub

__all__ = [
    "DSLD_RATE_NO_KEY", "DSLD_RATE_WITH_KEY", "PAGE_RATE", "USER_AGENT", "FetchError", "FetchSkipped",
    "PoliteClient", "QuotaExhausted", "RateLimiter", "RateSpec", "RetryPolicy", "Timeouts", "api_key_from_env",
    "BODY_TOO_LARGE", "DEFAULT_MAX_BODY_BYTES", "client_options", "host_key", "origin", "parse_retry_after",
]

log = logging.getLogger(__name__)


def _version() -> str:
    try:
        return importlib.metadata.version("maglabels")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


USER_AGENT = f"maglabels/{_version()} (+https://github.com/maglabels; label research)"
ROBOTS_AGENT = "maglabels"  # product token matched against robots.txt User-agent lines
API_KEY_ENV_VARS = ("MAGLABELS_DSLD_API_KEY", "DSLD_API_KEY")
ROBOTS_MAX_BYTES = 500 * 1024  # RFC 9309 2.5: parse at least 500 KiB, we parse at most that
BODY_TOO_LARGE = "body_too_large"  # FetchError.reason when a body exceeds max_body_bytes
# headers that describe the bytes on the wire, not the decoded body we keep
_WIRE_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})


def api_key_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """The api.data.gov key from the settings' environment, or None (keyless, lower rate limit)."""
    return Settings.load(env).dsld_api_key


# ---------------------------------------------------------------- the client


class PoliteClient:
    """Synchronous, polite HTTP GET client (see module docstring).

    ``allowed_hosts``: ``None`` means no restriction; otherwise each entry is a host
    (any port) or ``host:port``, and both the first URL and every redirect hop must match.
    ``host_rates`` overrides ``rate`` for particular hosts; ``None`` disables limiting.
    """

    def __init__(
        self,
        *,
        rate: RateSpec | None = PAGE_RATE,
        host_rates: Mapping[str, RateSpec | None] | None = None,
        retry: RetryPolicy = RetryPolicy(),
        timeouts: Timeouts = Timeouts(),
        user_agent: str = USER_AGENT,
        api_key: str | None = None,
        api_key_hosts: Iterable[str] = (),
        allowed_hosts: Iterable[str] | None = None,
        obey_robots: bool = True,
        robots_agent: str = ROBOTS_AGENT,
        on_robots: Callable[[str, httpx.Response], None] | None = None,
        max_redirects: int = 5,
        max_body_bytes: int | None = DEFAULT_MAX_BODY_BYTES,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], float] = time.time,
    ) -> None:
        self.rate = rate
        self.retry = retry
        self.timeouts = timeouts
        self.user_agent = user_agent
        self._api_key = api_key or None  # never logged, never put in a URL
        self._api_key_hosts = {h.lower() for h in api_key_hosts}
        self.allowed_hosts = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}
        self.obey_robots = obey_robots
        self.robots_agent = robots_agent
        self.on_robots = on_robots
        self.max_redirects = max_redirects
        self.max_body_bytes = max_body_bytes
        self._sleep = sleep
        self._clock = clock
        self._wallclock = wallclock
        self._host_rates = {k.lower(): v for k, v in (host_rates or {}).items()}
        self._limiters: dict[str, RateLimiter] = {}
        self._paused_until: dict[str, float] = {}  # host -> clock() before which it gets no request
        self._robots: dict[str, Callable[[str], bool]] = {}
        self._robots_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        # exponential backoff plus full jitter; spelled this way so tenacity 8.2+ all accept it
        self._backoff = wait_exponential(multiplier=retry.backoff_initial, max=retry.backoff_max) + wait_random(
            0, retry.jitter
        )
        self._http = httpx.Client(
            transport=transport,
            timeout=timeouts.to_httpx(),
            follow_redirects=False,  # redirects are checked against the allow-list by hand
            headers={"User-Agent": user_agent},
        )
        self.robots_fetches = 0  # how many robots.txt requests went out (for reports/tests)
        self.requests_sent = 0  # every request that went out, retries included (run budgets)
        self.deadline: float | None = None  # clock() value no wait may go past (run deadline)
        install_log_scrubber(self.secrets)  # httpx logs request URLs at INFO; a redirect may carry the key

    # -- lifecycle
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def has_api_key(self) -> bool:
        return self._api_key is not None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Literal values that must never be stored or logged (for callers that archive)."""
        return (self._api_key,) if self._api_key else ()

    def redact(self, text: str) -> str:
        """``text`` (a URL, a message) without secret parameters, userinfo or our secrets."""
        return scrub(redact_url(text), self.secrets)

    def __repr__(self) -> str:  # explicit so the key can never leak through repr()
        return f"PoliteClient(rate={self.rate!r}, allowed_hosts={self.allowed_hosts!r}, api_key={'set' if self._api_key else 'none'})"

    # -- public API
    def get(
        self,
        url: str,
        *,
        params: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """GET ``url`` politely: the final non-redirect response with status < 400, else FetchError."""
        u = httpx.URL(url)
        if params:
            u = u.copy_merge_params({k: str(v) for k, v in params.items() if v is not None})
        current = str(u)
        try:
            if not self.host_allowed(current):
                raise FetchSkipped(current, None, "host_not_allowed")
            return self._follow(current, headers, check_robots=self.obey_robots)
        except FetchError as exc:
            raise exc.scrub(self.secrets) from None

    def fetch_many(
        self,
        urls: Iterable[str],
        *,
        workers: int = 4,
        per_host: int = 1,
        headers_for: Callable[[str], Mapping[str, str] | None] | None = None,
        handle: Callable[[str, httpx.Response | FetchError], Any] | None = None,
    ) -> Iterator[tuple[str, Any]]:
        """Fetch many URLs: up to ``workers`` hosts in parallel, ``per_host`` requests in flight per host.

        Each host's URLs start in order, each request waits for the host's rate limiter, so
        politeness holds whatever ``per_host`` is (like Scrapy's CONCURRENT_REQUESTS_PER_DOMAIN
        under a DOWNLOAD_DELAY). ``headers_for(url)`` adds request headers (conditional GETs).
        ``handle(url, response_or_error)`` runs on the fetching thread and its return value is
        what is yielded (default: the response or FetchError itself). Results arrive as they
        complete through a bounded queue: a slow consumer pauses the fetchers.
        """
        by_host: dict[str, deque[str]] = {}
        for url in urls:
            by_host.setdefault(host_key(url), deque()).append(url)
        total = sum(len(v) for v in by_host.values())
        if not total:
            return
        per_host = max(1, per_host)
        threads = max(1, min(workers, len(by_host))) * per_host
        results: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=2 * threads)
        stop = threading.Event()

        def one(url: str) -> Any:
            try:
                outcome: httpx.Response | FetchError = self.get(url, headers=headers_for(url) if headers_for else None)
            except FetchError as exc:
                outcome = exc
            return handle(url, outcome) if handle else outcome

        def run_host(pending: deque[str]) -> None:
            while not stop.is_set():
                try:
                    url = pending.popleft()  # atomic: the host's tasks share one queue
                except IndexError:
                    return
                try:
                    item = (url, one(url))
                except BaseException as exc:  # handed to the caller's thread, re-raised there
                    item = (url, _Crashed(exc))
                while not stop.is_set():  # bounded wait so an abandoned generator frees us
                    try:
                        results.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue

        with ThreadPoolExecutor(max_workers=threads) as pool:
            for pending in by_host.values():
                for _ in range(min(per_host, len(pending))):
                    pool.submit(run_host, pending)
            try:
                for _ in range(total):
                    url, outcome = results.get()
                    if isinstance(outcome, _Crashed):
                        raise outcome.exc
                    yield url, outcome
            finally:
                stop.set()  # on early exit: workers finish the request in hand and stop

    def host_allowed(self, url: str) -> bool:
        if self.allowed_hosts is None:
            return True
        key = host_key(url)
        return key in self.allowed_hosts or key.split(":")[0] in self.allowed_hosts

    def robots_allowed(self, url: str) -> bool:
        """True if robots.txt for the URL's origin allows our agent to fetch it."""
        org = origin(url)
        with self._lock:
            rules = self._robots.get(org)
            lock = self._robots_locks.setdefault(org, threading.Lock())
        if rules is None:
            with lock:  # one fetch per origin even when several threads ask at once
                rules = self._robots.get(org)
                if rules is None:
                    rules = self._load_robots(org)
                    with self._lock:
                        self._robots[org] = rules
        return rules(url)

    # -- internals
    def _limiter(self, host: str) -> RateLimiter:
        with self._lock:
            limiter = self._limiters.get(host)
            if limiter is None:
                spec = self._host_rates.get(host, self._host_rates.get(host.split(":")[0], self.rate))
                limiter = RateLimiter(spec, clock=self._clock, sleep=self._sleep)
                self._limiters[host] = limiter
            return limiter

    def _slow_down(self, host: str, crawl_delay: float) -> None:
        """Honour a robots.txt Crawl-delay that is stricter than our own rate."""
        current = self._limiter(host).spec
        if current is not None and 1.0 / current.per_second >= crawl_delay:
            return
        with self._lock:
            self._limiters[host] = RateLimiter(
                RateSpec(per_second=1.0 / crawl_delay, burst=1), clock=self._clock, sleep=self._sleep
            )

    def _request_headers(self, url: str, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self._api_key and host_key(url) in self._api_key_hosts:
            headers["X-Api-Key"] = self._api_key  # api.data.gov accepts the header; keeps keys out of URLs
        return headers

    def _wait(self, retry_state, url: str = "") -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        wait = self._backoff(retry_state)
        if isinstance(exc, _RetryableStatus) and exc.retry_after is not None:
            wait = exc.retry_after
            if wait > self.retry.retry_after_cap:
                if exc.response.status_code == 429 and self.retry.long_quota_stops:  # stop, not sleep per document
                    raise self._quota(url, exc, f"Retry-After {wait:.0f}s is past the {self.retry.retry_after_cap:.0f}s cap")
                wait = self.retry.retry_after_cap
        if self.deadline is not None and self._clock() + wait > self.deadline:
            if isinstance(exc, _RetryableStatus) and exc.response.status_code == 429:
                raise self._quota(url, exc, f"waiting {wait:.0f}s would pass the run's deadline")
            raise FetchError(url, None, f"{exc}: a retry in {wait:.0f}s would pass the run's deadline")
        return wait

    @staticmethod
    def _quota(url: str, exc: _RetryableStatus, why: str) -> QuotaExhausted:
        r = exc.response
        return QuotaExhausted(url, r.status_code, f"quota exhausted: {why}", r)

    def _send(self, url: str, extra_headers: Mapping[str, str] | None) -> httpx.Response:
        """One hop: rate limit + retries. Raises FetchError once retries are used up."""
        host = host_key(url)
        limiter = self._limiter(host)
        headers = self._request_headers(url, extra_headers)
        told = False  # this request got the Retry-After: tenacity does its waiting

        def attempt() -> httpx.Response:
            nonlocal told
            if not told:
                self._wait_out_pause(host)
            told = False
            limiter.acquire()
            with self._lock:
                self.requests_sent += 1
            resp = self._get_once(url, headers)
            if resp.status_code in self.retry.statuses:
                retry_after = parse_retry_after(resp.headers.get("retry-after"), self._wallclock())
                if retry_after is not None:
                    told = True
                    self._pause_host(host, min(retry_after, self.retry.retry_after_cap))
                raise _RetryableStatus(resp, retry_after)
            return resp

        def before_sleep(state) -> None:
            log.info(
                "retrying %s after %s (attempt %d/%d)",
                self.redact(url), self.redact(str(state.outcome.exception())), state.attempt_number, self.retry.attempts,
            )

        retrying = Retrying(
            stop=stop_after_attempt(self.retry.attempts),
            wait=lambda state: self._wait(state, url),
            retry=retry_if_exception(_is_retryable),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        n = self.retry.attempts
        try:
            return retrying(attempt)
        except _BodyTooLarge as exc:
            log.warning("%s: body larger than %s bytes, not kept", self.redact(url), self.max_body_bytes)
            raise FetchError(url, exc.response.status_code, BODY_TOO_LARGE) from None
        except _RetryableStatus as exc:
            r = exc.response
            if r.status_code == 429:  # still over quota after every retry
                raise QuotaExhausted(url, 429, f"quota exhausted (429 after {n} attempts)", r) from None
            raise FetchError(url, r.status_code, f"{r.reason_phrase or 'HTTP error'} (gave up after {n} attempts)", r) from None
        except httpx.TimeoutException as exc:
            raise FetchError(url, None, f"timeout: {type(exc).__name__} (gave up after {n} attempts)") from None
        except httpx.HTTPError as exc:
            tried = f" (gave up after {n} attempts)" if _is_retryable(exc) else ""
            raise FetchError(url, None, f"{type(exc).__name__}: {exc}{tried}") from None

    def _pause_host(self, host: str, seconds: float) -> None:
        """A Retry-After holds the whole host, not only the request that got it (per_host > 1)."""
        with self._lock:
            self._paused_until[host] = max(self._paused_until.get(host, 0.0), self._clock() + seconds)

    def _wait_out_pause(self, host: str) -> None:
        with self._lock:
            left = self._paused_until.get(host, 0.0) - self._clock()
        if left > 0:
            self._sleep(left)

    def _get_once(self, url: str, headers: Mapping[str, str]) -> httpx.Response:
        """One GET with the body streamed under the size cap; returns a response holding the decoded body."""
        cap = self.max_body_bytes
        with self._http.stream("GET", url, headers=headers) as resp:
            declared = resp.headers.get("content-length", "")
            if cap is not None and declared.isdigit() and int(declared) > cap:
                raise _BodyTooLarge(resp, int(declared))  # refused before reading a byte
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.iter_bytes():  # decoded (gzip/br/deflate) as it arrives
                size += len(chunk)
                if cap is not None and size > cap:
                    raise _BodyTooLarge(resp, size)
                chunks.append(chunk)
        body = b"".join(chunks)
        # The kept body is decoded, so its headers must say so (no content-encoding, its own length).
        kept = [(k, v) for k, v in resp.headers.multi_items() if k.lower() not in _WIRE_HEADERS]
        kept.append(("content-length", str(len(body))))
        return httpx.Response(
            resp.status_code, headers=kept, content=body, request=resp.request, extensions=resp.extensions
        )

    def _load_robots(self, org: str) -> Callable[[str], bool]:
        """Fetch and parse robots.txt once per origin (RFC 9309 semantics for failures)."""
        robots_url = f"{org}/robots.txt"
        with self._lock:
            self.robots_fetches += 1
        try:
            resp = self._follow(robots_url, None, check_robots=False)  # robots.txt is not subject to itself
        except FetchSkipped as exc:
            # robots.txt redirects somewhere we may not go: we cannot read the rules, so stay out
            log.warning("robots.txt for %s unreadable (%s): treating host as disallowed", org, exc.reason)
            return lambda _url: False
        except FetchError as exc:
            if exc.response is not None and self.on_robots:
                self.on_robots(robots_url, exc.response)
            if exc.status is not None and 400 <= exc.status < 500:
                return lambda _url: True  # RFC 9309 2.3.1.3: "unavailable" -> allow all
            log.warning("robots.txt for %s unreachable (%s): treating host as disallowed", org, exc)
            return lambda _url: False  # RFC 9309 2.3.1.4: "unreachable" -> disallow all
        if self.on_robots:
            self.on_robots(robots_url, resp)
        parser = Protego.parse(resp.content[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace"))
        delay = parser.crawl_delay(self.robots_agent)
        if delay:
            self._slow_down(host_key(org), float(delay))
        agent = self.robots_agent
        return lambda url: bool(parser.can_fetch(url, agent))

    def _follow(self, url: str, headers: Mapping[str, str] | None, *, check_robots: bool) -> httpx.Response:
        """Redirect loop: every hop is checked against the allow-list (and robots.txt)."""
        current = url
        for _hop in range(self.max_redirects + 1):
            if check_robots and not self.robots_allowed(current):
                raise FetchSkipped(current, None, "robots_disallowed")
            resp = self._send(current, headers)
            location = resp.headers.get("location")
            if resp.is_redirect and location:
                target = urljoin(current, location)
                if not self.host_allowed(target):
                    log.warning("not following redirect %s -> %s (host not allowed)", self.redact(current), self.redact(target))
                    raise FetchSkipped(current, resp.status_code, "redirect_off_allowlist", resp, target=target)
                current = target
                continue
            if resp.status_code >= 400:
                raise FetchError(current, resp.status_code, resp.reason_phrase or "HTTP error", resp)
            return resp
        raise FetchError(current, None, f"more than {self.max_redirects} redirects")


@dataclass(frozen=True)
class _Crashed:
    """An unexpected exception on a fetching thread, carried to the consuming thread."""

    exc: BaseException
