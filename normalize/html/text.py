"""Pre-processing: page bytes -> parser input, and visible text of a node (clean, one line or lines).

Every walker here is iterative (an explicit stack): pages nested thousands of elements deep are
read like any other page instead of exhausting Python's recursion limit.
"""
from __future__ import annotations

import codecs
import re
from collections.abc import Iterator

from selectolax.lexbor import LexborNode

SPACE_CHARS = "\xa0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
SPACE_TRANS = {ord(c): " " for c in SPACE_CHARS} | {ord("\u200b"): "", ord("\ufeff"): ""}
_MARKER_RE = re.compile(r"[†‡*§¶]+")
_WS_RE = re.compile(r"\s+")
_LEAD_RE = re.compile(r"[\s" + SPACE_CHARS + r"]*")

BLOCK_TAGS = frozenset(
    "address article aside blockquote dd div dl dt fieldset figcaption figure footer form h1 h2 h3 "
    "h4 h5 h6 header hr li main nav ol p pre section table tbody thead tfoot tr td th ul caption "
    "summary details".split()
)
SKIP_TAGS = frozenset({"script", "style", "template", "noscript", "svg", "button", "select", "iframe"})


def clean(text: str | None) -> str:
    """nbsp and other spaces -> " ", runs of whitespace collapsed, stripped."""
    if not text:
        return ""
    return _WS_RE.sub(" ", text.translate(SPACE_TRANS)).strip()


def strip_markers(text: str) -> str:
    """Footnote markers (†‡*§¶) out of `text`, cleaned."""
    return clean(_MARKER_RE.sub(" ", text))


def iter_children(node: LexborNode) -> Iterator[LexborNode]:
    c = node.child
    while c is not None:
        yield c
        c = c.next


def _pieces(node: LexborNode, brk: str, br: str) -> Iterator[tuple[str, LexborNode | None]]:
    """Depth-first pieces of `node`'s visible text: (text, None), or ("", element) on entering an
    element. ``<br>`` gives `br`, the edges of a block element give `brk`."""
    stack: list[LexborNode | str] = list(reversed(list(iter_children(node))))
    while stack:
        item = stack.pop()
        if isinstance(item, str):  # a block's closing boundary
            yield item, None
            continue
        tag = item.tag
        if tag == "-text":
            yield item.text_content or "", None
        elif tag == "br":
            yield br, None
        elif item.is_element_node and tag not in SKIP_TAGS:
            yield "", item
            block = tag in BLOCK_TAGS
            if block:
                yield brk, None
                stack.append(brk)
            stack.extend(reversed(list(iter_children(item))))


def node_text(node: LexborNode, *, lines: bool = False) -> str:
    """Visible text of `node`; ``<br>`` and block boundaries become a space (or "\\n")."""
    brk = "\n" if lines else " "
    s = "".join(t for t, el in _pieces(node, brk, brk) if el is None)
    if lines:
        return "\n".join(ln for ln in (clean(x) for x in s.split("\n")) if ln)
    return clean(s)


def cell_content(node: LexborNode) -> tuple[str, str, list[str], list[str]]:
    """(clean text, raw leading whitespace, styles and classes seen before the first visible text)."""
    parts: list[str] = []
    styles: list[str] = []
    classes: list[str] = []
    seen = False
    for text, el in _pieces(node, " ", "\n"):
        if el is None:
            parts.append(text)
            if not seen and clean(text):
                seen = True
            continue
        if not seen:
            a = el.attributes
            style, cls = a.get("style"), a.get("class")
            if style:
                styles.append(style)
            if cls:
                classes.append(cls)
    raw = "".join(parts)
    m = _LEAD_RE.match(raw)
    return clean(raw), m.group(0) if m else "", styles, classes


# --------------------------------------------------------------------------- bytes -> parser input

_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w.:-]+)""", re.I)


def parser_input(data: str | bytes) -> str | bytes:
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
