"""Parse: Suggested Use and Other Ingredients, read under their own headings.

When a heading occurs several times, the one closest to the facts panel in the document tree
wins (a combo offer or a review repeating "Other ingredients" is further away).
"""
from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

from .locate import short_text
from .panel import OTHER_RE
from .text import SKIP_TAGS, clean, node_text, strip_markers

HEADING_SEL = "h1,h2,h3,h4,h5,h6,strong,b,dt,th,caption,summary,legend,label"
_INLINE_HEADS = frozenset({"strong", "b", "label", "span", "em"})
_BLOCK_HEADS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "dt", "th", "caption", "summary", "legend"})

SUGGESTED_RE = re.compile(
    r"^(?:suggested\s+(?:use|usage|dose|dosage)|directions(?:\s+(?:for|of)\s+use)?|recommended\s+(?:use|usage|dose|dosage)"
    r"|how\s+to\s+(?:use|take)|dosage|usage)\s*:?$",
    re.I,
)
OTHER_HEAD_RE = re.compile(r"^(?:other|inactive)\s+ingredients?\s*:?$", re.I)
_ANY_INGREDIENTS_HEAD = re.compile(r"^[\w ]{0,30}ingredients?\s*:?$", re.I)
# Headings of one kind considered (in document order): real pages have a few; thousands are
# hostile markup, and comparing every pair of them would be quadratic.
MAX_SECTION_HEADINGS = 16


def _ancestors(node: LexborNode) -> list[int]:
    out = []
    p: LexborNode | None = node
    while p is not None:
        out.append(p.mem_id)
        p = p.parent
    return out


def _closeness(node: LexborNode, anchor_ids: dict[int, int] | None) -> int:
    """Depth of the deepest common ancestor with the anchor (higher = closer)."""
    if not anchor_ids:
        return 0
    p: LexborNode | None = node
    while p is not None:
        d = anchor_ids.get(p.mem_id)
        if d is not None:
            return d
        p = p.parent
    return 0


def _is_next_heading(node: LexborNode) -> bool:
    if not (node.is_element_node and node.tag in _INLINE_HEADS | _BLOCK_HEADS):
        return False
    t = short_text(node, 60) or ""
    return bool(OTHER_HEAD_RE.match(t) or SUGGESTED_RE.match(t) or _ANY_INGREDIENTS_HEAD.match(t))


def _inline_text(head: LexborNode) -> str:
    """Text after an inline heading in its own paragraph: <p><strong>Other Ingredients</strong><br>text</p>."""
    if head.tag not in _INLINE_HEADS or (head.parent is not None and head.parent.tag in _BLOCK_HEADS):
        return ""
    parts: list[str] = []
    sib = head.next
    while sib is not None and not _is_next_heading(sib):
        if sib.tag == "-text":
            parts.append(sib.text_content or "")
        elif sib.tag == "br":
            parts.append("\n")
        elif sib.is_element_node and sib.tag not in SKIP_TAGS:
            parts.append(node_text(sib, lines=True))
        sib = sib.next
    return "\n".join(ln for ln in (clean(x) for x in "".join(parts).split("\n")) if ln).strip(" :")


def _next_block_text(head: LexborNode) -> tuple[str, LexborNode | None]:
    """The next block after a heading (or after its parents): <h3>Suggested use</h3><div>text</div>."""
    cur: LexborNode | None = head
    for _ in range(3):
        assert cur is not None
        nxt = cur.next
        while nxt is not None and not nxt.is_element_node:
            if nxt.tag == "-text" and clean(nxt.text_content):
                break
            nxt = nxt.next
        if nxt is not None:
            if nxt.tag == "-text":
                return clean(nxt.text_content), None
            if nxt.tag not in SKIP_TAGS:
                return node_text(nxt, lines=True), nxt
        cur = cur.parent
        if cur is None or cur.tag in ("body", "html"):
            break
    return "", None


def _section_text(head: LexborNode) -> tuple[str, LexborNode | None]:
    """Text under a heading: rest of its own paragraph, else the next block after it."""
    inline = _inline_text(head)
    if inline:
        return inline, None
    return _next_block_text(head)


def find_section(head_re: re.Pattern, heads: list[LexborNode], anchor: LexborNode | None) -> str | None:
    """Text under the heading matching `head_re` that is closest to `anchor` (the facts panel)."""
    cands = [h for h in heads if (t := short_text(h, 60)) and head_re.match(t)][:MAX_SECTION_HEADINGS]
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
        # skip an outer heading whose region holds a more specific heading of the same kind
        if region is not None and any(o is not h and region.mem_id in _ancestors(o)[1:] for o in cands):
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
    s = OTHER_RE.sub("", lines[0])
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
        it = re.sub(r"^(?:and|&)\s+", "", clean(it), flags=re.I).rstrip(" .")
        it = strip_markers(it)
        if it and len(it) <= 150:
            out.append(it)
    return out
