"""Pre-processing: a table or a div-based panel -> a backend-neutral grid (`GridRow` of `Cell`).

Indentation evidence (leading nbsp, CSS indents, indent-like class names, list nesting) is kept
per row; depth is decided later, per panel (`panel.py`). The grid is what the BeautifulSoup
baseline in `benchmarks/bench_html.py` builds too, so both backends share the panel reader.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from selectolax.lexbor import LexborNode

from .amounts import parse_amount, parse_percent_dv
from .text import BLOCK_TAGS, SKIP_TAGS, SPACE_CHARS, cell_content, clean, iter_children, node_text

# Below this many nested blocks, a block is read as one line of text instead of walked further:
# real panels nest a handful of levels; thousands of levels are broken or hostile markup.
MAX_BLOCK_NESTING = 16


@dataclass(frozen=True)
class Cell:
    text: str  # clean text; <br> -> space
    colspan: int = 1
    header: bool = False  # a <th>


@dataclass(frozen=True)
class GridRow:
    cells: tuple[Cell, ...]
    indent: dict = field(default_factory=dict)  # indent_of(...) of the row's first cell
    spans_all: bool = False  # one cell spanning the whole panel width (a title/footnote line)

    @property
    def text(self) -> str:
        return " | ".join(c.text for c in self.cells if c.text)


# --------------------------------------------------------------------------- indentation

_STYLE_INDENT = re.compile(
    r"(?:padding-left|margin-left|text-indent|padding-inline-start|margin-inline-start)\s*:\s*([0-9.]+)\s*(px|em|rem|pt|%|ch)?",
    re.I,
)
_STYLE_PADDING = re.compile(r"(?<![-\w])padding\s*:\s*([^;]+)", re.I)
_LENGTH = re.compile(r"([0-9.]+)\s*(px|em|rem|pt|%|ch)?")
_CLASS_INDENT = re.compile(
    r"(?:^|[\s_-])(?:indent(?:ed)?|sub(?:-?row|-?item|-?ingredient|-?nutrient)?|child(?:-?row)?|nested|level)"
    r"(?:[-_]?([0-9]))?(?=$|[\s_-])",
    re.I,
)
_CLASS_UTILITY = re.compile(r"(?:^|\s)(?:pl|ps|ml|ms)-([0-9]+)(?=$|\s)")
_UNIT_PX = {None: 1.0, "px": 1.0, "em": 16.0, "rem": 16.0, "pt": 4 / 3, "%": 4.0, "ch": 8.0}


def _px(number: str, unit: str | None) -> float:
    return float(number) * _UNIT_PX.get((unit or "").lower() or None, 1.0)


def _css_indent(styles: Iterable[str]) -> float:
    px = 0.0
    for st in styles:
        for m in _STYLE_INDENT.finditer(st):
            px += _px(m.group(1), m.group(2))
        for m in _STYLE_PADDING.finditer(st):
            vals = m.group(1).split()
            left = vals[{1: 0, 2: 1, 3: 1}.get(len(vals), 3)] if vals else "0"
            mm = _LENGTH.match(left)
            if mm:
                px += _px(mm.group(1), mm.group(2))
    return px


def _class_level(classes: Iterable[str]) -> float:
    level = 0.0
    for cl in classes:
        for m in _CLASS_INDENT.finditer(cl):
            level = max(level, float(m.group(1) or 1))
        for m in _CLASS_UTILITY.finditer(cl):
            level = max(level, float(m.group(1)))
    return level


def indent_of(lead: str, styles: Iterable[str] = (), classes: Iterable[str] = ()) -> dict[str, float]:
    """Indentation evidence of a row: leading nbsp/spaces, CSS indent, indent-like class names.

    Returns {kind: magnitude}; kinds are "space", "css", "class", "list". Depth is computed
    later, per panel, by ranking the distinct magnitudes of each kind.
    """
    out: dict[str, float] = {}
    wide = sum(1 for c in lead if c in SPACE_CHARS)
    plain = lead.count(" ") if ("\n" not in lead and "\t" not in lead and "\r" not in lead) else 0
    n = wide + (plain if plain >= 2 else 0)
    if n:
        out["space"] = float(n)
    px = _css_indent(styles)
    if px > 0:
        out["css"] = px
    level = _class_level(classes)
    if level:
        out["class"] = level
    return out


# --------------------------------------------------------------------------- tables


def closest_table(node: LexborNode) -> LexborNode | None:
    p = node.parent
    while p is not None:
        if p.tag == "table":
            return p
        p = p.parent
    return None


_SECTIONS = frozenset({"thead", "tbody", "tfoot"})


def _own_rows(table: LexborNode) -> list[LexborNode]:
    """The ``<tr>`` of `table` itself, not of tables nested in it, in document order.

    The parser puts rows in ``table > (thead|tbody|tfoot) > tr``; those are read directly (a
    selector over all descendants would revisit every nested table's rows, quadratic on deeply
    nested tables). Anything else under the table is searched the slow way.
    """
    rows: list[LexborNode] = []
    for child in iter_children(table):
        for node in iter_children(child) if child.tag in _SECTIONS else (child,):
            if node.tag == "tr":
                rows.append(node)
            elif node.is_element_node:
                rows.extend(tr for tr in node.css("tr") if _owned_by(tr, table))
    return rows


def _owned_by(tr: LexborNode, table: LexborNode) -> bool:
    owner = closest_table(tr)
    return owner is not None and owner.mem_id == table.mem_id


def _span(value: str | None) -> int:
    try:
        return max(1, min(50, int(value or 1)))
    except ValueError:
        return 1


def _table_row(tr: LexborNode) -> tuple[tuple[Cell, ...], dict]:
    cells: list[Cell] = []
    first_indent: dict = {}
    tr_attrs = tr.attributes
    for child in iter_children(tr):
        if child.tag not in ("td", "th"):
            continue
        a = child.attributes
        text, lead, styles, classes = cell_content(child)
        if not cells:
            st = [s for s in (tr_attrs.get("style"), a.get("style")) if s] + styles
            cl = [c for c in (tr_attrs.get("class"), a.get("class")) if c] + classes
            first_indent = indent_of(lead, st, cl)
        cells.append(Cell(text, _span(a.get("colspan")), child.tag == "th"))
    return tuple(cells), first_indent


def table_grid(table: LexborNode) -> list[GridRow]:
    """The rows of `table` (not of tables nested in it) as a grid of clean cells."""
    raw_rows = []
    width = 0
    for tr in _own_rows(table):
        cells, first_indent = _table_row(tr)
        if cells:
            width = max(width, sum(c.colspan for c in cells))
            raw_rows.append((cells, first_indent))
    return [GridRow(cells, ind, len(cells) == 1 and (cells[0].colspan >= width > 1)) for cells, ind in raw_rows]


# --------------------------------------------------------------------------- blocks (div panels)


def is_block(node: LexborNode) -> bool:
    return node.is_element_node and node.tag in BLOCK_TAGS


def has_block_child(node: LexborNode) -> bool:
    """Whether any descendant of `node` (outside skipped tags) is a block element."""
    stack = list(iter_children(node))
    while stack:
        c = stack.pop()
        if c.is_element_node and c.tag not in SKIP_TAGS:
            if c.tag in BLOCK_TAGS:
                return True
            stack.extend(iter_children(c))
    return False


def _row_cells(node: LexborNode) -> list[Cell] | None:
    """Cells of a row-like block: 2-6 leaf children, one of them (not the first) an amount or %DV."""
    kids = [c for c in iter_children(node) if c.is_element_node and c.tag not in SKIP_TAGS and c.tag != "br"]
    if not 2 <= len(kids) <= 6:
        return None
    if any(clean(c.text_content) for c in iter_children(node) if c.tag == "-text"):
        return None
    if any(has_block_child(k) for k in kids):
        return None
    cells = [Cell(node_text(k)) for k in kids]
    if any(parse_amount(c.text) is not None or parse_percent_dv(c.text) is not None for c in cells[1:]):
        return cells
    return None


def _indent(node: LexborNode, list_depth: int) -> tuple[str, dict]:
    text, lead, styles, classes = cell_content(node)
    a = node.attributes
    st = [x for x in (a.get("style"),) if x] + styles
    cl = [x for x in (a.get("class"),) if x] + classes
    ind = indent_of(lead, st, cl)
    if list_depth > 1:
        ind["list"] = float(list_depth - 1)
    return text, ind


class _BlockWalker:
    """Walks a block container in document order, appending one `GridRow` per line."""

    def __init__(self) -> None:
        self.rows: list[GridRow] = []

    def leaf(self, node: LexborNode, list_depth: int) -> None:
        text, ind = _indent(node, list_depth)
        if text:
            self.rows.append(GridRow((Cell(text),), ind, True))

    def row_or_leaf(self, node: LexborNode, list_depth: int) -> bool:
        """A row-like block or a block without block children: one line. False: walk into it."""
        cells = _row_cells(node)
        if cells is not None:
            self.rows.append(GridRow(tuple(cells), _indent(node, list_depth)[1], False))
            return True
        if not has_block_child(node):
            self.leaf(node, list_depth)
            return True
        return False

    def walk(self, node: LexborNode, list_depth: int, nesting: int = 0) -> None:
        for child in iter_children(node):
            if child.tag == "-text":
                t = clean(child.text_content)
                if t:
                    self.rows.append(GridRow((Cell(t),), {}, True))
            elif child.is_element_node and child.tag not in SKIP_TAGS:
                self.element(child, list_depth, nesting + 1)

    def element(self, child: LexborNode, list_depth: int, nesting: int) -> None:
        if child.tag == "table":
            self.rows.extend(table_grid(child))
        elif nesting > MAX_BLOCK_NESTING:
            self.leaf(child, list_depth)
        elif child.tag in ("ul", "ol"):
            self.walk(child, list_depth + 1, nesting)
        elif self.row_or_leaf(child, list_depth):
            pass
        elif child.tag == "li":
            self.list_item(child, list_depth, nesting)
        else:
            self.walk(child, list_depth, nesting)

    def list_item(self, item: LexborNode, list_depth: int, nesting: int) -> None:
        """The item's own text first, then its nested blocks."""
        own = [c for c in iter_children(item) if not is_block(c) and c.tag not in ("ul", "ol")]
        t = clean(" ".join((c.text_content or "") if c.tag == "-text" else node_text(c) for c in own))
        if t:
            self.rows.append(GridRow((Cell(t),), {"list": float(list_depth - 1)} if list_depth > 1 else {}, True))
        for c in iter_children(item):
            if c.tag in ("ul", "ol"):
                self.walk(c, list_depth + 1, nesting)
            elif is_block(c) and not self.row_or_leaf(c, list_depth):
                self.walk(c, list_depth, nesting)


def block_grid(container: LexborNode) -> list[GridRow]:
    """Lines of a div-based panel (or a site's hint node) as grid rows.

    A block whose children are 2-6 leaf elements with an amount among them is one row with
    those cells; any other leaf block is one single-cell line; lists nest ("list" indent).
    """
    walker = _BlockWalker()
    walker.walk(container, 0)
    return walker.rows
