"""Settings: read once from defaults, then the environment, then command-line options.

Like Scrapy's settings, one object carries every knob; stage code takes the values it needs as
arguments and never reads the environment itself. `Settings.load()` is the only place that
looks at `os.environ` (the CLI calls it once; tests pass their own mapping).

| setting | environment variable | default |
|---|---|---|
| data_dir | MAGLABELS_DATA_DIR | ./data |
| db | MAGLABELS_DB | <data_dir>/maglabels.duckdb |
| dsld_api_key | MAGLABELS_DSLD_API_KEY (or DSLD_API_KEY) | none |
| dsld_base_url | MAGLABELS_DSLD_BASE_URL | https://api.ods.od.nih.gov/dsld/v9 |
| dsld_requests_per_hour | MAGLABELS_DSLD_REQUESTS_PER_HOUR | 1,000; 10,000 with a key |
| dsld_refresh_days | MAGLABELS_DSLD_REFRESH_DAYS | 30 (refetch a label after this many days) |
| dsld_full_discovery_days | MAGLABELS_DSLD_FULL_DISCOVERY_DAYS | 28 (partitioned full search this often) |
| dsld_page_size | MAGLABELS_DSLD_PAGE_SIZE | 1,000 (search-filter `size`) |
| dsld_result_window | MAGLABELS_DSLD_RESULT_WINDOW | 10,000 (the API's `from + size` limit) |
| dsld_retry_attempts | MAGLABELS_DSLD_RETRY_ATTEMPTS | 5 (tries per DSLD request, the first included) |
| retry_statuses | MAGLABELS_RETRY_STATUSES (comma-separated) | 429,500,502,503,504 |
| lock_timeout | MAGLABELS_LOCK_TIMEOUT (seconds a writer waits for another writer) | 300 |
| lake_data_path | MAGLABELS_LAKE_DATA_PATH (Parquet files of a DuckLake) | <catalog>.files (SQLite), <data_dir>/lake.files (PostgreSQL) |
| retry_attempts | MAGLABELS_RETRY_ATTEMPTS (tries per URL, first included) | 5 |
| retry_backoff | MAGLABELS_RETRY_BACKOFF (seconds; first backoff and jitter) | 1.0 |
| retry_after_cap | MAGLABELS_RETRY_AFTER_CAP (longest Retry-After honoured, seconds) | 300 |
| http_connect_timeout | MAGLABELS_HTTP_CONNECT_TIMEOUT (seconds) | 10 |
| http_read_timeout | MAGLABELS_HTTP_READ_TIMEOUT (seconds between bytes) | 30 |
| max_body_bytes | MAGLABELS_MAX_BODY_BYTES (larger bodies: FetchError body_too_large) | 20 MiB |
| page_requests_per_second | MAGLABELS_PAGE_REQUESTS_PER_SECOND (per host) | 0.2 |
| concurrent_requests_per_host | MAGLABELS_CONCURRENT_REQUESTS_PER_HOST (pages in flight per host, like Scrapy's CONCURRENT_REQUESTS_PER_DOMAIN) | 2 |
| parse_workers | MAGLABELS_PARSE_WORKERS (processes that read and normalise documents; 0: the main process) | the number of CPUs - 1 (at least 1) |
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_DSLD_BASE_URL = "https://api.ods.od.nih.gov/dsld/v9"
DSLD_REQUESTS_PER_HOUR_NO_KEY = 1000  # api.data.gov's default for keyless (DEMO_KEY-free) access
DSLD_REQUESTS_PER_HOUR_WITH_KEY = 10000  # api.data.gov's default hourly limit for a registered key
DEFAULT_RETRY_STATUSES = (429, 500, 502, 503, 504)
DB_FILENAME = "maglabels.duckdb"
DEFAULT_LOCK_TIMEOUT = 300.0
DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024  # real product pages are ~4 MB
# (environment variable, setting, kind) of every numeric setting; kinds in _number()
_NUMBERS = (
    ("MAGLABELS_DSLD_REQUESTS_PER_HOUR", "dsld_requests_per_hour", "int"),
    ("MAGLABELS_DSLD_REFRESH_DAYS", "dsld_refresh_days", "int"),
    ("MAGLABELS_DSLD_FULL_DISCOVERY_DAYS", "dsld_full_discovery_days", "int"),
    ("MAGLABELS_DSLD_PAGE_SIZE", "dsld_page_size", "int"),
    ("MAGLABELS_DSLD_RESULT_WINDOW", "dsld_result_window", "int"),
    ("MAGLABELS_DSLD_RETRY_ATTEMPTS", "dsld_retry_attempts", "int"),
    ("MAGLABELS_LOCK_TIMEOUT", "lock_timeout", "seconds"),  # 0: do not wait at all
    ("MAGLABELS_RETRY_ATTEMPTS", "retry_attempts", "int"),
    ("MAGLABELS_RETRY_BACKOFF", "retry_backoff", "float"),
    ("MAGLABELS_RETRY_AFTER_CAP", "retry_after_cap", "float"),
    ("MAGLABELS_HTTP_CONNECT_TIMEOUT", "http_connect_timeout", "float"),
    ("MAGLABELS_HTTP_READ_TIMEOUT", "http_read_timeout", "float"),
    ("MAGLABELS_MAX_BODY_BYTES", "max_body_bytes", "int"),
    ("MAGLABELS_PAGE_REQUESTS_PER_SECOND", "page_requests_per_second", "float"),
    ("MAGLABELS_CONCURRENT_REQUESTS_PER_HOST", "concurrent_requests_per_host", "int"),
    ("MAGLABELS_PARSE_WORKERS", "parse_workers", "count"),  # 0: parse in the main process
)


class SettingsError(ValueError):
    """A setting has a value that cannot be used (one-line message naming the variable)."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    db: str | None = None  # a DuckDB file path (or a ducklake: URI); None: <data_dir>/maglabels.duckdb
    dsld_api_key: str | None = None
    dsld_base_url: str = DEFAULT_DSLD_BASE_URL
    dsld_requests_per_hour: int | None = None  # None: by whether a key is set
    retry_statuses: tuple[int, ...] = DEFAULT_RETRY_STATUSES
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT  # seconds a writer waits for the warehouse's write lock
    lake_data_path: str | None = None  # DuckLake data path; None: next to the catalog (see warehouse/lake.py)
    dsld_refresh_days: int = 30
    dsld_full_discovery_days: int = 28
    dsld_page_size: int = 1000
    dsld_result_window: int = 10_000
    dsld_retry_attempts: int = 5
    # HTTP client knobs (pages); short values make the fault suite run in seconds
    retry_attempts: int = 5
    retry_backoff: float = 1.0
    retry_after_cap: float = 300.0
    http_connect_timeout: float = 10.0
    http_read_timeout: float = 30.0
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    page_requests_per_second: float = 0.2  # one page every 5 s per host: a common courtesy
    concurrent_requests_per_host: int = 2  # in flight per host; the rate above still applies
    # processes that parse on large ingests: one core is left to the main process, which reads,
    # archives and loads (on 2 cores, 1 worker was faster than 2: docs/benchmarks.md)
    parse_workers: int = dataclasses.field(default_factory=lambda: max(1, (os.cpu_count() or 2) - 1))

    @property
    def db_path(self) -> str:
        return self.db or str(self.data_dir / DB_FILENAME)

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def requests_per_hour(self) -> int:
        if self.dsld_requests_per_hour is not None:
            return self.dsld_requests_per_hour
        return DSLD_REQUESTS_PER_HOUR_WITH_KEY if self.dsld_api_key else DSLD_REQUESTS_PER_HOUR_NO_KEY

    def with_options(self, **options: Any) -> Settings:
        """These settings with command-line options applied (options given as None are ignored)."""
        given = {k: v for k, v in options.items() if v is not None}
        unknown = set(given) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **given)

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **options: Any) -> Settings:
        """Defaults, overridden by the environment, overridden by `options` (the CLI's)."""
        env = os.environ if env is None else env

        def get(*names: str) -> str | None:
            for name in names:
                value = (env.get(name) or "").strip()
                if value:
                    return value
            return None

        values = {**_location_values(get), **_number_values(get)}
        values["dsld_api_key"] = get("MAGLABELS_DSLD_API_KEY", "DSLD_API_KEY")
        return cls(**values).with_options(**options)


def _location_values(get: Callable[..., str | None]) -> dict[str, Any]:
    """Paths, the database and the DSLD base URL from the environment."""
    values: dict[str, Any] = {}
    if data_dir := get("MAGLABELS_DATA_DIR"):
        values["data_dir"] = Path(data_dir).expanduser()
    if db := get("MAGLABELS_DB"):
        values["db"] = db if db.startswith("ducklake:") else str(Path(db).expanduser())
    if base := get("MAGLABELS_DSLD_BASE_URL"):
        values["dsld_base_url"] = base.rstrip("/")
    if lake_data := get("MAGLABELS_LAKE_DATA_PATH"):
        values["lake_data_path"] = str(Path(lake_data).expanduser())
    return values


def _number_values(get: Callable[..., str | None]) -> dict[str, Any]:
    """Counts, limits, retry statuses and timeouts from the environment, each checked."""
    values: dict[str, Any] = {}
    for name, setting, kind in _NUMBERS:
        if text := get(name):
            values[setting] = _number(name, text, kind)
    if statuses := get("MAGLABELS_RETRY_STATUSES"):
        values["retry_statuses"] = tuple(_number("MAGLABELS_RETRY_STATUSES", s, "int")
                                         for s in statuses.split(",") if s.strip())
    return values


def _number(name: str, text: str, kind: str) -> int | float:
    """A whole number > 0 ("int") or >= 0 ("count"), a finite number > 0 ("float") or of seconds >= 0 ("seconds")."""
    whole = kind in ("int", "count")
    try:
        value = int(text.strip()) if whole else float(text.strip())
    except ValueError:
        raise SettingsError(f"{name}={text!r} is not a {'whole ' if whole else ''}number") from None
    if kind == "seconds" and not value >= 0:  # inf: wait as long as it takes
        raise SettingsError(f"{name}={text!r} must be a number of seconds, 0 or more")
    if kind == "count" and value < 0:
        raise SettingsError(f"{name}={text!r} must be 0 or more")
    if kind in ("int", "float") and not 0 < value < float("inf"):
        raise SettingsError(f"{name}={text!r} must be positive")
    return value
