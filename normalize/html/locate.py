"""Locate the page's one Supplement Facts panel (generic, no site class names).

* a ``<table>`` whose title says "Supplement Facts" (a title row, a caption, or a heading just
  before the table), or whose header row says "Amount Per Serving" / "%DV" / "% Daily Value",
  and which has at least one row with an amount and a unit; the innermost such table wins;
* failing that, a block (``div``, ``section`` ...) under a "Supplement Facts" heading whose
  lines read as facts rows ("Magnesium ... 120 mg 29%");
* failing that, the site module's hint (`normalize.sites`).
"""
from __future__ import annotations

from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

from .. import sites
from .grid import GridRow, block_grid, closest_table, table_grid
from .panel import TITLE_RE, FactsPanel, read_panel, table_score
from .text import SKIP_TAGS, SPACE_TRANS, clean, iter_children, node_text, parser_input

# cheap text test before a table is read cell by cell
QUICK = ("supplement facts", "per serving", "daily value", "%dv", "% dv", "serving size")


def short_text(node: LexborNode, limit: int, max_nodes: int = 60) -> str | None:
    """Clean text of `node` if it is at most `limit` characters, else None.

    Gives up early (None) on big subtrees: at most `max_nodes` nodes are visited.
    """
    budget, chars = max_nodes, 0
    stack = list(iter_children(node))
    stack.reverse()
    while stack:
        c = stack.pop()
        budget -= 1
        if budget < 0:
            return None
        if c.tag == "-text":
            chars += len((c.text_content or "").strip())
            if chars > limit * 3:
                return None
        elif c.is_element_node and c.tag not in SKIP_TAGS:
            kids = list(iter_children(c))
            stack.extend(reversed(kids))
    t = node_text(node)
    return t if len(t) <= limit else None


def _sibling_says_title(sib: LexborNode) -> bool | None:
    """True/False when `sib` decides whether a title precedes; None: look further back."""
    if sib.is_element_node:
        if sib.tag in SKIP_TAGS:
            return None
        t = short_text(sib, 80)
        if t:
            return bool(TITLE_RE.match(t))
        return False if t is None else None  # long text: not a heading; empty: keep looking
    if sib.tag == "-text" and clean(sib.text_content):
        t = clean(sib.text_content)
        return len(t) < 80 and bool(TITLE_RE.match(t))
    return None


def heading_before(node: LexborNode, levels: int = 2) -> bool:
    """A short "Supplement Facts" heading just before `node` (or before its parents)."""
    cur = node
    for _ in range(levels + 1):
        sib = cur.prev
        seen = 0
        while sib is not None and seen < 3:
            if sib.is_element_node:
                seen += 1
            verdict = _sibling_says_title(sib)
            if verdict is not None:
                return verdict
            sib = sib.prev
        parent = cur.parent
        if parent is None or parent.tag in ("body", "html"):
            break
        cur = parent
    return False


# A table inside more than this many other tables is layout debris, not a facts panel. The limit
# keeps hostile pages (tables nested thousands deep) linear: each candidate reads its subtree.
MAX_TABLE_NESTING = 8


def _shallow_tables(tree: LexborHTMLParser) -> list[LexborNode]:
    """The page's tables in document order, without those nested deeper than MAX_TABLE_NESTING."""
    level: dict[int, int] = {}
    out = []
    for table in tree.css("table"):  # document order: a table's enclosing tables come first
        p = table.parent
        while p is not None and p.tag != "table":
            p = p.parent
        lvl = level[p.mem_id] + 1 if p is not None and p.mem_id in level else 0
        level[table.mem_id] = lvl
        if lvl <= MAX_TABLE_NESTING:
            out.append(table)
    return out


def _find_table_panel(tree: LexborHTMLParser) -> tuple[LexborNode, list[GridRow], bool, int] | None:
    cands: list[tuple[tuple, LexborNode, list[GridRow], bool]] = []
    for order, table in enumerate(_shallow_tables(tree)):
        low = (table.text(deep=True) or "").lower().translate(SPACE_TRANS)
        quick = any(q in low for q in QUICK)
        before = "supplement facts" not in low and heading_before(table)
        if not quick and not before:
            continue
        grid = table_grid(table)
        titled, header, amounts = table_score(grid, before)
        if (titled or header) and amounts >= 1:
            cands.append(((int(titled) + int(header), amounts, -order), table, grid, before))
    if not cands:
        return None
    # innermost: drop a layout table that holds another candidate
    ids = {c[1].mem_id for c in cands}
    inner = [c for c in cands if not any(n.mem_id != c[1].mem_id and n.mem_id in ids for n in c[1].css("table"))]
    inner.sort(key=lambda c: c[0], reverse=True)
    return inner[0][1], inner[0][2], inner[0][3], len(inner)


def _find_block_panel(tree: LexborHTMLParser) -> tuple[LexborNode, list[GridRow]] | None:
    heads = [n for n in tree.css('*:lexbor-contains("supplement facts" i)') if n.tag not in SKIP_TAGS]
    for h in heads:
        t = short_text(h, 60)
        if not (t and TITLE_RE.match(t)) or closest_table(h) is not None:
            continue
        cur = h
        for _ in range(5):
            parent = cur.parent
            if parent is None or parent.tag in ("body", "html"):
                break
            cur = parent
            grid = block_grid(cur)
            if table_score(grid, True)[2] >= 1:
                return cur, grid
    return None


@dataclass(frozen=True)
class PanelHit:
    panel: FactsPanel
    node: LexborNode  # the table / block the panel was read from
    candidates: int  # how many candidate panels the page had (the best one is used)


def _site_panel(tree: LexborHTMLParser, site: sites.Site) -> PanelHit | None:
    for node in site.facts_panel_hints(tree):
        is_table = node.tag == "table"
        grid = table_grid(node) if is_table else block_grid(node)
        if table_score(grid)[2] >= 1:
            return PanelHit(read_panel(grid, kind="table" if is_table else "block", via="site"), node, 1)
    return None


def locate_facts_panel(tree: LexborHTMLParser, site: sites.Site | None = None) -> PanelHit | None:
    """The page's facts panel: generic table finder, then block finder, then the site's hint."""
    found = _find_table_panel(tree)
    if found is not None:
        node, grid, before, n = found
        return PanelHit(read_panel(grid, kind="table", via="generic", titled=before), node, n)
    block = _find_block_panel(tree)
    if block is not None:
        return PanelHit(read_panel(block[1], kind="block", via="generic", titled=True), block[0], 1)
    return _site_panel(tree, site) if site is not None else None


def find_facts_panel(tree: LexborHTMLParser, site: sites.Site | None = None) -> FactsPanel | None:
    hit = locate_facts_panel(tree, site)
    return hit.panel if hit else None


def extract_facts(html: str | bytes) -> FactsPanel | None:
    """Only the facts panel of a page (what the benchmark times)."""
    return find_facts_panel(LexborHTMLParser(parser_input(html)))
