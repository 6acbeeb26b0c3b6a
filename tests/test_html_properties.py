"""No page stops a run: generated Supplement Facts tables and hostile markup through parse -> normalise.

The tables are built from real iHerb row wordings and serving texts
(tests/fixtures/html/iherb_row_wordings.json, see SOURCES.md there), then varied the way broken
pages vary: odd nesting around the panel and inside cells, empty and missing cells, colspans,
huge and zero numbers, zero serving sizes and "take 0" directions. Every example must give a
`Label` (never an exception) whose numbers are finite and non-negative, and no row the normaliser
quarantines may yield a magnesium number.

Deterministic: derandomized, no example database. Default 100 examples; CI runs
CI=true or MAGLABELS_HYPOTHESIS_PROFILE=ci (10,000; the profile is in tests/conftest.py).
"""
from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from maglabels.normalize.batch import normalize_labels
from maglabels.normalize.html import SERVING_SIZE_ZERO, parse_page
from maglabels.normalize.model import Label

from tests.conftest import MULTI_PAGE

WORDINGS = json.loads((Path(__file__).parent / "fixtures" / "html" / "iherb_row_wordings.json").read_text("utf-8"))
REAL_ROWS = [tuple(r) for r in WORDINGS["magnesium_rows"] + WORDINGS["other_rows"]]
MG_ROWS = [tuple(r) for r in WORDINGS["magnesium_rows"]]

# --------------------------------------------------------------------------- strategies

numbers = st.one_of(
    st.integers(0, 2000).map(str),
    st.integers(0, 10**40).map(str),  # huge
    st.decimals(0, 10_000, places=3, allow_nan=False, allow_infinity=False).map(str),
    st.sampled_from(["0", "0.0", ".5", "1,000", "1,000,000,000", "2,5", "-5", "1e308", "NaN", "inf", "10-20", "½"]),
)
units = st.sampled_from(["mg", "mcg", "g", "IU", "µg", "mcg DFE", "%", "billion CFU", "", "Gram(s)", "kg", "mg elemental"])
generated_amount = st.builds(lambda n, u, op: f"{op}{n} {u}".strip(), numbers, units, st.sampled_from(["", "<", "less than "]))
amount_text = st.one_of(generated_amount, st.sampled_from(["", "†", "*", "105 mg (as Magnesium Oxide)", "0 mg"]))
dv_text = st.one_of(numbers.map(lambda n: f"{n}%"), st.sampled_from(["", "†", "**", "<1%", "0%"]), st.text(max_size=5))
name_text = st.one_of(st.sampled_from([r[0] for r in REAL_ROWS]), st.text(max_size=20))
# markup a cell's content sits in (odd nesting included)
wrap = st.sampled_from([
    "{}", "<span>{}</span>", "<b>{}</b>", "<div>{}</div>", "<p>{}</p>", "{}<br>", "&nbsp;&nbsp;{}",
    "<span><span><span>{}</span></span></span>", "<div><div><div><div>{}</div></div></div></div>",
    '<span style="padding-left: 20px">{}</span>', "<table><tr><td>{}</td></tr></table>", "<!-- x -->{}",
])


@st.composite
def facts_row(draw) -> list[str]:
    """One row's cells: a real row (name, amount, %DV), or one with generated parts; cells may be empty or missing."""
    name, amount, dv = draw(st.sampled_from(REAL_ROWS))
    dv = "" if dv is None else f"{dv}%"
    if draw(st.booleans()):
        amount = draw(amount_text)
    if draw(st.booleans()):
        dv = draw(dv_text)
    if draw(st.integers(0, 4)) == 0:
        name = draw(name_text)
    cells = [name, amount, dv][: draw(st.integers(1, 3))]
    return [draw(wrap).format(c) for c in cells]


serving_text = st.one_of(
    st.sampled_from(WORDINGS["serving_texts"]),
    st.sampled_from(["0 Capsules", "0", "0.0 Tablets", "0/1 Scoop", "0 - 0 Softgels", "", "two (2) Capsules",
                     "99999999999999999999999 Capsules", "1/0 Scoop", "½ tsp"]),
)
suggested = st.builds(
    "Take {} {} {} daily.".format,
    st.sampled_from(["0", "1", "2", "zero", "two", "1-2", "0-0", "100000000000000000000"]),
    st.sampled_from(["capsules", "tablets", "servings", "scoops", "softgels"]),
    st.sampled_from(["", "once", "twice", "0 times", "3 times"]),
)


def _table(rows: list[list[str]], serving: str, spc: str, header: bool, colspan: int) -> str:
    head = '<tr><td colspan="3"><strong>Supplement Facts</strong></td></tr>'
    head += f'<tr><td colspan="{colspan}"><strong>Serving Size:&nbsp;</strong>{serving}</td></tr>'
    head += f'<tr><td colspan="3"><strong>Servings Per Container:&nbsp;</strong>{spc}</td></tr>'
    if header:
        head += "<tr><td>&nbsp;</td><td><strong>Amount Per Serving</strong></td><td><strong>%Daily Value</strong></td></tr>"
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tbody>{head}{body}<tr><td colspan=\"3\">† Daily Value not established.</td></tr></tbody></table>"


def _block(rows: list[list[str]], serving: str, spc: str, header: bool, colspan: int) -> str:
    lines = "".join("<div>" + "".join(f"<span>{c}</span>" for c in r) + "</div>" for r in rows)
    return f"<div><h3>Supplement facts</h3><p>Serving Size: {serving}</p><p>Servings Per Container: {spc}</p>{lines}</div>"


def _list(rows: list[list[str]], serving: str, spc: str, header: bool, colspan: int) -> str:
    items = "".join(f"<li>{' '.join(r)}<ul><li>{' '.join(r[:1])}</li></ul></li>" for r in rows)
    return f"<section><h3>Supplement facts</h3><p>Serving Size: {serving}</p><ul>{items}</ul></section>"


@st.composite
def product_page(draw) -> tuple[str, str | None]:
    rows = draw(st.lists(facts_row(), max_size=12))
    if draw(st.booleans()):  # make sure a magnesium row is in play
        name, amount, dv = draw(st.sampled_from(MG_ROWS))
        rows.insert(draw(st.integers(0, len(rows))), [name, amount, "" if dv is None else f"{dv}%"])
    layout = draw(st.sampled_from([_table, _block, _list]))
    panel = layout(rows, draw(serving_text), draw(st.sampled_from(["30", "0", "", "about 60", "9" * 30])),
                   draw(st.booleans()), draw(st.integers(0, 60)))
    depth = draw(st.integers(0, 40))  # odd nesting around the panel
    outer = draw(st.sampled_from(["div", "span", "table", "li", "section"]))
    if outer == "table":
        panel = "<table><tr><td>" * depth + panel + "</td></tr></table>" * depth
    else:
        panel = f"<{outer}>" * depth + panel + f"</{outer}>" * depth
    use = f"<h3>Suggested use</h3><div><p>{draw(suggested)}</p></div>"
    other = "<h3>Other ingredients</h3><div><p>Magnesium Stearate, Cellulose.</p></div>"
    tail = draw(st.sampled_from(["", "</table></div>", "<div><table><tr><td>", "<<>>", "\x00"]))  # malformed
    url = draw(st.sampled_from([None, "https://www.iherb.com/pr/x/104996", "https://shop.example.net/p/1"]))
    return f"<html><body>{panel}{use}{other}{tail}</body></html>", url


def _finite(x) -> bool:
    return x is None or (math.isfinite(x) and x >= 0)


def check_label_and_batch(label: Label) -> None:
    """The invariants every page's label and its normalised batch must hold."""
    assert isinstance(label, Label)
    for r in label.rows:
        assert _finite(r.amount) and _finite(r.percent_dv)
        assert r.depth >= 0 and (r.depth == 0) == (r.parent_id is None)
        assert r.serving_quantity is None or r.serving_quantity > 0
    for s in label.servings:
        for q in (s.min_quantity, s.max_quantity, s.min_daily_servings, s.max_daily_servings):
            assert q is None or (math.isfinite(q) and q > 0)  # zero never reaches the normaliser
    batch = normalize_labels([label])
    quarantined = set(batch.quarantine["row_id"].dropna())
    facts = batch.magnesium_facts
    numbered = facts[facts["counted"].astype(bool) & facts["elemental_mg"].notna()]
    assert not quarantined & set(numbered["row_id"]), "a quarantined row yielded a number"
    for col in ("mg_per_serving", "mg_per_day_min", "mg_per_day_max"):
        values = batch.magnesium_labels[col].to_numpy(dtype=float)
        assert not np.isinf(values).any() and not (values < 0).any(), col


@settings(derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(product_page())
def test_generated_facts_tables_never_raise_and_quarantine_yields_no_number(page):
    html, url = page
    ex = parse_page(html, url=url)
    check_label_and_batch(ex.label)
    if ex.panel is not None and ex.panel.serving is not None and ex.panel.serving.min_quantity == 0:
        assert SERVING_SIZE_ZERO in [f for f, _ in ex.flags]


# --------------------------------------------------------------------------- the named faults, on the real page

MG_ROW = b"<td>Magnesium (as Magnesium Oxide and Magnesium Bisglycinate)</td><td>105 mg</td>"
SERVING = b"<strong>Serving Size:&nbsp;</strong>2 Capsules"


def _real() -> bytes:
    return gzip.decompress(MULTI_PAGE.read_bytes())


def test_zero_capsules_serving_gives_a_label_with_a_flag_not_a_crash():
    # the real page with its serving size altered from "2 Capsules" to "0 Capsules"
    raw = _real()
    assert raw.count(SERVING) == 1
    ex = parse_page(raw.replace(SERVING, SERVING.replace(b"2 Capsules", b"0 Capsules")), url="https://www.iherb.com/pr/x/104996")
    (serving,) = ex.label.servings
    assert (serving.min_quantity, serving.max_quantity, serving.unit) == (None, None, "Capsule(s)")
    assert [f for f, _ in ex.flags] == [SERVING_SIZE_ZERO] and "0 Capsules" in ex.flags[0][1]
    assert ex.label.daily_servings_known is False  # "Take 2 capsules daily" cannot be divided by 0
    check_label_and_batch(ex.label)
    summary = normalize_labels([ex.label]).magnesium_labels.iloc[0]
    assert summary.mg_per_serving == 105  # the panel's amount per serving stands as printed


def test_real_page_nested_thousands_deep_is_read():
    # the real page inside 3,000 nested <div>s and after a 3,000-deep <span> chain (altered)
    raw = _real()
    page = b"<div>" * 3000 + b"<span>" * 3000 + b"x" + b"</span>" * 3000 + raw + b"</div>" * 3000
    ex = parse_page(page, url="https://www.iherb.com/pr/x/104996")
    assert ex.facts_found and any(r.amount == 105 and r.name.startswith("Magnesium") for r in ex.label.rows)
    check_label_and_batch(ex.label)


def test_tables_nested_thousands_deep_give_a_label():
    # the real magnesium row in a facts table inside 3,000 nested tables: past MAX_TABLE_NESTING
    # the tables are layout debris, so the page says why it has no facts instead of crashing
    title = '<tr align="left" valign="top"><td colspan="3"><strong>Supplement facts</strong></td></tr>'
    table = f"<table>{title}<tr>{MG_ROW.decode()}<td>25%</td></tr></table>"
    ex = parse_page("<table><tr><td>" * 3000 + table + "</td></tr></table>" * 3000)
    assert not ex.facts_found and ex.reason == "no_facts_panel"
    assert parse_page("<table><tr><td>" * 3 + table + "</td></tr></table>" * 3).facts_found


def test_json_ld_nested_thousands_deep_is_skipped_like_broken_json_ld():
    ld = '{"@type": "Product", "name": ' + "[" * 5000 + '"x"' + "]" * 5000 + "}"
    ex = parse_page(f'<script type="application/ld+json">{ld}</script>')
    assert ex.identity.name is None and ex.label.product_name is None
