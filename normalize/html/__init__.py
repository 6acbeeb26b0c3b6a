"""HTML front end: a product page -> one `Label` (Supplement Facts panel + product identity).

Stages, one module each (pre-process -> parse -> post-process):

=============  ===========================================================================
``text``       bytes -> parser input; visible text of a node (iterative walkers)
``grid``       a table or div panel -> rows of cells with indentation evidence
``amounts``    one cell: "120 mg (as X)", "<1 g", "25%"
``serving``    "2 Capsules", dosage form, daily servings from Suggested Use
``panel``      a grid -> serving lines, header columns, footnotes, ingredient rows
``locate``     which table/block of the page is the facts panel
``sections``   Suggested Use and Other Ingredients under their headings
``origin``     the page's source and id come from where it was fetched; canonical checks
``page``       `parse_page`: all of the above -> `PageExtraction` with the `Label`
=============  ===========================================================================

Site modules (`normalize.sites`) override single fields (id, brand, name, price, panel hint).
"""
from __future__ import annotations

from .amounts import ParsedAmount, parse_amount, parse_percent_dv
from .grid import Cell, GridRow, block_grid, indent_of, table_grid
from .locate import PanelHit, extract_facts, find_facts_panel, locate_facts_panel
from .origin import CANONICAL_OFFSITE, IDENTITY_FROM_PAGE, PageOrigin, page_origin
from .page import SERVING_SIZE_ZERO, PageExtraction, parse_page
from .panel import FactsPanel, FactsRow, read_panel, table_score
from .sections import split_ingredient_list
from .serving import ParsedServing, dosage_form_of, parse_daily_servings, parse_serving_size

__all__ = [
    "CANONICAL_OFFSITE",
    "IDENTITY_FROM_PAGE",
    "SERVING_SIZE_ZERO",
    "PageExtraction",
    "PageOrigin",
    "FactsPanel",
    "FactsRow",
    "Cell",
    "GridRow",
    "ParsedAmount",
    "ParsedServing",
    "PanelHit",
    "parse_page",
    "page_origin",
    "extract_facts",
    "find_facts_panel",
    "locate_facts_panel",
    "read_panel",
    "table_grid",
    "block_grid",
    "table_score",
    "parse_amount",
    "parse_percent_dv",
    "parse_serving_size",
    "parse_daily_servings",
    "dosage_form_of",
    "split_ingredient_list",
    "indent_of",
]
