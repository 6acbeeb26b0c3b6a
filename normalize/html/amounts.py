"""Parse: one cell's amount ("120 mg (as X)", "<1 g", "1,000 IU") and %DV ("25%", "†") text."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .text import clean, strip_markers

# a number: 1,000 / 1,000.5 (thousands), 2,5 (decimal comma), 12 / 12.5 / .5
NUM = r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?(?![0-9])|[0-9]+,[0-9]{1,2}(?![0-9])|[0-9]+(?:\.[0-9]+)?|\.[0-9]+"
UNIT = (
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
    r"(?P<num>" + NUM + r")(?P<unit>\s*" + UNIT + r")?(?P<rest>.*)$",
    re.I | re.S,
)
_RANGE_AFTER = re.compile(r"^\s*(?:-|–|—|to)\s*[0-9.]", re.I)
_SOURCE_NOTE = re.compile(r"^(?:as|from|providing|supplying|yielding|derived from|in the form of|in)\b", re.I)
_DECIMAL_COMMA = re.compile(r"[0-9]+,[0-9]{1,2}")


def to_float(num: str) -> float | None:
    """A matched NUM as a finite, non-negative float ("2,5" -> 2.5, "1,000" -> 1000.0)."""
    if _DECIMAL_COMMA.fullmatch(num):
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
    base = strip_markers(base)
    m = _AMOUNT_RE.match(base)
    if not m:
        return None
    rest = m.group("rest") or ""
    if _RANGE_AFTER.match(rest):
        return None
    value = to_float(m.group("num"))
    if value is None:
        return None
    unit = clean(m.group("unit")) or None
    op_raw = clean(m.group("op") or "").lower()
    op = _OPS.get(op_raw, "=") if op_raw else "="
    notes = tuple(g for g in groups if _SOURCE_NOTE.match(g))
    alts = tuple(g for g in groups if not _SOURCE_NOTE.match(g))
    return ParsedAmount(value, unit, op, notes, alts, clean(rest))


def has_unit_amount(text: str) -> bool:
    """An amount with a unit ("105 mg"), not a bare number."""
    pa = parse_amount(text)
    return pa is not None and pa.unit is not None


_DV_RE = re.compile(r"(?P<op><|≤|less than)?\s*(?P<num>" + NUM + r")\s*%", re.I)
_BARE_NUM = re.compile(r"^\s*(?P<num>" + NUM + r")\s*$")


def parse_percent_dv(text: str | None) -> float | None:
    """"25%" -> 25.0, "<1%" -> 1.0; blank, "†", "*", "**" (no DV established) -> None."""
    if not text:
        return None
    s = strip_markers(clean(text))
    m = _DV_RE.search(s) or _BARE_NUM.match(s)
    return to_float(m.group("num")) if m else None
