"""Post-process: one product page -> a `PageExtraction` holding the `Label` and what was found.

`parse_page(html, url=..., raw_sha256=...)` runs the stages: bytes -> lexbor tree (`text`),
where the page comes from (`origin`), product identity (`..product_identity`, then the site
module's overrides), the facts panel (`locate` -> `grid` -> `panel`), Suggested Use and Other
Ingredients (`sections`), and builds the `Label` every front end produces.

Per-document findings that are not rows (an off-site canonical link, a serving size of zero)
are (flag, reason) pairs in `PageExtraction.flags` and ``Label.extra["flags"]``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser

from .. import sites
from ..flags import Flag
from ..model import Label, LabelRow, ServingSize
from ..product_identity import ProductIdentity, declared_canonical, extract_identity
from .locate import PanelHit, locate_facts_panel
from .origin import PageOrigin, page_origin
from .panel import FactsPanel
from .sections import HEADING_SEL, OTHER_HEAD_RE, SUGGESTED_RE, find_section, split_ingredient_list
from .serving import ParsedServing, dosage_form_of, parse_daily_servings
from .text import parser_input

SERVING_SIZE_ZERO = Flag.SERVING_SIZE_ZERO

_FACTS_IMAGE = 'img[alt*="supplement facts" i], img[alt*="nutrition facts" i], img[src*="supplement-facts" i]'


@dataclass(frozen=True)
class PageExtraction:
    label: Label
    identity: ProductIdentity
    facts_found: bool
    reason: str | None  # why no facts: "no_facts_panel", "facts_panel_without_rows", "facts_image_only"
    panel: FactsPanel | None
    site: str  # "generic" or the registered site's name
    canonical_url: str | None  # the page's own canonical/og:url claim (not its identity; see origin.py)
    suggested_use: str | None = None
    daily_servings: tuple[float, float] | None = None
    other_ingredients: str | None = None
    panels_seen: int = 0
    notes: tuple[str, ...] = ()
    flags: tuple[tuple[str, str], ...] = ()  # (flag, reason), e.g. ("canonical_offsite", "...")


def _facts_reason(tree: LexborHTMLParser, panel: FactsPanel | None) -> str | None:
    if panel is not None and panel.rows:
        return None
    if panel is not None:
        return "facts_panel_without_rows"
    if tree.css_first(_FACTS_IMAGE):
        return "facts_image_only"
    return "no_facts_panel"


def _usable_serving(panel: FactsPanel | None, flags: list[tuple[str, str]]) -> ParsedServing | None:
    """The panel's serving size; a zero quantity ("0 Capsules") is no quantity, flagged."""
    serving = panel.serving if panel else None
    if serving is None:
        return None
    if any(q is not None and q <= 0 for q in (serving.min_quantity, serving.max_quantity)):
        flags.append((SERVING_SIZE_ZERO, f"serving size reads {serving.text!r}: no quantity to scale by; "
                                         "amounts are taken per serving as printed"))
        return ParsedServing(serving.text, None, None, serving.unit, serving.note)
    return serving


def _servings(serving: ParsedServing | None, daily: tuple[float, float] | None) -> tuple[ServingSize, ...]:
    if serving is None:
        return ()
    return (
        ServingSize(
            order=1,
            min_quantity=serving.min_quantity,
            max_quantity=serving.max_quantity,
            unit=serving.unit,
            min_daily_servings=daily[0] if daily else None,
            max_daily_servings=daily[1] if daily else None,
            notes=serving.note,
        ),
    )


def _rows(panel: FactsPanel | None, serving: ParsedServing | None, other_text: str | None) -> list[LabelRow]:
    rows: list[LabelRow] = []
    for r in panel.rows if panel else ():
        rows.append(
            LabelRow(
                row_id=r.row_id,
                name=r.name,
                depth=r.depth,
                parent_id=r.parent_id,
                forms=(),
                amount=r.amount,
                unit=r.unit,
                operator=r.operator,
                percent_dv=r.percent_dv,
                serving_order=1 if serving is not None else None,
                serving_quantity=serving.min_quantity if serving is not None else None,
                section="active",
                text=r.text,
            )
        )
    for i, name in enumerate(split_ingredient_list(other_text), start=1):
        rows.append(LabelRow(row_id=f"other.{i}", name=name, section="other", text=name))
    return rows


def _source_id(site: sites.Site, origin: PageOrigin, identity: ProductIdentity, raw_sha256: str | None) -> str:
    """The site's id from the fetched URL (or a same-site canonical), else the markup's ids, else a hash."""
    return (
        site.product_id(origin.url)
        or site.product_id(origin.key_url)
        or identity.product_id
        or identity.sku
        or identity.gtin
        or (hashlib.sha256(origin.key_url.encode()).hexdigest()[:16] if origin.key_url else None)
        or (raw_sha256[:16] if raw_sha256 else "unknown")
    )


def _sections(tree: LexborHTMLParser, site: sites.Site, hit: PanelHit | None) -> tuple[str | None, str | None]:
    """(Suggested Use, Other Ingredients) text: site hook, else the heading closest to the panel."""
    anchor = hit.node if hit else None
    heads = tree.css(HEADING_SEL)
    suggested = site.suggested_use(tree) or find_section(SUGGESTED_RE, heads, anchor)
    other = (hit.panel.other_ingredients if hit else None) or site.other_ingredients(tree) or find_section(
        OTHER_HEAD_RE, heads, anchor
    )
    return suggested, other


def parse_page(
    html: str | bytes,
    *,
    url: str | None = None,
    raw_sha256: str | None = None,
    saved: bool = False,
    site: sites.Site | None = None,
) -> PageExtraction:
    """One product page -> `PageExtraction` (the `Label` and what was found).

    `url` is where the page was fetched (after allowed redirects): it gives `Label.url`,
    `Label.source` (its host), the site module and the product id (see `origin.py` for the
    page's canonical link). `saved`: the page came from a file and `url` was chosen at ingest.
    `site` forces a site module (else chosen by host). When `raw_sha256` is not given and
    `html` is bytes, it is the sha256 of those bytes.
    """
    if raw_sha256 is None and isinstance(html, bytes):
        raw_sha256 = hashlib.sha256(html).hexdigest()
    tree = LexborHTMLParser(parser_input(html))
    origin = page_origin(url, declared_canonical(tree, url), saved=saved)
    site = site or sites.for_host(origin.host)
    identity = extract_identity(tree, url=url, canonical=origin.key_url)
    flags = list(origin.flags)

    hit = locate_facts_panel(tree, site)
    panel = hit.panel if hit else None
    n_panels = hit.candidates if hit else 0
    notes = [f"{n_panels} candidate facts panels; used the best one"] if n_panels > 1 else []
    suggested, other_text = _sections(tree, site, hit)

    reason = _facts_reason(tree, panel)
    serving = _usable_serving(panel, flags)
    serv_q = serving.min_quantity if serving and serving.min_quantity == serving.max_quantity else None
    daily = parse_daily_servings(suggested, serv_q, serving.unit) if serving else None
    price, currency = site.price(tree, identity)
    label = Label(
        source=origin.host or "web",
        source_id=_source_id(site, origin, identity, raw_sha256),
        brand=site.brand(tree, identity),
        product_name=site.product_name(tree, identity),
        rows=tuple(_rows(panel, serving, other_text)),
        servings=_servings(serving, daily),
        raw_sha256=raw_sha256,
        url=origin.url,
        upc=identity.gtin if identity.gtin and identity.gtin.isdigit() else None,
        dosage_form=dosage_form_of(serving.unit) if serving else None,
        servings_per_container=panel.servings_per_container if panel else None,
        daily_servings_known=daily is not None,
        price=price,
        currency=currency,
        extra={
            "front_end": "html",
            "site": site.name,
            "canonical_url": origin.canonical,
            "serving_text": panel.serving_text if panel else None,
            "servings_per_container_text": panel.servings_per_container_text if panel else None,
            "suggested_use": suggested,
            "footnotes": list(panel.footnotes) if panel else [],
            "sku": identity.sku,
            "mpn": identity.mpn,
            "gtin_kind": identity.gtin_kind,
            "list_price": identity.list_price,
            "facts_found": reason is None,
            "facts_reason": reason,
            "flags": [{"flag": f, "reason": r} for f, r in flags],
        },
    )
    return PageExtraction(
        label=label,
        identity=identity,
        facts_found=reason is None,
        reason=reason,
        panel=panel,
        site=site.name,
        canonical_url=origin.canonical,
        suggested_use=suggested,
        daily_servings=daily,
        other_ingredients=other_text,
        panels_seen=n_panels,
        notes=tuple(notes),
        flags=tuple(flags),
    )
