"""Whose page is this: a page's source (host) and URL come from where it was fetched.

The archive records the URL a page was fetched from, after the redirects the crawler allowed.
That URL is the page's identity: `Label.source` is its host, the site module is chosen by it,
and the product id is read from it first. What the page *says* about itself (``<link
rel=canonical>``, ``og:url``) is a claim anyone can write: a page served from one host whose
canonical link names an iHerb product must not replace the real iHerb label. So:

* a canonical link on the same site (same host up to ``www.``, or two hosts of one registered
  site module, e.g. ca.iherb.com and www.iherb.com) may stand in for the fetched URL where an
  id is derived from a URL (it drops tracking query strings);
* a canonical link to another host is recorded as the flag `CANONICAL_OFFSITE` with a reason,
  and otherwise ignored;
* a page with no fetch URL (a saved file ingested without ``--url``) falls back to its own
  canonical link, flagged `IDENTITY_FROM_PAGE`; so is a saved page whose URL *is* its canonical
  link (``maglabels ingest`` takes the canonical link first).
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from .. import sites
from ..flags import Flag

# Flag names (to be listed in the flags enumeration; same (flag, reason) shape as label_flags).
CANONICAL_OFFSITE = Flag.CANONICAL_OFFSITE
IDENTITY_FROM_PAGE = Flag.IDENTITY_FROM_PAGE


def host_of(url: str | None) -> str | None:
    if not url:
        return None
    try:
        h = urlsplit(url).hostname
    except ValueError:
        return None
    return h.lower() if h else None


def same_site(a: str | None, b: str | None) -> bool:
    """Hosts `a` and `b` are one site: equal up to a leading "www.", or one registered site module."""
    if not a or not b:
        return False
    if a.removeprefix("www.") == b.removeprefix("www."):
        return True
    site = sites.for_host(a)
    return site is not sites.GENERIC and site is sites.for_host(b)


def _same_url(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (host_of(a), pa.path.rstrip("/"), pa.query) == (host_of(b), pb.path.rstrip("/"), pb.query)


@dataclass(frozen=True)
class PageOrigin:
    url: str | None  # the page's URL as stored on the label: where it was fetched
    host: str | None  # the label's source
    canonical: str | None  # the page's own canonical/og:url claim, absolute, as found
    key_url: str | None  # the URL ids are derived from: a same-site canonical, else `url`
    flags: tuple[tuple[str, str], ...] = ()  # (flag, reason)


def page_origin(url: str | None, canonical: str | None, *, saved: bool = False) -> PageOrigin:
    """Identity of a page fetched from `url` whose markup claims `canonical`.

    `saved`: the page came from a file, and `url` is what ingest chose (``--url`` or the page's
    own canonical link), not a URL it was fetched from.
    """
    if not url:
        if not canonical:
            return PageOrigin(None, None, None, None)
        why = f"no fetch URL: source and id come from the page's own canonical link {canonical}, which nothing verified"
        return PageOrigin(canonical, host_of(canonical), canonical, canonical, ((IDENTITY_FROM_PAGE, why),))
    host = host_of(url)
    if not canonical:
        return PageOrigin(url, host, None, url)
    chost = host_of(canonical)
    if not same_site(host, chost):
        why = (f"the page's canonical link names {canonical} on another host ({chost or 'none'}); "
               f"the page is keyed to where it came from, {url}")
        return PageOrigin(url, host, canonical, url, ((CANONICAL_OFFSITE, why),))
    flags: tuple[tuple[str, str], ...] = ()
    if saved and _same_url(url, canonical):
        flags = ((IDENTITY_FROM_PAGE, f"saved page: its URL {url} is the page's own canonical link, "
                                      "not a URL it was fetched from"),)
    return PageOrigin(url, host, canonical, canonical, flags)
