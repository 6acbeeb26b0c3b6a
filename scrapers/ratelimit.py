"""Per-host rate limiting: a tiny thread-safe token bucket with injectable clock and sleep.

Used instead of pyrate-limiter: its v4 ``Limiter`` sleeps with its own monotonic clock
and module-level ``time.sleep``, so tests could not inject a fake clock or a sleep
recorder without monkeypatching the library.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateSpec:
    """``burst`` requests may go at once; after that ``per_second`` on average."""

    per_second: float
    burst: int = 1

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.burst < 1:
            raise ValueError(f"invalid rate {self!r}")

    @classmethod
    def per_hour(cls, requests: int, *, burst: int = 1, headroom: float = 0.95) -> RateSpec:
        # headroom keeps us under the quota even counting the initial burst and clock skew
        return cls(per_second=requests * headroom / 3600.0, burst=burst)


# api.data.gov quotas for DSLD: 1,000 requests/hour per IP without a key, 10,000 with one.
DSLD_RATE_NO_KEY = RateSpec.per_hour(1_000, burst=3)
DSLD_RATE_WITH_KEY = RateSpec.per_hour(10_000, burst=10)
# Retailer/brand sites publish no quota: one page every 5 s per host is a common courtesy.
PAGE_RATE = RateSpec(per_second=0.2, burst=1)


class RateLimiter:
    """Thread-safe token bucket with injectable clock and sleep.

    Each caller reserves its slot under the lock (tokens may go negative) and sleeps
    outside it, so waiting threads queue in arrival order without holding the lock.
    """

    def __init__(
        self,
        spec: RateSpec | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.spec = spec
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(spec.burst) if spec else 0.0
        self._last = clock()

    def acquire(self) -> float:
        """Block until a request may go; returns the seconds waited."""
        spec = self.spec
        if spec is None:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(float(spec.burst), self._tokens + (now - self._last) * spec.per_second)
            self._last = now
            self._tokens -= 1.0
            wait = 0.0 if self._tokens >= 0 else -self._tokens / spec.per_second
        if wait > 0:
            self._sleep(wait)
        return wait
