"""What the polite client is told and what it reports: retry policy, timeouts, fetch errors,
Retry-After parsing, host keys and the client options taken from Settings. No I/O here;
``scrapers.http.PoliteClient`` uses these and re-exports them for its callers."""
from __future__ import annotations

import email.utils
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import httpx

from ..settings import DEFAULT_RETRY_STATUSES, Settings
from .ratelimit import RateSpec
from .redact import redact_url, scrub

# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # total tries, including the first
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    jitter: float = 1.0
    retry_after_cap: float = 300.0  # never sleep longer than this on a server's say-so
    statuses: tuple[int, ...] = DEFAULT_RETRY_STATUSES  # responses worth another try
    # An API quota (DSLD): a 429 asking for more than the cap stops the run (QuotaExhausted) instead
    # of costing the cap per document; for pages the wait is only capped.
    long_quota_stops: bool = False


@dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0
    read: float = 30.0

    def to_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.read, pool=self.connect)


# ---------------------------------------------------------------- errors


class FetchError(Exception):
    """A URL could not be fetched (after retries, where retrying made sense).

    ``url`` is always redacted; ``response`` is the last response, if any, so callers
    can archive error bodies.
    """

    def __init__(
        self,
        url: str,
        status: int | None,
        reason: str,
        response: httpx.Response | None = None,
        target: str | None = None,
    ) -> None:
        self.url = redact_url(str(url))
        self.status = status
        self.reason = reason
        self.response = response
        self.target = redact_url(target) if target else None
        super().__init__(f"{self.url}: {status if status is not None else '-'} {reason}")

    def scrub(self, secrets: Iterable[str]) -> FetchError:
        """Remove literal secrets (e.g. an API key echoed in a redirect) from url, target, reason."""
        self.url = scrub(self.url, secrets)
        self.target = scrub(self.target, secrets) if self.target else None
        self.reason = scrub(self.reason, secrets)
        self.args = (f"{self.url}: {self.status if self.status is not None else '-'} {self.reason}",)
        return self


class FetchSkipped(FetchError):
    """Deliberately not fetched: robots.txt disallows it or its host is not allowed.

    ``reason`` is one of ``robots_disallowed``, ``host_not_allowed``,
    ``redirect_off_allowlist`` (then ``target`` is where the redirect pointed).
    """


class QuotaExhausted(FetchError):
    """A 429 asked us to wait past the run's deadline or the Retry-After cap, or kept coming:
    the caller should stop the run (status ``rate_limited``), not skip the document."""


class _BodyTooLarge(Exception):
    def __init__(self, response: httpx.Response, size: int) -> None:
        self.response = response
        self.size = size
        super().__init__(f"body of at least {size} bytes")


class _RetryableStatus(Exception):
    def __init__(self, response: httpx.Response, retry_after: float | None) -> None:
        self.response = response
        self.retry_after = retry_after
        super().__init__(f"HTTP {response.status_code}")


_RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, (_RetryableStatus, *_RETRYABLE_TRANSPORT))


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def client_options(settings: Settings) -> dict[str, Any]:
    """PoliteClient keyword arguments for the HTTP knobs in ``settings`` (pages client)."""
    return {
        "rate": RateSpec(per_second=settings.page_requests_per_second, burst=1),
        "retry": RetryPolicy(
            attempts=settings.retry_attempts,
            backoff_initial=settings.retry_backoff,
            backoff_max=max(settings.retry_backoff, RetryPolicy.backoff_max * settings.retry_backoff),
            jitter=settings.retry_backoff,
            retry_after_cap=settings.retry_after_cap,
            statuses=settings.retry_statuses,
        ),
        "timeouts": Timeouts(connect=settings.http_connect_timeout, read=settings.http_read_timeout),
        "max_body_bytes": settings.max_body_bytes,
    }


# ---------------------------------------------------------------- hosts


def host_key(url: str | httpx.URL) -> str:
    """``host`` or ``host:port`` (non-default port): the unit of politeness."""
    u = httpx.URL(str(url))
    host = (u.host or "").lower()
    return f"{host}:{u.port}" if u.port else host


def origin(url: str | httpx.URL) -> str:
    u = httpx.URL(str(url))
    return f"{u.scheme}://{host_key(u)}"
