"""Parse: serving size ("2 Capsules", "1 Scoop (5.2 g)"), dosage form, daily servings from Suggested Use."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .amounts import to_float
from .text import clean

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
_FRACTION = re.compile(r"(?:([0-9]+)\s+)?([0-9]+)/([0-9]+)")
_DECIMAL_COMMA = re.compile(r"[0-9]+,[0-9]+")


def _words_to_digits(text: str) -> str:
    """"two (2) capsules" -> "2 capsules"; "two capsules" -> "2 capsules"."""
    return _WORD_NUM_RE.sub(lambda m: m.group(2) or str(_WORD_NUMS[m.group(1).lower()]), text)


def _qty(text: str | None) -> float | None:
    if not text:
        return None
    t = text.strip()
    if t in _WORD_NUMS:
        return float(_WORD_NUMS[t])
    m = _FRACTION.fullmatch(t)
    if m:
        den = int(m.group(3))
        if den == 0:
            return None
        return (int(m.group(1) or 0)) + int(m.group(2)) / den
    return to_float(t.replace(",", ".") if _DECIMAL_COMMA.fullmatch(t) else t)


def _singular(word: str) -> str:
    low = word.lower()
    if low.endswith("ies") and len(low) > 4:
        return word[:-3] + "y"
    if low.endswith("s") and not low.endswith("ss") and len(low) > 2:
        return word[:-1]
    return word


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
        last = words[-1].lower()
        if last in _UNIT_ABBR and len(words) > 1:
            words[-1] = _UNIT_ABBR[last]
        else:
            words[-1] = _singular(words[-1])
    last = words[-1].lower()
    suffix = "(ies)" if last.endswith("y") and not last.endswith(("ay", "ey", "oy", "uy")) else "(s)"
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
    t = _words_to_digits(s)
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
_OTHER_PERIOD = re.compile(r"\b(?:take|week|month|hour)", re.I)
_UNIT_STEM = {
    "caps": "capsule", "cap": "capsule", "vcap": "capsule", "vcaps": "capsule", "vegicap": "capsule",
    "vegicaps": "capsule", "tabs": "tablet", "tab": "tablet", "gummies": "gummy", "tsp": "teaspoon",
    "tbsp": "tablespoon", "g": "gram", "grams": "gram", "droppersful": "dropper", "dropperful": "dropper",
}
_NAMED_TIMES = {"once": 1.0, "twice": 2.0, "thrice": 3.0}


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
    for word, n in _NAMED_TIMES.items():
        if t.startswith(word):
            return (n, n)
    vals = [v for v in (_qty(n) for n in re.findall(_QTY, t)) if v is not None]
    if not vals:
        return None
    return (min(vals), max(vals))


def _daily_range(m: re.Match, serving_quantity: float | None, serving_unit: str | None) -> tuple[float, float] | None:
    """Servings a day from one "take N <unit> ... daily" match, or None when it does not apply."""
    if _OTHER_PERIOD.search(m.group("mid") or ""):
        return None
    q1, q2 = _qty(m.group("q1")), _qty(m.group("q2"))
    if not q1:  # None, or "take 0 capsules": no dose to scale by
        return None
    q2 = q1 if q2 is None else q2
    times = _times(m.group("times"))
    if times is None or times[0] <= 0:  # "0 times daily" is no dose either
        return None
    ustem = _stem(m.group("unit"))
    if ustem == "serving":
        lo, hi = q1 * times[0], q2 * times[1]
    else:
        if not serving_quantity or not serving_unit or _stem(serving_unit) != ustem:
            return None
        lo, hi = q1 * times[0] / serving_quantity, q2 * times[1] / serving_quantity
    return (min(lo, hi), max(lo, hi))


def parse_daily_servings(
    text: str | None, serving_quantity: float | None, serving_unit: str | None
) -> tuple[float, float] | None:
    """Daily servings from Suggested Use: "Take 2 capsules daily" with a 2-capsule serving -> (1, 1).

    Conservative: only "take N <unit> [once|twice|N times] daily|a day|per day" sentences whose
    unit is the serving's unit (or "serving(s)"); anything else -> None. "Take 0 ..." / "0 times" is no dose.
    """
    if not text:
        return None
    t = _words_to_digits(clean(text))
    found = [r for r in (_daily_range(m, serving_quantity, serving_unit) for m in _USE_RE.finditer(t)) if r]
    if not found:
        return None
    return (min(f[0] for f in found), max(f[1] for f in found))
