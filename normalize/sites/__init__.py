"""Per-site quirks of product pages, registered by host.

The HTML front end (`normalize.html_facts`) is generic: it finds the Supplement Facts panel by
its heading and structure, and the product identity from JSON-LD / microdata / Open Graph. A
site module handles only what that generic path cannot know, for instance the site's own
product id in its URLs, or a hint where the facts panel sits when the generic finder fails.

Adding a site is one module in this package plus one fixture pair in `tests/fixtures/pages/`
(`<name>.html.gz` and `<name>.expected.json`); nothing else changes, because every module of
this package is imported the first time `for_host` is called::

    from . import Site, register

    @register("example.com")          # also matches www.example.com, shop.example.com
    class Example(Site):
        name = "example"

        def product_id(self, url):
            ...
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, Callable, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    from selectolax.lexbor import LexborHTMLParser, LexborNode

__all__ = ["Site", "register", "for_host", "registered_hosts", "GENERIC"]


class Site:
    """The generic site: every hook answers "don't know" so the generic path decides."""

    name: str = "generic"

    def product_id(self, url: str | None) -> str | None:
        """The site's product id, read from a product URL (canonical first)."""
        return None

    def facts_panel_hints(self, tree: "LexborHTMLParser") -> list["LexborNode"]:
        """Nodes that hold the facts panel; used only when the generic finder finds none."""
        return []

    def suggested_use(self, tree: "LexborHTMLParser") -> str | None:
        """The Suggested Use / Directions text, when the generic heading search can't find it."""
        return None

    def other_ingredients(self, tree: "LexborHTMLParser") -> str | None:
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
