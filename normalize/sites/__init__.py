"""Per-site quirks of product pages, registered by host.

The HTML front end (`normalize.html`) is generic: it finds the Supplement Facts panel by its
heading and structure, and the product identity from JSON-LD / microdata / Open Graph. A site
module overrides only what that generic path cannot know, the way recipe-scrapers' site classes
override single fields: each hook of `Site` has the generic answer as its default, and a
subclass replaces the hooks it needs, for instance the site's own product id in its URLs, the
brand, name or price when the markup carries them somewhere else, or a hint where the facts
panel sits when the generic finder fails.

The site is chosen by the host the page was fetched from (never by the page's canonical link).

Adding a site is one module in this package plus one golden case in
`tests/golden/<host>/<case>/` (see tests/golden/README.md); nothing else changes, because every
module of this package is imported the first time `for_host` is called::

    from . import Site, register

    @register("example.com")          # also matches www.example.com, shop.example.com
    class Example(Site):
        name = "example"

        def product_id(self, url):
            ...

        def brand(self, tree, identity):
            node = tree.css_first(".brand-name")
            return node.text(strip=True) if node else identity.brand
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    from selectolax.lexbor import LexborHTMLParser, LexborNode

    from ..product_identity import ProductIdentity

__all__ = ["Site", "register", "for_host", "registered_hosts", "GENERIC"]


class Site:
    """The generic site: every hook gives the generic answer, so a subclass overrides only fields
    its pages need. Identity hooks get the parsed page and the generic `ProductIdentity`
    (JSON-LD, then microdata, then Open Graph)."""

    name: str = "generic"

    def product_id(self, url: str | None) -> str | None:
        """The site's product id, read from a product URL (the fetched URL first)."""
        return None

    def brand(self, tree: LexborHTMLParser, identity: ProductIdentity) -> str | None:
        return identity.brand

    def product_name(self, tree: LexborHTMLParser, identity: ProductIdentity) -> str | None:
        return identity.name

    def price(self, tree: LexborHTMLParser, identity: ProductIdentity) -> tuple[float | None, str | None]:
        """(current price, ISO currency)."""
        return identity.price, identity.currency

    def facts_panel_hints(self, tree: LexborHTMLParser) -> list[LexborNode]:
        """Nodes that hold the facts panel; used only when the generic finder finds none."""
        return []

    def suggested_use(self, tree: LexborHTMLParser) -> str | None:
        """The Suggested Use / Directions text, when the generic heading search can't find it."""
        return None

    def other_ingredients(self, tree: LexborHTMLParser) -> str | None:
        """The Other Ingredients text, when the generic heading search can't find it."""
        return None


GENERIC = Site()
_REGISTRY: dict[str, Site] = {}
_loaded = False

S = TypeVar("S", bound=type)


def register(*hosts: str) -> Callable[[S], S]:
    """Class decorator: register a `Site` subclass for `hosts` (and their subdomains)."""
    if not hosts:
        raise ValueError("register() needs at least one host")

    def deco(cls: S) -> S:
        instance = cls()
        for host in hosts:
            key = _norm_host(host)
            other = _REGISTRY.get(key)
            if other is not None and type(other) is not cls:
                raise ValueError(f"host {key!r} is already registered by {type(other).__name__}")
            _REGISTRY[key] = instance
        return cls

    return deco


def _norm_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if "://" in host:
        host = host.split("://", 1)[1]
    host = host.split("/", 1)[0].split("@")[-1]
    if host.startswith("["):
        return host
    return host.split(":", 1)[0]


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")


def for_host(host: str | None) -> Site:
    """The site module for `host` ("www.iherb.com", "ca.iherb.com", ...), else `GENERIC`."""
    _load_all()
    if not host:
        return GENERIC
    key = _norm_host(host)
    while key:
        site = _REGISTRY.get(key)
        if site is not None:
            return site
        if "." not in key:
            break
        key = key.split(".", 1)[1]
    return GENERIC


def registered_hosts() -> dict[str, str]:
    """host -> site name, for every registered host."""
    _load_all()
    return {h: s.name for h, s in sorted(_REGISTRY.items())}
