"""HTML front end: a product page -> one `Label` (Supplement Facts panel + product identity).

`parse_page(html, url=..., raw_sha256=...)` returns a `PageExtraction`: the `Label` plus what
was found (the facts panel or why not, the serving text, Suggested Use, Other Ingredients).

How the facts panel is found (generic, no site class names):

* a ``<table>`` whose title says "Supplement Facts" (a title row, a caption, or a heading just
  before the table), or whose header row says "Amount Per Serving" / "%DV" / "% Daily Value"
  / "%Daily Value", and which has at least one row with an amount and a unit;
* failing that, a block (``div``, ``section`` ...) under a "Supplement Facts" heading whose
  lines read as facts rows ("Magnesium ... 120 mg 29%");
* failing that, the site module's hint (`normalize.sites`).

Only that one panel produces ingredient rows: the same words elsewhere on the page (navigation,
search chips, combo offers, reviews) never do. Other Ingredients and Suggested Use are read
under their own headings, the one closest to the panel in the document tree.

The parsing of a panel works on a backend-neutral grid (`GridRow` of `Cell`), so the
BeautifulSoup baseline in `benchmarks/bench_html.py` can reuse it.
"""
from __future__ import annotations

import codecs
import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from . import sites
from .model import Label, LabelRow, ServingSize
from .product_identity import ProductIdentity, canonical_url, extract_identity

__all__ = [
    "PageExtraction",
    "FactsPanel",
    "FactsRow",
    "Cell",
    "GridRow",
    "ParsedAmount",
    "ParsedServing",
    "parse_page",
    "extract_facts",
    "find_facts_panel",
    "locate_facts_panel",
    "PanelHit",
    "read_panel",
    "parse_amount",
    "parse_percent_dv",
    "parse_serving_size",
    "parse_daily_servings",
    "split_ingredient_list",
    "indent_of",
    "table_score",
]

# --------------------------------------------------------------------------- text

_SPACE_CHARS = "\xa0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
_SPACE_TRANS = {ord(c): " " for c in _SPACE_CHARS} | {ord("\u200b"): "", ord("\ufeff"): ""}
_MARKERS = "†‡*§¶"
_MARKER_RE = re.compile(r"[†‡*§¶]+")
_WS_RE = re.compile(r"\s+")


def clean(text: str | None) -> str:
    """nbsp and other spaces -> " ", runs of whitespace collapsed, stripped."""
    if not text:
        return ""
    return _WS_RE.sub(" ", text.translate(_SPACE_TRANS)).strip()


def _strip_markers(text: str) -> str:
    return clean(_MARKER_RE.sub(" ", text))


_BLOCK_TAGS = frozenset(
    "address article aside blockquote dd div dl dt fieldset figcaption figure footer form h1 h2 h3 "
    "h4 h5 h6 header hr li main nav ol p pre section table tbody thead tfoot tr td th ul caption "
    "summary details".split()
)
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript", "svg", "button", "select", "iframe"})


def node_text(node: LexborNode, *, lines: bool = False) -> str:
    """Visible text of `node`; ``<br>`` and block boundaries become a space (or "\\n")."""
    parts: list[str] = []
    _walk_text(node, parts, "\n" if lines else " ")
    s = "".join(parts)
    if lines:
        return "\n".join(ln for ln in (clean(x) for x in s.split("\n")) if ln)
    return clean(s)


def _walk_text(node: LexborNode, parts: list[str], brk: str) -> None:
    child = node.child
    while child is not None:
        tag = child.tag
        if tag == "-text":
            parts.append(child.text_content or "")
        elif tag == "br":
            parts.append(brk)
        elif child.is_element_node and tag not in _SKIP_TAGS:
            block = tag in _BLOCK_TAGS
            if block:
                parts.append(brk)
            _walk_text(child, parts, brk)
            if block:
                parts.append(brk)
        child = child.next


def _cell_content(node: LexborNode) -> tuple[str, str, list[str], list[str]]:
    """(clean text, raw leading whitespace, styles and classes seen before the first visible text)."""
    parts: list[str] = []
    styles: list[str] = []
    classes: list[str] = []
    seen = [False]

    def walk(n: LexborNode) -> None:
        child = n.child
        while child is not None:
            tag = child.tag
            if tag == "-text":
                t = child.text_content or ""
                parts.append(t)
                if not seen[0] and clean(t):
                    seen[0] = True
            elif tag == "br":
                parts.append("\n")
            elif child.is_element_node and tag not in _SKIP_TAGS:
                if not seen[0]:
                    a = child.attributes
                    if a.get("style"):
                        styles.append(a["style"])
                    if a.get("class"):
                        classes.append(a["class"])
                block = tag in _BLOCK_TAGS
                if block:
                    parts.append(" ")
                walk(child)
                if block:
                    parts.append(" ")
            child = child.next

    walk(node)
    raw = "".join(parts)
    lead = re.match(r"[\s" + _SPACE_CHARS + r"]*", raw).group(0)
    return clean(raw), lead, styles, classes


# --------------------------------------------------------------------------- indentation

_STYLE_INDENT = re.compile(
    r"(?:padding-left|margin-left|text-indent|padding-inline-start|margin-inline-start)\s*:\s*([0-9.]+)\s*(px|em|rem|pt|%|ch)?",
    re.I,
)
_STYLE_PADDING = re.compile(r"(?<![-\w])padding\s*:\s*([^;]+)", re.I)
_CLASS_INDENT = re.compile(
    r"(?:^|[\s_-])(?:indent(?:ed)?|sub(?:-?row|-?item|-?ingredient|-?nutrient)?|child(?:-?row)?|nested|level)"
    r"(?:[-_]?([0-9]))?(?=$|[\s_-])",
    re.I,
)
_CLASS_UTILITY = re.compile(r"(?:^|\s)(?:pl|ps|ml|ms)-([0-9]+)(?=$|\s)")
_UNIT_PX = {None: 1.0, "px": 1.0, "em": 16.0, "rem": 16.0, "pt": 4 / 3, "%": 4.0, "ch": 8.0}


def indent_of(lead: str, styles: Iterable[str] = (), classes: Iterable[str] = ()) -> dict[str, float]:
    """Indentation evidence of a row: leading nbsp/spaces, CSS indent, indent-like class names.

    Returns {kind: magnitude}; kinds are "space", "css", "class", "list". Depth is computed
    later, per panel, by ranking the distinct magnitudes of each kind.
    """
    out: dict[str, float] = {}
    wide = sum(1 for c in lead if c in _SPACE_CHARS)
    plain = lead.count(" ") if ("\n" not in lead and "\t" not in lead and "\r" not in lead) else 0
    n = wide + (plain if plain >= 2 else 0)
    if n:
        out["space"] = float(n)
    px = 0.0
    for st in styles:
        for m in _STYLE_INDENT.finditer(st):
            px += float(m.group(1)) * _UNIT_PX.get((m.group(2) or "").lower() or None, 1.0)
        for m in _STYLE_PADDING.finditer(st):
            vals = m.group(1).split()
            left = vals[{1: 0, 2: 1, 3: 1}.get(len(vals), 3)] if vals else "0"
            mm = re.match(r"([0-9.]+)\s*(px|em|rem|pt|%|ch)?", left)
            if mm:
                px += float(mm.group(1)) * _UNIT_PX.get((mm.group(2) or "").lower() or None, 1.0)
    if px > 0:
        out["css"] = px
    level = 0.0
    for cl in classes:
        for m in _CLASS_INDENT.finditer(cl):
            level = max(level, float(m.group(1) or 1))
        for m in _CLASS_UTILITY.finditer(cl):
            level = max(level, float(m.group(1)))
    if level:
        out["class"] = level
    return out


# --------------------------------------------------------------------------- grid


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


# --------------------------------------------------------------------------- amounts

_NUM = r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?(?![0-9])|[0-9]+,[0-9]{1,2}(?![0-9])|[0-9]+(?:\.[0-9]+)?|\.[0-9]+"
_UNIT = (
    r"(?:(?:billion|million|thousand|bn)\s+[^\W\d_]+"
    r"|fl\.?\s?oz"
    r"|[µμ]g"
    r"|[^\W\d_](?:[\w\-]*[^\W_])?"
    r")(?:\s+(?:DFE|RAE|NE|TE|AE|CFU|GDU|FCCU|HUT|DU|SU|α-TE|alpha-TE)(?![\w-]))?"
)
_OPS = {
    "<": "<", ">": ">", "<=": "<=", ">=": ">=", "≤": "<=", "≥": ">=", "less than": "<",
    "fewer than": "<", "more than": ">", "greater than": ">", "up to": "<=",
}
_AMOUNT_RE = re.compile(
    r"^\s*(?P<op><=|>=|<|>|≤|≥|less\s+than|fewer\s+than|more\s+than|greater\s+than|up\s+to)?\s*"
    r"(?P<num>" + _NUM + r")(?P<unit>\s*" + _UNIT + r")?(?P<rest>.*)$",
    re.I | re.S,
)
_RANGE_AFTER = re.compile(r"^\s*(?:-|–|—|to)\s*[0-9.]", re.I)
_SOURCE_NOTE = re.compile(r"^(?:as|from|providing|supplying|yielding|derived from|in the form of|in)\b", re.I)


def _to_float(num: str) -> float | None:
    if re.fullmatch(r"[0-9]+,[0-9]{1,2}", num):
        num = num.replace(",", ".")
    else:
        num = num.replace(",", "")
    try:
        f = float(num)
    except ValueError:
        return None
    return f if math.isfinite(f) and f >= 0 else None


def _split_parens(text: str) -> tuple[str, list[str]]:
    """Top-level parenthetical groups out of `text`: ("120 mg", ["as TRAACS® ..."])."""
    out: list[str] = []
    keep: list[str] = []
    depth = 0
    buf: list[str] = []
    for ch in text:
        if ch == "(":
            if depth:
                buf.append(ch)
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
            if depth:
                buf.append(ch)
            else:
                out.append(clean("".join(buf)))
                buf = []
                keep.append(" ")
        elif depth:
            buf.append(ch)
        else:
            keep.append(ch)
    if depth and buf:  # unbalanced "(": the rest is the group
        out.append(clean("".join(buf)))
    return clean("".join(keep)), [g for g in out if g]


@dataclass(frozen=True)
class ParsedAmount:
    value: float
    unit: str | None
    operator: str = "="
    source_notes: tuple[str, ...] = ()  # "(as ...)"/"(from ...)" groups: they belong to the name
    alternates: tuple[str, ...] = ()  # other groups, e.g. "1,000 IU"
    rest: str = ""  # text after the unit that was not understood (e.g. a "25%" in the same cell)


def parse_amount(text: str | None) -> ParsedAmount | None:
    """"120 mg (as X)" -> 120.0 mg, note "as X"; "<1 g" -> 1.0 g op "<"; "1,000 IU" -> 1000.0.

    None when the text does not start with a single, non-negative amount (blank, "†",
    a range "10-20 mg", a negative or non-finite number, words).
    """
    if not text:
        return None
    base, groups = _split_parens(clean(text))
    base = _strip_markers(base)
    m = _AMOUNT_RE.match(base)
    if not m:
        return None
    rest = m.group("rest") or ""
    if _RANGE_AFTER.match(rest):
        return None
    value = _to_float(m.group("num"))
    if value is None:
        return None
    unit = clean(m.group("unit")) or None
    op_raw = clean(m.group("op") or "").lower()
    op = _OPS.get(op_raw, "=") if op_raw else "="
    notes = tuple(g for g in groups if _SOURCE_NOTE.match(g))
    alts = tuple(g for g in groups if not _SOURCE_NOTE.match(g))
    return ParsedAmount(value, unit, op, notes, alts, clean(rest))


_DV_RE = re.compile(r"(?P<op><|≤|less than)?\s*(?P<num>" + _NUM + r")\s*%", re.I)
_BARE_NUM = re.compile(r"^\s*(?P<num>" + _NUM + r")\s*$")


def parse_percent_dv(text: str | None) -> float | None:
    """"25%" -> 25.0, "<1%" -> 1.0; blank, "†", "*", "**" (no DV established) -> None."""
    if not text:
        return None
    s = _strip_markers(clean(text))
    m = _DV_RE.search(s) or _BARE_NUM.match(s)
    return _to_float(m.group("num")) if m else None


# --------------------------------------------------------------------------- serving size

_WORD_NUMS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a": 1, "an": 1, "half": 0.5, "½": 0.5,
    "¼": 0.25, "¾": 0.75, "⅓": 1 / 3, "⅔": 2 / 3,
}
_WORD_NUM_RE = re.compile(r"\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\b(?:\s*\(\s*([0-9]+)\s*\))?", re.I)
_QTY = r"[0-9]+\s+[0-9]+/[0-9]+|[0-9]+/[0-9]+|[0-9]+(?:[.,][0-9]+)?|\.[0-9]+|[½¼¾⅓⅔]"
_SERVING_RE = re.compile(
    r"^(?P<q1>" + _QTY + r")\s*(?:(?:-|–|—|to|or)\s*(?P<q2>" + _QTY + r"))?\s*(?P<unit>[^()\[\]0-9]*?)\s*(?P<rest>[(\[].*)?$",
    re.I,
)
_UNIT_ABBR = {
    "g": "Gram", "gr": "Gram", "gram": "Gram", "grams": "Gram", "mg": "Milligram", "ml": "Milliliter",
    "milliliter": "Milliliter", "milliliters": "Milliliter", "millilitre": "Milliliter",
    "tsp": "Teaspoon", "tsp.": "Teaspoon", "tbsp": "Tablespoon", "tbsp.": "Tablespoon",
    "oz": "Ounce", "fl oz": "Fluid Ounce", "fl. oz": "Fluid Ounce", "fl. oz.": "Fluid Ounce",
    "caps": "Capsule", "cap": "Capsule", "tabs": "Tablet", "tab": "Tablet", "vcaps": "Veggie Capsule",
    "vcap": "Veggie Capsule", "softgels": "Softgel", "gummies": "Gummy", "pcs": "Piece",
}


def _qty(text: str | None) -> float | None:
    if not text:
        return None
    t = text.strip()
    if t in _WORD_NUMS:
        return float(_WORD_NUMS[t])
    m = re.fullmatch(r"(?:([0-9]+)\s+)?([0-9]+)/([0-9]+)", t)
    if m:
        den = int(m.group(3))
        if den == 0:
            return None
        return (int(m.group(1) or 0)) + int(m.group(2)) / den
    return _to_float(t.replace(",", ".") if re.fullmatch(r"[0-9]+,[0-9]+", t) else t)


def serving_unit_name(unit_text: str) -> str:
    """"Capsules" -> "Capsule(s)", "veggie capsule" -> "Veggie Capsule(s)", "g" -> "Gram(s)"."""
    u = clean(unit_text).strip(" .,:;")
    if not u:
        return ""
    low = u.lower()
    if low in _UNIT_ABBR:
        words = _UNIT_ABBR[low].split()
    else:
        words = [w[:1].upper() + w[1:].lower() if (w.isupper() or w.islower()) else w for w in u.split()]
        last = words[-1]
        ll = last.lower()
        if ll in _UNIT_ABBR and len(words) > 1:
            words[-1] = _UNIT_ABBR[ll]
        elif ll.endswith("ies") and len(ll) > 4:
            words[-1] = last[:-3] + "y"
        elif ll.endswith("s") and not ll.endswith("ss") and len(ll) > 2:
            words[-1] = last[:-1]
    last = words[-1]
    suffix = "(ies)" if last.lower().endswith("y") and not last.lower().endswith(("ay", "ey", "oy", "uy")) else "(s)"
    return " ".join(words) + suffix


@dataclass(frozen=True)
class ParsedServing:
    text: str
    min_quantity: float | None
    max_quantity: float | None
    unit: str  # "Capsule(s)"-like
    note: str = ""  # parenthetical after the unit, e.g. "5.2 g"


def parse_serving_size(text: str | None) -> ParsedServing | None:
    """"2 Capsules" -> 2, 2, "Capsule(s)"; "1 Scoop (5.2 g)" -> 1, 1, "Scoop(s)", note "5.2 g"."""
    s = clean(text).strip(" :")
    if not s:
        return None
    t = _WORD_NUM_RE.sub(lambda m: m.group(2) or str(_WORD_NUMS[m.group(1).lower()]), s)
    t = re.sub(r"^(?:an?|one)\s+(?=[a-z])", "1 ", t, flags=re.I)
    m = _SERVING_RE.match(t)
    if not m:
        return ParsedServing(s, None, None, "")
    q1, q2 = _qty(m.group("q1")), _qty(m.group("q2"))
    lo, hi = q1, (q2 if q2 is not None else q1)
    if lo is not None and hi is not None and hi < lo:
        lo, hi = hi, lo
    note = ""
    if m.group("rest"):
        note = clean(m.group("rest").strip("()[] "))
    return ParsedServing(s, lo, hi, serving_unit_name(m.group("unit") or ""), note)


_DOSAGE_FORMS = (
    (re.compile(r"softgel|soft gel|gelcap|liquid cap", re.I), "Softgel Capsule"),
    (re.compile(r"caps|vcap|capsule", re.I), "Capsule"),
    (re.compile(r"tablet|caplet|\btab\b|pill", re.I), "Tablet or Pill"),
    (re.compile(r"gumm|chew(?:able)? gel|jell", re.I), "Gummy or Jelly"),
    (re.compile(r"lozenge|pastille", re.I), "Lozenge"),
    (re.compile(r"scoop|powder", re.I), "Powder"),
    (re.compile(r"milliliter|drop|dropper|fluid ounce|\bml\b", re.I), "Liquid"),
)


def dosage_form_of(unit: str | None) -> str | None:
    if not unit:
        return None
    for rx, form in _DOSAGE_FORMS:
        if rx.search(unit):
            return form
    return None


# --------------------------------------------------------------------------- daily servings

_USE_UNITS = (
    r"(?:veg(?:gie|etable|etarian)?\s+|vegan\s+|soft\s+|liquid\s+|chewable\s+|delayed[- ]release\s+)?"
    r"(?:capsules?|caps|vcaps?|tablets?|tabs?|softgels?|caplets?|gummies|gummy|lozenges?|scoops?|servings?"
    r"|packets?|sticks?|chewables?|teaspoons?|tsp|tablespoons?|tbsp|drops?|droppers?(?:ful)?|droppersful|ml|g|grams?"
    r"|pieces?|bars?|pills?|sachets?|wafers?|chews?|vegicaps?)"
)
_TIMES = r"(?:once|twice|thrice|(?:" + _QTY + r")(?:\s*(?:-|–|to|or)\s*(?:" + _QTY + r"))?\s*times?)"
_USE_RE = re.compile(
    r"\btake\s+(?P<q1>" + _QTY + r")(?:\s*(?:-|–|to|or)\s*(?P<q2>" + _QTY + r"))?\s+(?P<unit>" + _USE_UNITS + r")\b"
    r"(?P<mid>[^.;:]{0,40}?)"
    r"(?:\b(?P<times>" + _TIMES + r")\s*)?"
    r"(?:daily|a\s+day|per\s+day|each\s+day|every\s+day)\b",
    re.I,
)
_UNIT_STEM = {
    "caps": "capsule", "cap": "capsule", "vcap": "capsule", "vcaps": "capsule", "vegicap": "capsule",
    "vegicaps": "capsule", "tabs": "tablet", "tab": "tablet", "gummies": "gummy", "tsp": "teaspoon",
    "tbsp": "tablespoon", "g": "gram", "grams": "gram", "droppersful": "dropper", "dropperful": "dropper",
}


def _stem(unit: str) -> str:
    w = clean(unit).lower().split(" ")[-1].replace("(s)", "").replace("(ies)", "y")
    if w in _UNIT_STEM:
        return _UNIT_STEM[w]
    if w.endswith("ies"):
        return w[:-3] + "y"
    if w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    return _UNIT_STEM.get(w, w)


def _times(text: str | None) -> tuple[float, float] | None:
    if not text:
        return (1.0, 1.0)
    t = text.lower().strip()
    if t.startswith("once"):
        return (1.0, 1.0)
    if t.startswith("twice"):
        return (2.0, 2.0)
    if t.startswith("thrice"):
        return (3.0, 3.0)
    nums = re.findall(_QTY, t)
    vals = [v for v in (_qty(n) for n in nums) if v is not None]
    if not vals:
        return None
    return (min(vals), max(vals))


def parse_daily_servings(
    text: str | None, serving_quantity: float | None, serving_unit: str | None
) -> tuple[float, float] | None:
    """Daily servings from Suggested Use: "Take 2 capsules daily" with a 2-capsule serving -> (1, 1).

    Conservative: only "take N <unit> [once|twice|N times] daily|a day|per day" sentences whose
    unit is the serving's unit (or "serving(s)"); anything else -> None.
    """
    if not text:
        return None
    t = _WORD_NUM_RE.sub(lambda m: m.group(2) or str(_WORD_NUMS[m.group(1).lower()]), clean(text))
    found: list[tuple[float, float]] = []
    for m in _USE_RE.finditer(t):
        if re.search(r"\b(?:take|week|month|hour)", m.group("mid") or "", re.I):
            continue
        q1, q2 = _qty(m.group("q1")), _qty(m.group("q2"))
        if q1 is None:
            continue
        q2 = q1 if q2 is None else q2
        times = _times(m.group("times"))
        if times is None:
            continue
        ustem = _stem(m.group("unit"))
        if ustem == "serving":
            lo, hi = q1 * times[0], q2 * times[1]
        else:
            if not serving_quantity or not serving_unit or _stem(serving_unit) != ustem:
                continue
            lo, hi = q1 * times[0] / serving_quantity, q2 * times[1] / serving_quantity
        found.append((min(lo, hi), max(lo, hi)))
    if not found:
        return None
    return (min(f[0] for f in found), max(f[1] for f in found))


# --------------------------------------------------------------------------- panel reading

_TITLE_RE = re.compile(r"^\W*supplement\s+facts\b\W*", re.I)
_SERVING_SIZE_RE = re.compile(
    r"serving\s+size\s*:?\s*(?P<v>.+?)\s*(?=servings?\s+per\b|$)", re.I
)
_SPC_RE = re.compile(
    r"servings?\s+per\s+(?:container|package|bottle|pack|box|jar|bag|tub|pouch|unit)\s*:?\s*(?P<v>[^|]*?)\s*(?=serving\s+size\b|$)",
    re.I,
)
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
_OTHER_RE = re.compile(r"^(?:other|inactive)\s+ingredients?\s*:?\s*", re.I)
_LINE_RE = re.compile(
    r"^(?P<name>.*?[^\W\d_].*?)\s+"
    r"(?P<amt>(?:<|≤|less\s+than\s+)?\s*(?:" + _NUM + r")\s*" + _UNIT + r"(?:\s*\([^()]*(?:\([^()]*\)[^()]*)*\))*)"
    r"\s*[†‡*§¶]*\s*(?P<dv>(?:<\s*)?(?:" + _NUM + r")\s*%|[†‡*§¶]+)?\s*[†‡*§¶]*$",
    re.I,
)


def _line_match(text: str) -> re.Match | None:
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


def _is_amount_hdr(t: str) -> bool:
    return bool(_AMOUNT_HDR.match(_strip_markers(t)))


def _is_dv_hdr(t: str) -> bool:
    s = _strip_markers(t)
    return bool(s) and bool(_DV_HDR.match(s)) and "establish" not in s.lower()


def _positions(cells: Sequence[Cell]) -> list[tuple[int, Cell]]:
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


def _panel_row_kind(row: GridRow) -> str | None:
    """Structure rows: "title", "serving", "header", "footnote", "other"; None = maybe a row."""
    ne = [c for c in row.cells if c.text]
    if not ne:
        return "empty"
    full = " ".join(c.text for c in ne)
    if _TITLE_RE.match(full) and not _TITLE_RE.sub("", full).strip():
        return "title"
    if _SERVING_LINE_RE.match(full):
        return "serving"
    if any(_is_amount_hdr(c.text) or _is_dv_hdr(c.text) for c in ne) and not any(
        (pa := parse_amount(c.text)) is not None and pa.unit for c in ne[1:]
    ):
        return "header"
    if len(ne) == 1 and _FOOTNOTE_RE.search(full) and not _line_match(full):
        return "footnote"
    if len(ne) == 1 and _OTHER_RE.match(full):
        return "other"
    return None


def read_panel(
    grid: Sequence[GridRow], *, kind: str = "table", via: str = "generic", titled: bool = False
) -> FactsPanel:
    """A facts panel from its grid: serving lines, header, footnotes and the ingredient rows.

    `titled`: the panel's "Supplement Facts" title sits outside the grid (a heading before it).
    """
    serving_text = spc_text = None
    amount_col = dv_col = None
    amount_hdr = dv_hdr = None
    has_title, has_header = titled, False
    footnotes: list[str] = []
    skipped: list[str] = []
    other: str | None = None
    # (name, amount_text, dv_text, indent, text, name_only_line)
    items: list[tuple[str, str, str, dict, str, bool]] = []

    for row in grid:
        ne = [c for c in row.cells if c.text]
        if not ne:
            continue
        full = " ".join(c.text for c in ne)
        k = _panel_row_kind(row)
        if k == "empty":
            continue
        if k is None and _TITLE_RE.match(full):
            # "Supplement Facts" run together with the next line in one cell
            has_title = True
            full = _TITLE_RE.sub("", full)
            ne = [Cell(full)]
            row = GridRow(tuple(ne), row.indent, True)
            k = _panel_row_kind(row)
        if k == "title":
            has_title = True
            continue
        if k == "serving":
            m = _SERVING_SIZE_RE.search(full)
            if m and serving_text is None:
                serving_text = _strip_markers(m.group("v")) or None
            m = _SPC_RE.search(full)
            if m and spc_text is None:
                spc_text = _strip_markers(m.group("v")) or None
            continue
        if k == "header":
            has_header = True
            for pos, c in _positions(row.cells):
                if pos == 0 or not c.text:
                    continue
                if amount_col is None and _is_amount_hdr(c.text):
                    amount_col, amount_hdr = pos, c.text
                elif dv_col is None and _is_dv_hdr(c.text):
                    dv_col, dv_hdr = pos, c.text
            if amount_hdr is None:
                amount_hdr = next((c.text for c in ne if _is_amount_hdr(c.text)), None)
            if dv_hdr is None:
                dv_hdr = next((c.text for c in ne if _is_dv_hdr(c.text)), None)
            continue
        if k == "footnote":
            footnotes.append(full)
            continue
        if k == "other":
            other = _OTHER_RE.sub("", full).strip() or other
            continue

        pcells = _positions(row.cells)
        single = len(ne) == 1 and (row.spans_all or len(row.cells) == 1)
        if single:
            m = _line_match(full)
            if m:
                items.append((m.group("name"), m.group("amt"), m.group("dv") or "", row.indent, full, False))
            else:
                items.append((full, "", "", row.indent, full, True))
            continue
        name_cell = pcells[0][1]
        name = name_cell.text
        if not name:
            skipped.append(row.text)
            continue
        rest = [c for _, c in pcells[1:]]
        if amount_col is not None:
            ac = _cell_at(pcells, amount_col)
            amount_text = ac.text if ac is not None and ac is not name_cell else ""
        else:
            amount_text = next((c.text for c in rest if parse_amount(c.text)), rest[0].text if rest else "")
        if dv_col is not None:
            dc = _cell_at(pcells, dv_col)
            dv_text = dc.text if dc is not None and dc is not name_cell else ""
        else:
            after = False
            dv_text = ""
            for c in rest:
                if after:
                    dv_text = c.text
                    break
                if c.text == amount_text:
                    after = True
        items.append((name, amount_text, dv_text, row.indent, row.text, False))

    depths = _depths([it[3] for it in items])
    rows: list[FactsRow] = []
    counters: list[int] = []
    ids: list[str] = []  # id of the last row at each depth
    prev_depth = -1
    for i, (name, amount_text, dv_text, _ind, text, name_only) in enumerate(items):
        depth = min(depths[i], prev_depth + 1)
        if name_only and depth == 0:
            # a line with no amount is a row only when rows are nested under it (a blend);
            # nested lines without an amount (blend members) are rows anyway
            nxt = min(depths[i + 1], depth + 1) if i + 1 < len(items) else 0
            if not nxt > depth:
                skipped.append(text)
                continue
        pa = parse_amount(amount_text)
        name = _row_name(name, pa)
        dv = parse_percent_dv(dv_text)
        if dv is None and pa is not None and not dv_text:
            dv = parse_percent_dv(pa.rest) if "%" in pa.rest else None
        del counters[depth + 1 :]
        del ids[depth:]
        while len(counters) <= depth:
            counters.append(0)
        counters[depth] += 1
        parent_id = ids[depth - 1] if depth > 0 else None
        row_id = f"{parent_id}.{counters[depth]}" if parent_id else str(counters[depth])
        ids.append(row_id)
        prev_depth = depth
        rows.append(
            FactsRow(
                row_id=row_id,
                name=name,
                depth=depth,
                parent_id=parent_id,
                amount=pa.value if pa else None,
                unit=pa.unit if pa else None,
                operator=pa.operator if pa else None,
                percent_dv=dv,
                text=text,
                amount_text=amount_text,
                dv_text=dv_text,
            )
        )

    serving = parse_serving_size(serving_text) if serving_text else None
    spc = None
    if spc_text:
        m = re.match(r"^(?:about|approx\.?|approximately|~)?\s*(" + _NUM + r")\s*$", spc_text, re.I)
        spc = _to_float(m.group(1)) if m else None
    return FactsPanel(
        kind=kind,
        via=via,
        rows=tuple(rows),
        serving_text=serving_text,
        serving=serving,
        servings_per_container_text=spc_text,
        servings_per_container=spc,
        has_title=has_title,
        has_header=has_header,
        amount_header=amount_hdr,
        dv_header=dv_hdr,
        footnotes=tuple(footnotes),
        other_ingredients=other,
        skipped=tuple(skipped),
    )


def _row_name(name: str, pa: ParsedAmount | None) -> str:
    n = _strip_markers(name).strip(" :")
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


# --------------------------------------------------------------------------- finding the panel (selectolax)


def _closest_table(node: LexborNode) -> LexborNode | None:
    p = node.parent
    while p is not None:
        if p.tag == "table":
            return p
        p = p.parent
    return None


def table_grid(table: LexborNode) -> list[GridRow]:
    """The rows of `table` (not of tables nested in it) as a grid of clean cells."""
    tid = table.mem_id
    rows: list[GridRow] = []
    raw_rows = []
    width = 0
    for tr in table.css("tr"):
        owner = _closest_table(tr)
        if owner is None or owner.mem_id != tid:
            continue
        cells: list[Cell] = []
        first_indent: dict = {}
        tr_attrs = tr.attributes
        child = tr.child
        while child is not None:
            if child.tag in ("td", "th"):
                a = child.attributes
                text, lead, styles, classes = _cell_content(child)
                try:
                    span = max(1, min(50, int(a.get("colspan") or 1)))
                except ValueError:
                    span = 1
                if not cells:
                    st = [s for s in (tr_attrs.get("style"), a.get("style")) if s] + styles
                    cl = [c for c in (tr_attrs.get("class"), a.get("class")) if c] + classes
                    first_indent = indent_of(lead, st, cl)
                cells.append(Cell(text, span, child.tag == "th"))
            child = child.next
        if cells:
            w = sum(c.colspan for c in cells)
            width = max(width, w)
            raw_rows.append((tuple(cells), first_indent))
    for cells, ind in raw_rows:
        spans = len(cells) == 1 and (cells[0].colspan >= width > 1)
        rows.append(GridRow(cells, ind, spans))
    return rows


def _short_text(node: LexborNode, limit: int, max_nodes: int = 60) -> str | None:
    """Clean text of `node` if it is at most `limit` characters, else None.

    Gives up early (None) on big subtrees: at most `max_nodes` nodes are visited.
    """
    budget = [max_nodes, 0]

    def small(n: LexborNode) -> bool:
        c = n.child
        while c is not None:
            budget[0] -= 1
            if budget[0] < 0:
                return False
            if c.tag == "-text":
                budget[1] += len((c.text_content or "").strip())
                if budget[1] > limit * 3:
                    return False
            elif c.is_element_node and c.tag not in _SKIP_TAGS and not small(c):
                return False
            c = c.next
        return True

    if not small(node):
        return None
    t = node_text(node)
    return t if len(t) <= limit else None


def _heading_before(node: LexborNode, levels: int = 2) -> bool:
    """A short "Supplement Facts" heading just before `node` (or before its parents)."""
    cur = node
    for _ in range(levels + 1):
        sib = cur.prev
        seen = 0
        while sib is not None and seen < 3:
            if sib.is_element_node:
                seen += 1
                if sib.tag not in _SKIP_TAGS:
                    t = _short_text(sib, 80)
                    if t:
                        return bool(_TITLE_RE.match(t))
                    if t is None:  # long text: not a heading
                        return False
            elif sib.tag == "-text" and clean(sib.text_content):
                t = clean(sib.text_content)
                return len(t) < 80 and bool(_TITLE_RE.match(t))
            sib = sib.prev
        cur = cur.parent
        if cur is None or cur.tag in ("body", "html"):
            break
    return False


def table_score(grid: Sequence[GridRow], heading_before: bool = False) -> tuple[bool, bool, int]:
    """(titled, has header row, rows with an amount+unit) of a candidate facts table."""
    titled = heading_before
    header = False
    amounts = 0
    for i, row in enumerate(grid):
        k = _panel_row_kind(row)
        if k == "title" or (i < 3 and any(_TITLE_RE.match(c.text) for c in row.cells if c.text)):
            titled = True
        elif k == "header":
            header = True
        elif k is None:
            if any((pa := parse_amount(c.text)) is not None and pa.unit for c in row.cells[1:]):
                amounts += 1
            elif len(row.cells) == 1 and _line_match(row.cells[0].text):
                amounts += 1
    return titled, header, amounts


_QUICK = ("supplement facts", "per serving", "daily value", "%dv", "% dv", "serving size")


def _find_table_panel(tree: LexborHTMLParser) -> tuple[LexborNode, list[GridRow], bool, int] | None:
    cands: list[tuple[tuple, LexborNode, list[GridRow]]] = []
    tables = tree.css("table")
    for order, table in enumerate(tables):
        low = (table.text(deep=True) or "").lower()
        low = low.translate(_SPACE_TRANS)
        quick = any(q in low for q in _QUICK)
        before = "supplement facts" not in low and _heading_before(table)
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
    inner = []
    for c in cands:
        nested = [n for n in c[1].css("table") if n.mem_id != c[1].mem_id and n.mem_id in ids]
        if not nested:
            inner.append(c)
    inner.sort(key=lambda c: c[0], reverse=True)
    return inner[0][1], inner[0][2], inner[0][3], len(inner)


# --- block (div) panels: lines of cells


def _is_block(node: LexborNode) -> bool:
    return node.is_element_node and node.tag in _BLOCK_TAGS


def _has_block_child(node: LexborNode) -> bool:
    c = node.child
    while c is not None:
        if c.is_element_node and c.tag not in _SKIP_TAGS and (c.tag in _BLOCK_TAGS or _has_block_child(c)):
            return True
        c = c.next
    return False


def _iter_children(node: LexborNode):
    c = node.child
    while c is not None:
        yield c
        c = c.next


def _row_cells(node: LexborNode) -> list[Cell] | None:
    """Cells of a row-like block: 2-6 leaf children, one of them (not the first) an amount or %DV."""
    kids = [c for c in _iter_children(node) if c.is_element_node and c.tag not in _SKIP_TAGS and c.tag != "br"]
    if not 2 <= len(kids) <= 6:
        return None
    if any(clean(c.text_content) for c in _iter_children(node) if c.tag == "-text"):
        return None
    if any(_has_block_child(k) for k in kids):
        return None
    cells = [Cell(node_text(k)) for k in kids]
    if any(parse_amount(c.text) is not None or parse_percent_dv(c.text) is not None for c in cells[1:]):
        return cells
    return None


def block_grid(container: LexborNode) -> list[GridRow]:
    """Lines of a div-based panel (or a site's hint node) as grid rows.

    A block whose children are 2-6 leaf elements with an amount among them is one row with
    those cells; any other leaf block is one single-cell line; lists nest ("list" indent).
    """
    rows: list[GridRow] = []

    def indent(node: LexborNode, list_depth: int) -> tuple[str, dict]:
        text, lead, styles, classes = _cell_content(node)
        a = node.attributes
        st = [x for x in (a.get("style"),) if x] + styles
        cl = [x for x in (a.get("class"),) if x] + classes
        ind = indent_of(lead, st, cl)
        if list_depth > 1:
            ind["list"] = float(list_depth - 1)
        return text, ind

    def walk(node: LexborNode, list_depth: int) -> None:
        for child in _iter_children(node):
            if child.tag == "-text":
                t = clean(child.text_content)
                if t:
                    rows.append(GridRow((Cell(t),), {}, True))
                continue
            if not child.is_element_node or child.tag in _SKIP_TAGS:
                continue
            if child.tag == "table":
                rows.extend(table_grid(child))
                continue
            if child.tag in ("ul", "ol"):
                walk(child, list_depth + 1)
                continue
            cells = _row_cells(child)
            if cells is not None:
                _, ind = indent(child, list_depth)
                rows.append(GridRow(tuple(cells), ind, False))
                continue
            if not _has_block_child(child):
                text, ind = indent(child, list_depth)
                if text:
                    rows.append(GridRow((Cell(text),), ind, True))
                continue
            if child.tag == "li":
                # the item's own text first, then its nested blocks
                own = [c for c in _iter_children(child) if not _is_block(c) and c.tag not in ("ul", "ol")]
                t = clean(" ".join((c.text_content or "") if c.tag == "-text" else node_text(c) for c in own))
                if t:
                    rows.append(GridRow((Cell(t),), {"list": float(list_depth - 1)} if list_depth > 1 else {}, True))
                for c in _iter_children(child):
                    if _is_block(c) or c.tag in ("ul", "ol"):
                        if c.tag in ("ul", "ol"):
                            walk(c, list_depth + 1)
                        else:
                            walk_one(c, list_depth)
                continue
            walk(child, list_depth)

    def walk_one(node: LexborNode, list_depth: int) -> None:
        cells = _row_cells(node)
        if cells is not None:
            rows.append(GridRow(tuple(cells), indent(node, list_depth)[1], False))
        elif not _has_block_child(node):
            text, ind = indent(node, list_depth)
            if text:
                rows.append(GridRow((Cell(text),), ind, True))
        else:
            walk(node, list_depth)

    walk(container, 0)
    return rows


_HEADING_SEL = "h1,h2,h3,h4,h5,h6,strong,b,dt,th,caption,summary,legend,label"
_INLINE_HEADS = frozenset({"strong", "b", "label", "span", "em"})
_BLOCK_HEADS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "dt", "th", "caption", "summary", "legend"})


def _find_block_panel(tree: LexborHTMLParser) -> tuple[LexborNode, list[GridRow]] | None:
    heads = [n for n in tree.css('*:lexbor-contains("supplement facts" i)') if n.tag not in _SKIP_TAGS]
    for h in heads:
        t = _short_text(h, 60)
        if not (t and _TITLE_RE.match(t)):
            continue
        if _closest_table(h) is not None:
            continue
        cur = h
        for _ in range(5):
            cur = cur.parent
            if cur is None or cur.tag in ("body", "html"):
                break
            grid = block_grid(cur)
            if table_score(grid, True)[2] >= 1:
                return cur, grid
    return None


@dataclass(frozen=True)
class PanelHit:
    panel: FactsPanel
    node: LexborNode  # the table / block the panel was read from
    candidates: int  # how many candidate panels the page had (the best one is used)


def locate_facts_panel(tree: LexborHTMLParser, site: sites.Site | None = None) -> PanelHit | None:
    """The page's facts panel: generic table finder, then block finder, then the site's hint."""
    found = _find_table_panel(tree)
    if found is not None:
        node, grid, before, n = found
        return PanelHit(read_panel(grid, kind="table", via="generic", titled=before), node, n)
    block = _find_block_panel(tree)
    if block is not None:
        return PanelHit(read_panel(block[1], kind="block", via="generic", titled=True), block[0], 1)
    if site is not None:
        for node in site.facts_panel_hints(tree):
            is_table = node.tag == "table"
            grid = table_grid(node) if is_table else block_grid(node)
            if table_score(grid)[2] >= 1:
                return PanelHit(read_panel(grid, kind="table" if is_table else "block", via="site"), node, 1)
    return None


def find_facts_panel(tree: LexborHTMLParser, site: sites.Site | None = None) -> FactsPanel | None:
    hit = locate_facts_panel(tree, site)
    return hit.panel if hit else None


def extract_facts(html: str | bytes) -> FactsPanel | None:
    """Only the facts panel of a page (what the benchmark times)."""
    return find_facts_panel(LexborHTMLParser(_parser_input(html)))


# --------------------------------------------------------------------------- sections by heading

_SUGGESTED_RE = re.compile(
    r"^(?:suggested\s+(?:use|usage|dose|dosage)|directions(?:\s+(?:for|of)\s+use)?|recommended\s+(?:use|usage|dose|dosage)"
    r"|how\s+to\s+(?:use|take)|dosage|usage)\s*:?$",
    re.I,
)
_OTHER_HEAD_RE = re.compile(r"^(?:other|inactive)\s+ingredients?\s*:?$", re.I)


def _ancestors(node: LexborNode) -> list[int]:
    out = []
    p = node
    while p is not None:
        out.append(p.mem_id)
        p = p.parent
    return out


def _closeness(node: LexborNode, anchor_ids: dict[int, int] | None) -> int:
    """Depth of the deepest common ancestor with the anchor (higher = closer)."""
    if not anchor_ids:
        return 0
    p = node
    while p is not None:
        d = anchor_ids.get(p.mem_id)
        if d is not None:
            return d
        p = p.parent
    return 0


def _section_text(head: LexborNode) -> tuple[str, LexborNode | None]:
    """Text under a heading: rest of its own paragraph, else the next block after it."""
    # inline: <p><strong>Other Ingredients</strong><br>text</p>
    parts: list[str] = []
    inline_head = head.tag in _INLINE_HEADS and (head.parent is None or head.parent.tag not in _BLOCK_HEADS)
    sib = head.next if inline_head else None
    while sib is not None:
        if sib.is_element_node and sib.tag in _INLINE_HEADS | _BLOCK_HEADS:
            t = _short_text(sib, 60) or ""
            if _OTHER_HEAD_RE.match(t) or _SUGGESTED_RE.match(t) or re.match(r"^[\w ]{0,30}ingredients?\s*:?$", t, re.I):
                break
        if sib.tag == "-text":
            parts.append(sib.text_content or "")
        elif sib.tag == "br":
            parts.append("\n")
        elif sib.is_element_node and sib.tag not in _SKIP_TAGS:
            parts.append(node_text(sib, lines=True))
        sib = sib.next
    inline = "\n".join(ln for ln in (clean(x) for x in "".join(parts).split("\n")) if ln).strip(" :")
    if inline:
        return inline, None
    # block: <h3><strong>Suggested use</strong></h3><div>text</div>
    cur = head
    for _ in range(3):
        nxt = cur.next
        while nxt is not None and not nxt.is_element_node:
            if nxt.tag == "-text" and clean(nxt.text_content):
                break
            nxt = nxt.next
        if nxt is not None:
            if nxt.tag == "-text":
                return clean(nxt.text_content), None
            if nxt.tag not in _SKIP_TAGS:
                return node_text(nxt, lines=True), nxt
        cur = cur.parent
        if cur is None or cur.tag in ("body", "html"):
            break
    return "", None


def _find_section(tree: LexborHTMLParser, head_re: re.Pattern, heads: list[LexborNode], anchor: LexborNode | None) -> str | None:
    cands = []
    for h in heads:
        t = _short_text(h, 60)
        if t and head_re.match(t):
            cands.append(h)
    if not cands:
        return None
    anchor_ids = None
    if anchor is not None:
        anc = _ancestors(anchor)
        anchor_ids = {mid: len(anc) - i for i, mid in enumerate(anc)}
    results = []
    for order, h in enumerate(cands):
        text, region = _section_text(h)
        if not text:
            continue
        if region is not None:
            rid = region.mem_id
            # skip an outer heading whose region holds a more specific heading of the same kind
            if any(o is not h and rid in _ancestors(o)[1:] for o in cands):
                continue
        results.append((_closeness(h, anchor_ids), -order, text))
    if not results:
        return None
    results.sort(reverse=True)
    return results[0][2]


def split_ingredient_list(text: str | None) -> list[str]:
    """"A (x, y), B, and C." -> ["A (x, y)", "B", "C"] (commas/semicolons outside parentheses)."""
    if not text:
        return []
    lines = [ln for ln in (clean(x) for x in text.split("\n")) if ln]
    if not lines:
        return []
    s = _OTHER_RE.sub("", lines[0])
    items: list[str] = []
    buf: list[str] = []
    depth = 0
    for ch in s:
        if ch in "([":
            depth += 1
        elif ch in ")]" and depth:
            depth -= 1
        if ch in ",;" and depth == 0:
            items.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    items.append("".join(buf))
    out = []
    for it in items:
        it = clean(it)
        it = re.sub(r"^(?:and|&)\s+", "", it, flags=re.I)
        it = it.rstrip(" .")
        it = _strip_markers(it)
        if it and len(it) <= 150:
            out.append(it)
    return out


# --------------------------------------------------------------------------- page


@dataclass(frozen=True)
class PageExtraction:
    label: Label
    identity: ProductIdentity
    facts_found: bool
    reason: str | None  # why no facts: "no_facts_panel", "facts_panel_without_rows", "facts_image_only"
    panel: FactsPanel | None
    site: str  # "generic" or the registered site's name
    canonical_url: str | None
    suggested_use: str | None = None
    daily_servings: tuple[float, float] | None = None
    other_ingredients: str | None = None
    panels_seen: int = 0
    notes: tuple[str, ...] = ()


_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w.:-]+)""", re.I)


def _parser_input(data: str | bytes) -> str | bytes:
    """What to hand to lexbor: UTF-8 bytes as they are (lexbor decodes them faster than Python
    does, replacing bad sequences), other encodings decoded first."""
    if isinstance(data, str):
        return data
    if data.startswith(codecs.BOM_UTF8):
        return data[3:]
    m = _CHARSET_RE.search(data[:8192])
    if m is None or m.group(1).lower().replace(b"_", b"-") in (b"utf-8", b"utf8"):
        return data
    return _decode(data)


def _decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    m = _CHARSET_RE.search(data[:8192])
    if m:
        try:
            return data.decode(m.group(1).decode("ascii"), "replace")
        except (LookupError, UnicodeDecodeError):
            pass
    return data.decode("cp1252", "replace")


def _host(url: str | None) -> str | None:
    if not url:
        return None
    try:
        h = urlsplit(url).hostname
    except ValueError:
        return None
    return h.lower() if h else None


def parse_page(html: str | bytes, *, url: str | None = None, raw_sha256: str | None = None) -> PageExtraction:
    """One product page -> `PageExtraction` (the `Label` and what was found).

    `url` is where the page was fetched; the canonical URL (``<link rel=canonical>``, else
    ``og:url``) wins for `Label.url`, `Label.source` (its host) and the product id. When
    `raw_sha256` is not given and `html` is bytes, it is the sha256 of those bytes.
    """
    if raw_sha256 is None and isinstance(html, bytes):
        raw_sha256 = hashlib.sha256(html).hexdigest()
    tree = LexborHTMLParser(_parser_input(html))
    canon = canonical_url(tree, url)
    host = _host(canon) or _host(url)
    site = sites.for_host(host)
    identity = extract_identity(tree, url=url, canonical=canon)
    notes: list[str] = []

    hit = locate_facts_panel(tree, site)
    panel = hit.panel if hit else None
    n_panels = hit.candidates if hit else 0
    if n_panels > 1:
        notes.append(f"{n_panels} candidate facts panels; used the best one")
    anchor = hit.node if hit else None

    heads = tree.css(_HEADING_SEL)
    suggested = site.suggested_use(tree) or _find_section(tree, _SUGGESTED_RE, heads, anchor)
    other_text = (panel.other_ingredients if panel else None) or site.other_ingredients(tree) or _find_section(
        tree, _OTHER_HEAD_RE, heads, anchor
    )

    facts_found = panel is not None and len(panel.rows) > 0
    if facts_found:
        reason = None
    elif panel is not None:
        reason = "facts_panel_without_rows"
    elif tree.css_first('img[alt*="supplement facts" i], img[alt*="nutrition facts" i], img[src*="supplement-facts" i]'):
        reason = "facts_image_only"
    else:
        reason = "no_facts_panel"

    serving = panel.serving if panel else None
    serv_q = serving.min_quantity if serving and serving.min_quantity == serving.max_quantity else None
    daily = parse_daily_servings(suggested, serv_q, serving.unit if serving else None) if serving else None
    servings: tuple[ServingSize, ...] = ()
    if serving is not None:
        servings = (
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

    rows: list[LabelRow] = []
    if panel is not None:
        for r in panel.rows:
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

    source_id = (
        site.product_id(canon)
        or site.product_id(url)
        or identity.product_id
        or identity.sku
        or identity.gtin
        or (hashlib.sha256((canon or url).encode()).hexdigest()[:16] if (canon or url) else None)
        or (raw_sha256[:16] if raw_sha256 else "unknown")
    )
    upc = identity.gtin if identity.gtin and identity.gtin.isdigit() else None
    label = Label(
        source=host or "web",
        source_id=source_id,
        brand=identity.brand,
        product_name=identity.name,
        rows=tuple(rows),
        servings=servings,
        raw_sha256=raw_sha256,
        url=canon or url,
        upc=upc,
        dosage_form=dosage_form_of(serving.unit) if serving else None,
        servings_per_container=panel.servings_per_container if panel else None,
        daily_servings_known=daily is not None,
        price=identity.price,
        currency=identity.currency,
        extra={
            "front_end": "html",
            "site": site.name,
            "serving_text": panel.serving_text if panel else None,
            "servings_per_container_text": panel.servings_per_container_text if panel else None,
            "suggested_use": suggested,
            "footnotes": list(panel.footnotes) if panel else [],
            "sku": identity.sku,
            "mpn": identity.mpn,
            "gtin_kind": identity.gtin_kind,
            "list_price": identity.list_price,
            "facts_found": facts_found,
            "facts_reason": reason,
        },
    )
    return PageExtraction(
        label=label,
        identity=identity,
        facts_found=facts_found,
        reason=reason,
        panel=panel,
        site=site.name,
        canonical_url=canon,
        suggested_use=suggested,
        daily_servings=daily,
        other_ingredients=other_text,
        panels_seen=n_panels,
        notes=tuple(notes),
    )

