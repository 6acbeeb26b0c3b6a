"""Parse: a facts panel's grid -> serving lines, header columns, footnotes and ingredient rows.

`read_panel` classifies each grid row (title, serving, header, footnote, other ingredients, or
an ingredient row), reads the amount/%DV cells of ingredient rows by the header's columns, then
post-processes: depth from indentation ranks, row ids and parents, names with their "(as ...)".
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .amounts import NUM, UNIT, ParsedAmount, has_unit_amount, parse_amount, parse_percent_dv, to_float
from .grid import Cell, GridRow
from .serving import ParsedServing, parse_serving_size
from .text import strip_markers

TITLE_RE = re.compile(r"^\W*supplement\s+facts\b\W*", re.I)
_SERVING_SIZE_RE = re.compile(
    r"serving\s+size\s*:?\s*(?P<v>.+?)\s*(?=servings?\s+per\b|$)", re.I
)
_SPC_RE = re.compile(
    r"servings?\s+per\s+(?:container|package|bottle|pack|box|jar|bag|tub|pouch|unit)\s*:?\s*(?P<v>[^|]*?)\s*(?=serving\s+size\b|$)",
    re.I,
)
_SPC_VALUE = re.compile(r"^(?:about|approx\.?|approximately|~)?\s*(" + NUM + r")\s*$", re.I)
_AMOUNT_HDR = re.compile(
    r"^(?:amount(?:\s+per\b.{0,40})?|(?:amount\s+)?per\s+(?:serving|[0-9].{0,30})|quantity|qty|each\s+.{0,30}contains)\s*:?$",
    re.I,
)
_DV_HDR = re.compile(
    r"^(?:%\s*(?:daily\s*values?|d\.?\s*v\.?)\b.{0,40}|daily\s*values?\b.{0,30}|%\s*dv\b.{0,30}|dv\s*%?|%)\s*:?$",
    re.I,
)
_FOOTNOTE_RE = re.compile(
    r"^(?:[†‡*§¶#]|\(\s*[0-9a-z]\s*\)|percent\s+daily\s+values?|daily\s+values?\b|%\s*daily\s+values?\s+(?:are|is|based))"
    r"|not\s+established|based\s+on\s+a\s+[0-9,]+\s*calorie",
    re.I,
)
_SERVING_LINE_RE = re.compile(
    r"^\W*(?:serving\s+size|servings?\s+per\s+[a-z]+|about\s+[0-9]+\s+servings?\b)", re.I
)
OTHER_RE = re.compile(r"^(?:other|inactive)\s+ingredients?\s*:?\s*", re.I)
_LINE_RE = re.compile(
    r"^(?P<name>.*?[^\W\d_].*?)\s+"
    r"(?P<amt>(?:<|≤|less\s+than\s+)?\s*(?:" + NUM + r")\s*" + UNIT + r"(?:\s*\([^()]*(?:\([^()]*\)[^()]*)*\))*)"
    r"\s*[†‡*§¶]*\s*(?P<dv>(?:<\s*)?(?:" + NUM + r")\s*%|[†‡*§¶]+)?\s*[†‡*§¶]*$",
    re.I,
)


def line_match(text: str) -> re.Match | None:
    """"Magnesium (as oxide) 120 mg 29%" on one line (short lines only: the regex is not linear)."""
    return _LINE_RE.match(text) if len(text) <= 300 else None


@dataclass(frozen=True)
class FactsRow:
    row_id: str
    name: str
    depth: int
    parent_id: str | None
    amount: float | None
    unit: str | None
    operator: str | None
    percent_dv: float | None
    text: str  # the row's cells, " | "-joined
    amount_text: str = ""
    dv_text: str = ""


@dataclass(frozen=True)
class FactsPanel:
    kind: str  # "table" or "block"
    via: str  # "generic" or "site"
    rows: tuple[FactsRow, ...]
    serving_text: str | None = None
    serving: ParsedServing | None = None
    servings_per_container_text: str | None = None
    servings_per_container: float | None = None
    has_title: bool = False
    has_header: bool = False
    amount_header: str | None = None
    dv_header: str | None = None
    footnotes: tuple[str, ...] = ()
    other_ingredients: str | None = None  # an "Other ingredients:" line inside the panel
    skipped: tuple[str, ...] = ()  # lines that were neither rows nor panel structure


# --------------------------------------------------------------------------- row kinds


def _is_amount_hdr(t: str) -> bool:
    return bool(_AMOUNT_HDR.match(strip_markers(t)))


def _is_dv_hdr(t: str) -> bool:
    s = strip_markers(t)
    return bool(s) and bool(_DV_HDR.match(s)) and "establish" not in s.lower()


def positions(cells: Sequence[Cell]) -> list[tuple[int, Cell]]:
    """(first grid column, cell) of each cell, colspans counted."""
    out, pos = [], 0
    for c in cells:
        out.append((pos, c))
        pos += max(1, c.colspan)
    return out


def _cell_at(pcells: list[tuple[int, Cell]], col: int) -> Cell | None:
    for pos, c in pcells:
        if pos <= col < pos + max(1, c.colspan):
            return c
    return None


def panel_row_kind(row: GridRow) -> str | None:
    """Structure rows: "title", "serving", "header", "footnote", "other"; None = maybe a row."""
    ne = [c for c in row.cells if c.text]
    if not ne:
        return "empty"
    full = " ".join(c.text for c in ne)
    if TITLE_RE.match(full) and not TITLE_RE.sub("", full).strip():
        return "title"
    if _SERVING_LINE_RE.match(full):
        return "serving"
    if any(_is_amount_hdr(c.text) or _is_dv_hdr(c.text) for c in ne) and not any(has_unit_amount(c.text) for c in ne[1:]):
        return "header"
    if len(ne) == 1 and _FOOTNOTE_RE.search(full) and not line_match(full):
        return "footnote"
    if len(ne) == 1 and OTHER_RE.match(full):
        return "other"
    return None


def table_score(grid: Sequence[GridRow], heading_before: bool = False) -> tuple[bool, bool, int]:
    """(titled, has header row, rows with an amount+unit) of a candidate facts table."""
    titled = heading_before
    header = False
    amounts = 0
    for i, row in enumerate(grid):
        k = panel_row_kind(row)
        if k == "title" or (i < 3 and any(TITLE_RE.match(c.text) for c in row.cells if c.text)):
            titled = True
        elif k == "header":
            header = True
        elif k is None and (
            any(has_unit_amount(c.text) for c in row.cells[1:])
            or (len(row.cells) == 1 and line_match(row.cells[0].text))
        ):
            amounts += 1
    return titled, header, amounts


# --------------------------------------------------------------------------- reading


@dataclass
class _Item:
    """An ingredient line before depths are known."""

    name: str
    amount_text: str
    dv_text: str
    indent: dict
    text: str
    name_only: bool = False  # a single-cell line without an amount (a blend title, a member)


@dataclass
class _PanelReader:
    titled: bool = False
    serving_text: str | None = None
    spc_text: str | None = None
    amount_col: int | None = None
    dv_col: int | None = None
    amount_hdr: str | None = None
    dv_hdr: str | None = None
    has_header: bool = False
    footnotes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    other: str | None = None
    items: list[_Item] = field(default_factory=list)

    def take(self, row: GridRow) -> None:
        ne = [c for c in row.cells if c.text]
        if not ne:
            return
        full = " ".join(c.text for c in ne)
        k = panel_row_kind(row)
        if k is None and TITLE_RE.match(full):
            # "Supplement Facts" run together with the next line in one cell
            self.titled = True
            full = TITLE_RE.sub("", full)
            ne = [Cell(full)]
            row = GridRow(tuple(ne), row.indent, True)
            k = panel_row_kind(row)
        if k == "title":
            self.titled = True
        elif k == "serving":
            self._serving(full)
        elif k == "header":
            self._header(row, ne)
        elif k == "footnote":
            self.footnotes.append(full)
        elif k == "other":
            self.other = OTHER_RE.sub("", full).strip() or self.other
        elif k is None:
            self._ingredient(row, ne, full)

    def _serving(self, full: str) -> None:
        m = _SERVING_SIZE_RE.search(full)
        if m and self.serving_text is None:
            self.serving_text = strip_markers(m.group("v")) or None
        m = _SPC_RE.search(full)
        if m and self.spc_text is None:
            self.spc_text = strip_markers(m.group("v")) or None

    def _header(self, row: GridRow, ne: list[Cell]) -> None:
        self.has_header = True
        for pos, c in positions(row.cells):
            if pos == 0 or not c.text:
                continue
            if self.amount_col is None and _is_amount_hdr(c.text):
                self.amount_col, self.amount_hdr = pos, c.text
            elif self.dv_col is None and _is_dv_hdr(c.text):
                self.dv_col, self.dv_hdr = pos, c.text
        if self.amount_hdr is None:
            self.amount_hdr = next((c.text for c in ne if _is_amount_hdr(c.text)), None)
        if self.dv_hdr is None:
            self.dv_hdr = next((c.text for c in ne if _is_dv_hdr(c.text)), None)

    def _ingredient(self, row: GridRow, ne: list[Cell], full: str) -> None:
        if len(ne) == 1 and (row.spans_all or len(row.cells) == 1):
            m = line_match(full)
            if m:
                self.items.append(_Item(m.group("name"), m.group("amt"), m.group("dv") or "", row.indent, full))
            else:
                self.items.append(_Item(full, "", "", row.indent, full, True))
            return
        pcells = positions(row.cells)
        name_cell = pcells[0][1]
        if not name_cell.text:
            self.skipped.append(row.text)
            return
        rest = [c for _, c in pcells[1:]]
        amount_text = self._column_text(pcells, self.amount_col, name_cell)
        if amount_text is None:
            amount_text = next((c.text for c in rest if parse_amount(c.text)), rest[0].text if rest else "")
        dv_text = self._column_text(pcells, self.dv_col, name_cell)
        if dv_text is None:
            dv_text = _cell_after(rest, amount_text)
        self.items.append(_Item(name_cell.text, amount_text, dv_text, row.indent, row.text))

    @staticmethod
    def _column_text(pcells: list[tuple[int, Cell]], col: int | None, name_cell: Cell) -> str | None:
        """Text under a header column ("" when the row has nothing there); None: no such column."""
        if col is None:
            return None
        c = _cell_at(pcells, col)
        return c.text if c is not None and c is not name_cell else ""


def _cell_after(cells: list[Cell], amount_text: str) -> str:
    """Without a %DV column: the cell right after the amount cell."""
    after = False
    for c in cells:
        if after:
            return c.text
        if c.text == amount_text:
            after = True
    return ""


def _row_name(name: str, pa: ParsedAmount | None) -> str:
    n = strip_markers(name).strip(" :")
    if pa is not None:
        for note in pa.source_notes:
            grp = f"({note})"
            if grp.lower() not in n.lower():
                n = f"{n} {grp}"
    return n


def _depths(indents: Sequence[dict]) -> list[int]:
    """Rank each indent kind's distinct magnitudes (0 included) -> depth; max over kinds."""
    if not indents:
        return []
    kinds = {k for ind in indents for k in ind}
    depth = [0] * len(indents)
    for k in kinds:
        values = sorted({ind.get(k, 0.0) for ind in indents})
        rank = {v: i for i, v in enumerate(values)}
        for i, ind in enumerate(indents):
            depth[i] = max(depth[i], rank[ind.get(k, 0.0)])
    return depth


def _facts_row(item: _Item, row_id: str, depth: int, parent_id: str | None) -> FactsRow:
    pa = parse_amount(item.amount_text)
    dv = parse_percent_dv(item.dv_text)
    if dv is None and pa is not None and not item.dv_text:
        dv = parse_percent_dv(pa.rest) if "%" in pa.rest else None
    return FactsRow(
        row_id=row_id,
        name=_row_name(item.name, pa),
        depth=depth,
        parent_id=parent_id,
        amount=pa.value if pa else None,
        unit=pa.unit if pa else None,
        operator=pa.operator if pa else None,
        percent_dv=dv,
        text=item.text,
        amount_text=item.amount_text,
        dv_text=item.dv_text,
    )


def _tree_rows(items: list[_Item], skipped: list[str]) -> list[FactsRow]:
    """Depths, ids ("3", "3.1") and parents of the ingredient lines, in order."""
    depths = _depths([it.indent for it in items])
    rows: list[FactsRow] = []
    counters: list[int] = []
    ids: list[str] = []  # id of the last row at each depth
    prev_depth = -1
    for i, item in enumerate(items):
        depth = min(depths[i], prev_depth + 1)
        if item.name_only and depth == 0:
            # a line with no amount is a row only when rows are nested under it (a blend);
            # nested lines without an amount (blend members) are rows anyway
            nxt = min(depths[i + 1], depth + 1) if i + 1 < len(items) else 0
            if not nxt > depth:
                skipped.append(item.text)
                continue
        del counters[depth + 1 :]
        del ids[depth:]
        while len(counters) <= depth:
            counters.append(0)
        counters[depth] += 1
        parent_id = ids[depth - 1] if depth > 0 else None
        row_id = f"{parent_id}.{counters[depth]}" if parent_id else str(counters[depth])
        ids.append(row_id)
        prev_depth = depth
        rows.append(_facts_row(item, row_id, depth, parent_id))
    return rows


def _servings_per_container(text: str | None) -> float | None:
    m = _SPC_VALUE.match(text) if text else None
    return to_float(m.group(1)) if m else None


def read_panel(
    grid: Sequence[GridRow], *, kind: str = "table", via: str = "generic", titled: bool = False
) -> FactsPanel:
    """A facts panel from its grid: serving lines, header, footnotes and the ingredient rows.

    `titled`: the panel's "Supplement Facts" title sits outside the grid (a heading before it).
    """
    reader = _PanelReader(titled=titled)
    for row in grid:
        reader.take(row)
    rows = _tree_rows(reader.items, reader.skipped)
    return FactsPanel(
        kind=kind,
        via=via,
        rows=tuple(rows),
        serving_text=reader.serving_text,
        serving=parse_serving_size(reader.serving_text) if reader.serving_text else None,
        servings_per_container_text=reader.spc_text,
        servings_per_container=_servings_per_container(reader.spc_text),
        has_title=reader.titled,
        has_header=reader.has_header,
        amount_header=reader.amount_hdr,
        dv_header=reader.dv_hdr,
        footnotes=tuple(reader.footnotes),
        other_ingredients=reader.other,
        skipped=tuple(reader.skipped),
    )
