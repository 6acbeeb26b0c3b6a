"""Which label versions are one product: DSLD labelRelationships, else brand + UPC, else brand +
normalised name. Computed per label (no look at other labels), so every batch agrees."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from .model import Label

_MARKS = re.compile(r"[®™©]|\b(?:inc|llc|ltd|co)\b\.?")
_NON_WORD = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=1 << 14)  # brands repeat across labels
def _norm(text: str | None) -> str:
    folded = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode().lower()
    folded = _MARKS.sub(" ", folded)
    return _NON_WORD.sub(" ", folded).strip()


_NON_DIGIT = re.compile(r"\D")


def _upc_digits(upc: str | None) -> str | None:
    # DSLD writes "0 33984 00039 1" (isdecimal: exactly the characters \d matches); short or
    # all-zero strings are not product codes
    text = upc or ""
    spaced = text.replace(" ", "") if isinstance(text, str) else ""
    digits = spaced if spaced.isdecimal() else _NON_DIGIT.sub("", text)
    return digits if len(digits) >= 8 and digits.strip("0") else None


def product_key(label: Label) -> str:
    """'dsld:<lowest related id>', 'upc:<brand>|<digits>' or 'name:<brand>|<name>'."""
    return key_of(label.source, label.source_id, label.brand, label.upc, label.product_name,
                  label.extra.get("related_ids") or ())


def key_of(source: str, source_id: str, brand: str | None, upc: str | None, product_name: str | None,
           related: tuple | list = ()) -> str:
    """``product_key`` from the label's values (for a front end that builds no Label)."""
    if source == "dsld" and related:
        ids = [int(i) for i in (source_id, *related) if str(i).isdigit()]
        if ids:
            return f"dsld:{min(ids)}"
    digits = _upc_digits(upc)
    if digits:
        return f"upc:{_norm(brand)}|{digits}"
    return f"name:{_norm(brand)}|{_norm(product_name) or source + ':' + source_id}"


def on_market(label: Label) -> bool | None:
    """From the source's off-market marker; None when the source does not say."""
    off = label.extra.get("off_market")
    return None if off is None else not bool(off)
