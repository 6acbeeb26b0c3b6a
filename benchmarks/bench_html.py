"""Facts-panel extraction on the real pages: selectolax (lexbor) vs BeautifulSoup (lxml).

    python benchmarks/bench_html.py [--repeat N] [PAGE.html[.gz] ...]

Both sides do the same work on the same bytes: parse the whole page, find the Supplement Facts
table by its title / header rows (no site class names), turn it into a grid of cells and read
the panel. The BeautifulSoup side is a compact re-implementation of the DOM half of
`normalize.html` (table grid, "heading just before", innermost candidate); the
backend-neutral half (`table_score`, `read_panel`) is shared, so the rows must come out equal,
which is checked. Prints ms/page (median of the repeats) and the ratio bs4/selectolax.
Wall-clock numbers are printed, never asserted.
"""
from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import time
from pathlib import Path

from bs4 import BeautifulSoup, Comment, NavigableString, Tag

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from maglabels.normalize.html import (  # noqa: E402
    Cell,
    FactsPanel,
    GridRow,
    extract_facts,
    indent_of,
    parse_page,
    read_panel,
    table_score,
)
from maglabels.normalize.html.locate import QUICK as _QUICK  # noqa: E402
from maglabels.normalize.html.panel import TITLE_RE as _TITLE_RE  # noqa: E402
from maglabels.normalize.html.text import BLOCK_TAGS as _BLOCK_TAGS  # noqa: E402
from maglabels.normalize.html.text import SKIP_TAGS as _SKIP_TAGS  # noqa: E402
from maglabels.normalize.html.text import SPACE_CHARS as _SPACE_CHARS  # noqa: E402
from maglabels.normalize.html.text import SPACE_TRANS as _SPACE_TRANS  # noqa: E402
from maglabels.normalize.html.text import clean  # noqa: E402

PAGES = ROOT / "tests" / "golden"  # <source>/<case>/page.html.gz: the real pages of the golden cases


# --------------------------------------------------------------------------- BeautifulSoup side


def _bs_cell(cell: Tag) -> tuple[str, str, list[str], list[str]]:
    parts: list[str] = []
    styles: list[str] = []
    classes: list[str] = []
    seen = False

    def walk(node: Tag) -> None:
        nonlocal seen
        for child in node.children:
            if isinstance(child, Comment):
                continue
            if isinstance(child, NavigableString):
                parts.append(str(child))
                if not seen and clean(str(child)):
                    seen = True
            elif isinstance(child, Tag):
                if child.name == "br":
                    parts.append("\n")
                    continue
                if child.name in _SKIP_TAGS:
                    continue
                if not seen:
                    if child.get("style"):
                        styles.append(child["style"])
                    if child.get("class"):
                        classes.append(" ".join(child["class"]))
                block = child.name in _BLOCK_TAGS
                if block:
                    parts.append(" ")
                walk(child)
                if block:
                    parts.append(" ")

    walk(cell)
    raw = "".join(parts)
    lead = raw[: len(raw) - len(raw.lstrip(" \t\r\n\f\v" + _SPACE_CHARS))]
    return clean(raw), lead, styles, classes


def _bs_closest_table(node: Tag) -> Tag | None:
    return node.find_parent("table")


def bs_table_grid(table: Tag) -> list[GridRow]:
    raw_rows = []
    width = 0
    for tr in table.find_all("tr"):
        if _bs_closest_table(tr) is not table:
            continue
        cells: list[Cell] = []
        first_indent: dict = {}
        for td in tr.find_all(["td", "th"], recursive=False):
            text, lead, styles, classes = _bs_cell(td)
            try:
                span = max(1, min(50, int(td.get("colspan") or 1)))
            except ValueError:
                span = 1
            if not cells:
                st = [s for s in (tr.get("style"), td.get("style")) if s] + styles
                cl = [" ".join(c) for c in (tr.get("class"), td.get("class")) if c] + classes
                first_indent = indent_of(lead, st, cl)
            cells.append(Cell(text, span, td.name == "th"))
        if cells:
            width = max(width, sum(c.colspan for c in cells))
            raw_rows.append((tuple(cells), first_indent))
    return [GridRow(c, i, len(c) == 1 and c[0].colspan >= width > 1) for c, i in raw_rows]


def _bs_heading_before(node: Tag, levels: int = 2) -> bool:
    cur = node
    for _ in range(levels + 1):
        seen = 0
        for sib in cur.previous_siblings:
            if seen >= 3:
                break
            if isinstance(sib, Tag):
                seen += 1
                if sib.name in _SKIP_TAGS:
                    continue
                t = clean(sib.get_text(" "))
                if t:
                    return len(t) <= 80 and bool(_TITLE_RE.match(t))
            elif isinstance(sib, NavigableString) and not isinstance(sib, Comment) and clean(str(sib)):
                t = clean(str(sib))
                return len(t) <= 80 and bool(_TITLE_RE.match(t))
        cur = cur.parent
        if cur is None or cur.name in ("body", "html", "[document]"):
            break
    return False


def bs_extract_facts(html: bytes) -> FactsPanel | None:
    soup = BeautifulSoup(html, "lxml")
    cands = []
    for order, table in enumerate(soup.find_all("table")):
        low = table.get_text().lower().translate(_SPACE_TRANS)
        quick = any(q in low for q in _QUICK)
        before = "supplement facts" not in low and _bs_heading_before(table)
        if not quick and not before:
            continue
        grid = bs_table_grid(table)
        titled, header, amounts = table_score(grid, before)
        if (titled or header) and amounts >= 1:
            cands.append(((int(titled) + int(header), amounts, -order), table, grid, before))
    if not cands:
        return None
    ids = {id(c[1]) for c in cands}
    inner = [c for c in cands if not any(id(n) in ids for n in c[1].find_all("table"))]
    inner.sort(key=lambda c: c[0], reverse=True)
    return read_panel(inner[0][2], kind="table", via="generic", titled=inner[0][3])


# --------------------------------------------------------------------------- timing


def _load(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _time(fn, arg, repeat: int) -> tuple[float, object]:
    result = fn(arg)  # warm-up (and the result to compare)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000, result


def _rows(panel: FactsPanel | None):
    return [(r.row_id, r.name, r.amount, r.unit, r.percent_dv, r.depth) for r in panel.rows] if panel else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pages", nargs="*", type=Path)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    pages = args.pages or sorted(PAGES.glob("*/*/page.html.gz"))
    if not pages:
        print("no pages found", file=sys.stderr)
        return 1

    print(f"{'page':48s} {'KiB':>6s} {'rows':>4s} {'selectolax':>11s} {'bs4+lxml':>10s} {'ratio':>6s} {'parse_page':>11s}  same")
    sx_all, bs_all = [], []
    for path in pages:
        raw = _load(path)
        sx_ms, sx_panel = _time(extract_facts, raw, args.repeat)
        bs_ms, bs_panel = _time(bs_extract_facts, raw, max(1, args.repeat // 2))
        full_ms, _ = _time(parse_page, raw, args.repeat)
        same = _rows(sx_panel) == _rows(bs_panel)
        sx_all.append(sx_ms)
        bs_all.append(bs_ms)
        name = path.parent.name if path.name == "page.html.gz" else path.name.replace(".html.gz", "").replace(".html", "")
        n = len(sx_panel.rows) if sx_panel else 0
        print(
            f"{name[:48]:48s} {len(raw) / 1024:6.0f} {n:4d} {sx_ms:8.1f} ms {bs_ms:7.1f} ms {bs_ms / sx_ms:5.1f}x {full_ms:8.1f} ms  {'yes' if same else 'NO'}"
        )
    sx_mean, bs_mean = statistics.mean(sx_all), statistics.mean(bs_all)
    print(f"{'mean':48s} {'':6s} {'':4s} {sx_mean:8.1f} ms {bs_mean:7.1f} ms {bs_mean / sx_mean:5.1f}x")
    print("selectolax/bs4 columns: facts extraction only (parse + find panel + read rows); parse_page adds identity, sections, hashing")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
