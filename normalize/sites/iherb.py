"""iHerb (www.iherb.com and its country storefronts such as ca.iherb.com, kr.iherb.com).

What the generic path cannot know:

* the product id, which is the last segment of the product URL ``/pr/<slug>/<id>``
  (the JSON-LD ``productID`` carries the same number, but the URL is the site's key);
* where the facts panel sits, if its heading or column headers ever stop being recognisable:
  iHerb renders it as ``div.supplement-facts-container > table``. This is only a fallback;
  both real pages in ``tests/golden/www.iherb.com`` are found by the generic finder.

Suggested Use and Other Ingredients are ``<h3>`` headings followed by
``div.prodOverviewDetail`` / ``div.prodOverviewIngred``, which the generic heading search reads.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from . import Site, register

_PRODUCT_PATH = re.compile(r"/pr/(?:[^/?#]+/)?(\d+)/?$")


@register("iherb.com")
class IHerb(Site):
    name = "iherb"

    def product_id(self, url: str | None) -> str | None:
        if not url:
            return None
        m = _PRODUCT_PATH.search(urlsplit(url).path)
        return m.group(1) if m else None

    def facts_panel_hints(self, tree):
        return tree.css("div.supplement-facts-container table") or tree.css("div.supplement-facts-container")
