"""Strip secrets from URLs and headers before anything is logged or archived.

Both the HTTP client and the archive call these, so a secret that slipped past one layer
is still caught by the other. ``scrub`` removes literal secret values (the API key) from any
text, e.g. a redirect Location that echoes the key in a path or an unexpected parameter.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Lower-case header names that may carry credentials or session state.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "set-cookie2",
        "x-api-key",
        "api-key",
        "x-auth-token",
    }
)
# Query parameters that api.data.gov and similar gateways accept as keys.
SECRET_PARAMS = frozenset({"api_key", "apikey", "api-key", "key", "access_token", "token"})


def redact_url(url: str) -> str:
    """Drop secret query parameters and any user:password from a URL."""
    parts = urlsplit(str(url))
    netloc = parts.netloc.rsplit("@", 1)[-1]  # never keep userinfo
    if not parts.query:
        return urlunsplit((parts.scheme, netloc, parts.path, "", parts.fragment))
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in SECRET_PARAMS]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(kept), parts.fragment))


def redact_headers(
    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None,
    secrets: Iterable[str] = (),
) -> dict[str, str]:
    """Headers as a plain dict (lower-case names) without credential/cookie headers.

    ``secrets`` are literal values (e.g. the API key) that must not survive anywhere in a
    header value, whatever the header is called.
    """
    if headers is None:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    secret_values = [s for s in secrets if s]
    out: dict[str, str] = {}
    for name, value in items:
        key = str(name).lower()
        if key in SECRET_HEADERS:
            continue
        text = str(value)
        if any(s in text for s in secret_values):
            continue
        # Repeated headers (e.g. Vary) are joined the way HTTP allows.
        out[key] = f"{out[key]}, {text}" if key in out else text
    return out


REDACTED = "[REDACTED]"


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every literal secret value replaced (wherever a server echoed it)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


class _ScrubFilter(logging.Filter):
    """Rewrites log records of third-party loggers (httpx logs every request URL) without secrets."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            cleaned = scrub(message, self.secrets)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


_SCRUBBER = _ScrubFilter()
_SCRUBBED_LOGGERS = ("httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2")


def install_log_scrubber(secrets: Iterable[str]) -> None:
    """Make sure ``secrets`` never reach a log line of httpx/httpcore (idempotent, process-wide)."""
    _SCRUBBER.secrets.update(s for s in secrets if s)
    for name in _SCRUBBED_LOGGERS:
        logger = logging.getLogger(name)
        if _SCRUBBER not in logger.filters:
            logger.addFilter(_SCRUBBER)
