"""Supplement Facts from HTML (normalize.html): the real pages and real snippets.

The real pages are golden cases in `tests/golden/www.iherb.com/` (whole-page checks there).

Focused tests use rows cut verbatim from those two real iHerb pages (a test checks that
each snippet occurs in its page). Where a feature does not occur on these pages, a real
snippet is altered and the comment says exactly how.
"""
from __future__ import annotations

import gzip
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from maglabels.normalize.html import (
    PageExtraction,
    extract_facts,
    parse_amount,
    parse_daily_servings,
    parse_page,
    parse_percent_dv,
    parse_serving_size,
    split_ingredient_list,
)
from maglabels.normalize.model import Label, LabelRow

from tests.conftest import BCOMPLEX_PAGE, MULTI_PAGE

MULTI = "iherb-104996-cgn-multivitamin-two-a-day"
BCOMPLEX = "iherb-108255-cgn-b-complex"
PAGE = {MULTI: MULTI_PAGE, BCOMPLEX: BCOMPLEX_PAGE}
URL = {
    MULTI: "https://www.iherb.com/pr/california-gold-nutrition-multivitamin-and-mineral-with-methyl-b12-vitamin-c-l-methylfolate-and-quercetin-two-a-day-60-veggie-capsules/104996",
    BCOMPLEX: "https://www.iherb.com/pr/california-gold-nutrition-high-potency-vitamin-b-complex-with-methyl-folate-methyl-b12-90-veggie-capsules/108255",
}


def _page_bytes(name: str) -> bytes:
    return gzip.decompress(PAGE[name].read_bytes())


_CACHE: dict[str, tuple[bytes, PageExtraction]] = {}


def _parsed(name: str) -> tuple[bytes, PageExtraction]:
    if name not in _CACHE:
        raw = _page_bytes(name)
        _CACHE[name] = (raw, parse_page(raw, url=URL[name]))
    return _CACHE[name]


# --------------------------------------------------------------------------- real pages (whole-page golden
# checks, the hand-checked ones included, are data in tests/golden/, run by tests/test_golden.py)


def test_multivitamin_magnesium_row_verbatim():
    ex = _parsed(MULTI)[1]
    (mg,) = [r for r in ex.label.rows if r.section == "active" and "Magnesium" in r.name]
    assert mg == LabelRow(
        row_id="14",
        name="Magnesium (as Magnesium Oxide and Magnesium Bisglycinate)",
        amount=105.0,
        unit="mg",
        operator="=",
        percent_dv=25.0,
        serving_order=1,
        serving_quantity=2.0,
        text="Magnesium (as Magnesium Oxide and Magnesium Bisglycinate) | 105 mg | 25%",
    )
    # the page's other mention, "Main Ingredients: ... Magnesium (as Magnesium Oxide)", is not a row
    assert [r.name for r in ex.label.rows if "Magnesium (as Magnesium Oxide)" == r.name] == []
    # magnesium stearate is an excipient: an "other" row, never an active one
    assert [r.section for r in ex.label.rows if r.name == "Magnesium Stearate"] == ["other"]


def test_bcomplex_mentions_magnesium_but_yields_no_magnesium_row():
    raw, ex = _parsed(BCOMPLEX)
    assert raw.count(b"Magnesium") == 25  # navigation, search chips, a combo offer
    assert ex.facts_found
    assert len(ex.label.rows) == 15
    assert not [r for r in ex.label.rows if "magnesium" in r.name.lower() or "magnesium" in r.text.lower()]
    assert ex.panels_seen == 1


# --------------------------------------------------------------------------- real snippets

# Cut verbatim from iherb-104996 (div.supplement-facts-container > table).
M_TITLE = '<tr align="left" valign="top"><td colspan="3"><strong>Supplement facts</strong></td></tr>'
M_SERVING = (
    '<tr align="left" valign="top"><td colspan="3"><strong>Serving Size:&nbsp;</strong>2 Capsules</td></tr>'
    '<tr align="left" valign="top"><td colspan="3"><strong>Servings Per Container:&nbsp;</strong>30</td></tr>'
)
M_HEADER = (
    '<tr align="left" data-id="froala_816" valign="top" style="height: 57px;"><td style="width: 70%;">&nbsp;</td>'
    '<td style="width: 15%;"><strong>Amount Per Serving</strong></td><td style="width: 15%;"><strong>%Daily Value</strong></td></tr>'
)
M_VIT_A = (
    '<tr align="left" data-id="froala_817" valign="top"><td>Vitamin A (as Retinyl Acetate and 50% as Beta-Carotene)</td>'
    "<td>1500 mcg</td><td>167%</td></tr>"
)
M_VIT_E = (
    '<tr align="left" data-id="froala_820" valign="top" style="height: 30px;"><td>Vitamin E (as d-Alpha Tocopheryl and Mixed Tocopherols)</td>'
    "<td>54 mg</td><td>360%</td></tr>"
)
M_FOLATE = (
    '<tr align="left" data-id="froala_825" valign="top" style="height: 30px;"><td>Folate (as 5-MTHF, L-5-Methyltetrahydrofolate Calcium)</td>'
    "<td>680 mcg DFE</td><td>170%</td></tr>"
)
M_BIOTIN = '<tr data-id="froala_827"><td>Biotin (as d-Biotin)<br></td><td>300 mcg</td><td>1000%</td></tr>'
M_MAGNESIUM = (
    '<tr data-id="froala_830"><td>Magnesium (as Magnesium Oxide and Magnesium Bisglycinate)</td><td>105 mg</td><td>25%</td></tr>'
)
M_CHROMIUM = (
    '<tr data-id="froala_834" style="height: 30px;"><td>Chromium (as Chromium Chloride)&nbsp;</td><td>200 mcg</td><td>571%</td></tr>'
)
M_INOSITOL = '<tr data-id="froala_836"><td>Inositol</td><td>50 mg</td><td>†<br></td></tr>'
M_MIXED_TOC = (
    '<tr style="height: 30px;"><td style="null">Mixed Tocopherols</td><td style="null">20 mg</td><td style="null">†<br></td></tr>'
)
M_QUERCETIN = (
    '<tr data-id="froala_839" style="height: 61px;"><td>Quercetin Phospholipid Matrix Quercetin from Japanese Sophora '
    "Extract (flower), Sunflower&nbsp;<br>Lecithin (Phospholipids)</td><td>15 mg</td><td>†</td></tr>"
)
M_ZEAXANTHIN = "<tr><td>Zeaxanthin<br>(from marigold extract)(tagetes erecta)(flower)</td><td>550 mcg</td><td>†<br></td></tr>"
M_FOOTNOTE = '<tr align="left" valign="top"><td colspan="3">† Daily Value not established.</td></tr>'
M_SUGGESTED = (
    "<p>Take 2 capsules daily, with food. Best when taken as directed by a qualified healthcare professional.<br></p>"
)
# Cut verbatim from iherb-108255.
B_HEADER = (
    '<tr align="left" data-id="froala_1" valign="top"><td width="70%">&nbsp;</td><td width="15%"><strong>Amount Per Serving</strong></td>'
    '<td width="15%"><strong>%DV</strong></td></tr>'
)
B_FOLATE = (
    '<tr data-id="froala_6"><td>Folate (as (6S)-5-Methyltetrahydrofolic Acid, Glucosamine Salt)</td><td>670 mcg DFE</td><td>168%</td></tr>'
)
B_VIT_B6 = (
    '<tr data-id="froala_5"><td>Vitamin B6 (as Pyridoxine HCl and Pyridoxal-5-Phosphate)</td><td>10 mg </td><td>588%</td></tr>'
)
B_INOSITOL = '<tr align="left" data-id="froala_11" valign="top"><td>Inositol</td><td class="">100 mg</td><td>†</td></tr>'
B_FOOTNOTE = '<tr align="left" valign="top"><td colspan="3">†Daily Value (DV) not established.</td></tr>'
B_OTHER_SECTION = (
    "<h3>\n<strong>Other ingredients</strong>\n</h3>\n"
    '<div class="prodOverviewIngred"><p><strong>Main Ingredients</strong><br>Thiamin (as Thiamine HCl), Riboflavin '
    "(as Riboflavin-5-Phosphate), Niacin (as Nicotinic Acid and Niacinamide), Vitamin B6 (as Pyridoxine HCl and "
    "Pyridoxal-5-Phosphate) Folate (as (6S)-5-Methyltetrahydrofolic Acid, Glucosamine Salt), Vitamin B12 (as "
    "Methylcobalamin), Biotin (as d-Biotin), Pantothenic Acid (as d-Calcium Pantothenate), Choline (as Choline "
    "Dihydrogen Citrate), Inositol</p><p><strong>Other Ingredients</strong><br>Modified Cellulose (Hypromellose Veggie "
    "Capsule), Dicalcium Phosphate, Ascorbyl Palmitate, Microcrystalline Cellulose, and Silicon Dioxide (Silica).</p>"
)

REAL_SNIPPETS = {
    MULTI: [M_TITLE, M_SERVING, M_HEADER, M_VIT_A, M_VIT_E, M_FOLATE, M_BIOTIN, M_MAGNESIUM, M_CHROMIUM,
            M_INOSITOL, M_MIXED_TOC, M_QUERCETIN, M_ZEAXANTHIN, M_FOOTNOTE, M_SUGGESTED],
    BCOMPLEX: [B_HEADER, B_FOLATE, B_VIT_B6, B_INOSITOL, B_FOOTNOTE],
}


@pytest.mark.parametrize("page", sorted(REAL_SNIPPETS))
def test_snippets_are_cut_verbatim_from_the_real_pages(page):
    raw = _page_bytes(page).decode("utf-8")
    for snippet in REAL_SNIPPETS[page]:
        assert snippet in raw, snippet[:80]
    assert re.sub(r"\s+", " ", B_OTHER_SECTION) in re.sub(r"\s+", " ", _page_bytes(BCOMPLEX).decode("utf-8"))


def _table(*rows: str) -> str:
    # the page's own wrapper and table attributes (iherb-108255)
    return (
        '<html><body><div class="supplement-facts-container">'
        '<table border="1" cellpadding="3" cellspacing="0" width="100%"><tbody>'
        + "".join(rows)
        + "</tbody></table></div></body></html>"
    )


def _rows(html: str):
    panel = extract_facts(html)
    assert panel is not None
    return panel, panel.rows


def test_br_inside_names_reads_as_a_space():
    _, rows = _rows(_table(M_TITLE, M_SERVING, M_HEADER, M_BIOTIN, M_QUERCETIN, M_ZEAXANTHIN))
    assert [r.name for r in rows] == [
        "Biotin (as d-Biotin)",
        "Quercetin Phospholipid Matrix Quercetin from Japanese Sophora Extract (flower), Sunflower Lecithin (Phospholipids)",
        "Zeaxanthin (from marigold extract)(tagetes erecta)(flower)",
    ]
    assert [(r.amount, r.unit) for r in rows] == [(300.0, "mcg"), (15.0, "mg"), (550.0, "mcg")]


def test_nbsp_in_names_and_serving_lines():
    panel, rows = _rows(_table(M_TITLE, M_SERVING, M_HEADER, M_CHROMIUM))
    assert rows[0].name == "Chromium (as Chromium Chloride)"
    assert panel.serving_text == "2 Capsules"
    assert panel.servings_per_container == 30.0
    assert panel.serving.unit == "Capsule(s)" and panel.serving.min_quantity == 2.0


# Header variants. "%Daily Value" (iherb-104996) and "%DV" (iherb-108255) are real; "% Daily Value"
# and "Amount Per Serving:" are the real header row with its text altered (iHerb's newer layout
# prints them so). The title row is left out so only the header row identifies the panel.
@pytest.mark.parametrize(
    "header",
    [
        M_HEADER,
        B_HEADER,
        M_HEADER.replace("%Daily Value", "% Daily Value"),
        M_HEADER.replace("Amount Per Serving", "Amount Per Serving:"),
        B_HEADER.replace("Amount Per Serving", "Amount Per Serving:").replace("%DV", "% Daily Value"),
    ],
    ids=["pct-daily-value", "pct-dv", "pct-space-daily-value", "amount-colon", "colon-and-space"],
)
def test_header_variants_find_the_panel_and_its_columns(header):
    panel, rows = _rows(_table(M_SERVING, header, M_MAGNESIUM, M_INOSITOL))
    assert panel.has_header and not panel.has_title
    assert [(r.name, r.amount, r.unit, r.percent_dv) for r in rows] == [
        ("Magnesium (as Magnesium Oxide and Magnesium Bisglycinate)", 105.0, "mg", 25.0),
        ("Inositol", 50.0, "mg", None),
    ]


def test_title_alone_finds_the_panel():
    panel, rows = _rows(_table(M_TITLE, M_SERVING, M_MAGNESIUM))
    assert panel.has_title and not panel.has_header
    assert [(r.name, r.amount, r.percent_dv) for r in rows] == [
        ("Magnesium (as Magnesium Oxide and Magnesium Bisglycinate)", 105.0, 25.0)
    ]


def test_a_table_without_title_or_header_is_not_a_facts_panel():
    assert extract_facts(_table(M_MAGNESIUM, M_INOSITOL)) is None


def test_dagger_means_no_daily_value():
    _, rows = _rows(_table(B_HEADER, B_VIT_B6, B_INOSITOL, M_MIXED_TOC))
    assert [(r.name, r.amount, r.unit, r.percent_dv) for r in rows] == [
        ("Vitamin B6 (as Pyridoxine HCl and Pyridoxal-5-Phosphate)", 10.0, "mg", 588.0),
        ("Inositol", 100.0, "mg", None),
        ("Mixed Tocopherols", 20.0, "mg", None),
    ]
    assert rows[1].dv_text == "†"


def test_comma_numbers():
    # real Vitamin A row with its amount altered from "1500 mcg" to "1,500 mcg"
    _, rows = _rows(_table(M_TITLE, M_HEADER, M_VIT_A.replace("1500 mcg", "1,500 mcg")))
    assert (rows[0].amount, rows[0].unit, rows[0].percent_dv) == (1500.0, "mcg", 167.0)


def test_mcg_dfe_unit():
    _, rows = _rows(_table(M_TITLE, M_HEADER, M_FOLATE, B_FOLATE))
    assert [(r.amount, r.unit, r.percent_dv) for r in rows] == [(680.0, "mcg DFE", 170.0), (670.0, "mcg DFE", 168.0)]
    assert rows[1].name == "Folate (as (6S)-5-Methyltetrahydrofolic Acid, Glucosamine Salt)"


# Sub-rows: the real Mixed Tocopherols row, indented under the real Vitamin E row (altered: the
# name cell gets leading &nbsp;s / a padding style / an indent class, as labels with nested rows do).
@pytest.mark.parametrize(
    "sub_row",
    [
        M_MIXED_TOC.replace(">Mixed Tocopherols<", ">&nbsp;&nbsp;&nbsp;Mixed Tocopherols<"),
        M_MIXED_TOC.replace('<td style="null">Mixed', '<td style="padding-left: 20px;">Mixed'),
        M_MIXED_TOC.replace('<td style="null">Mixed', '<td class="indent">Mixed'),
        M_MIXED_TOC.replace(">Mixed Tocopherols<", "><span style=\"margin-left:1em\">Mixed Tocopherols</span><"),
    ],
    ids=["nbsp", "padding", "class", "nested-span"],
)
def test_sub_rows_get_depth_and_parent(sub_row):
    _, rows = _rows(_table(M_TITLE, M_HEADER, M_VIT_E, sub_row, M_INOSITOL))
    assert [(r.row_id, r.depth, r.parent_id, r.name) for r in rows] == [
        ("1", 0, None, "Vitamin E (as d-Alpha Tocopheryl and Mixed Tocopherols)"),
        ("1.1", 1, "1", "Mixed Tocopherols"),
        ("2", 0, None, "Inositol"),
    ]
    assert rows[1].amount == 20.0


def test_sub_rows_become_label_rows_with_parent_ids():
    page = _table(M_TITLE, M_SERVING, M_HEADER, M_VIT_E, M_MIXED_TOC.replace(">Mixed", ">&nbsp;&nbsp;Mixed"))
    rows = parse_page(page).label.rows
    assert [(r.row_id, r.parent_id, r.depth, r.serving_quantity) for r in rows] == [("1", None, 0, 2.0), ("1.1", "1", 1, 2.0)]


def test_footnotes_are_not_rows():
    # the real footnote, plus (altered) the standard "* Percent Daily Values ..." footnote row
    pct = M_FOOTNOTE.replace("† Daily Value not established.", "* Percent Daily Values are based on a 2,000 calorie diet.")
    panel, rows = _rows(_table(M_TITLE, M_HEADER, M_MAGNESIUM, M_FOOTNOTE, pct, B_FOOTNOTE))
    assert [r.name for r in rows] == ["Magnesium (as Magnesium Oxide and Magnesium Bisglycinate)"]
    assert panel.footnotes == (
        "† Daily Value not established.",
        "* Percent Daily Values are based on a 2,000 calorie diet.",
        "†Daily Value (DV) not established.",
    )


def test_amount_cell_carrying_the_source_moves_it_into_the_name():
    # the real magnesium row with its "(as ...)" moved from the name cell to the amount cell
    row = M_MAGNESIUM.replace(
        "<td>Magnesium (as Magnesium Oxide and Magnesium Bisglycinate)</td><td>105 mg</td>",
        "<td>Magnesium</td><td>105 mg (as Magnesium Oxide and Magnesium Bisglycinate)</td>",
    )
    _, rows = _rows(_table(M_TITLE, M_HEADER, row))
    assert (rows[0].name, rows[0].amount, rows[0].unit, rows[0].percent_dv) == (
        "Magnesium (as Magnesium Oxide and Magnesium Bisglycinate)", 105.0, "mg", 25.0
    )


def test_block_panel_without_a_table():
    # the real multivitamin rows re-marked up as divs (altered: <tr>/<td> -> <div>/<span>)
    html = (
        "<div><h3>Supplement facts</h3>"
        "<p><strong>Serving Size:&nbsp;</strong>2 Capsules</p>"
        "<p><strong>Servings Per Container:&nbsp;</strong>30</p>"
        '<div class="row"><div>Magnesium (as Magnesium Oxide and Magnesium Bisglycinate)</div><div>105 mg</div><div>25%</div></div>'
        "<div class=\"row\"><span>Inositol</span> <span>50 mg</span> <span>†<br></span></div>"
        "<p>† Daily Value not established.</p></div>"
    )
    panel, rows = _rows(html)
    assert panel.kind == "block"
    assert panel.serving_text == "2 Capsules"
    assert [(r.name, r.amount, r.unit, r.percent_dv) for r in rows] == [
        ("Magnesium (as Magnesium Oxide and Magnesium Bisglycinate)", 105.0, "mg", 25.0),
        ("Inositol", 50.0, "mg", None),
    ]
    assert panel.footnotes == ("† Daily Value not established.",)


def test_site_hint_is_only_a_fallback():
    # the real table with its title and header rows removed: the generic finder sees no facts
    # panel; iHerb's module knows div.supplement-facts-container holds it
    html = _table(M_SERVING, M_MAGNESIUM, M_INOSITOL)
    ex = parse_page(html, url="https://www.iherb.com/pr/x/104996")
    assert ex.facts_found and ex.panel.via == "site" and ex.site == "iherb"
    assert [r.name for r in ex.label.rows] == ["Magnesium (as Magnesium Oxide and Magnesium Bisglycinate)", "Inositol"]
    other = parse_page(html, url="https://shop.example.com/p/1")
    assert not other.facts_found and other.reason == "no_facts_panel" and other.label.rows == ()
    # with the title row, the generic finder finds it on both hosts
    assert parse_page(_table(M_TITLE, M_SERVING, M_MAGNESIUM), url="https://www.iherb.com/pr/x/1").panel.via == "generic"


def test_page_without_facts_says_why_and_keeps_identity():
    raw = _page_bytes(BCOMPLEX)
    start = raw.index(b'<div class="supplement-facts-container">')
    end = raw.index(b"</table>", start) + len(b"</table>")
    ex = parse_page(raw[:start] + raw[end:])
    assert not ex.facts_found and ex.reason == "no_facts_panel"
    assert ex.label.source == "www.iherb.com" and ex.label.source_id == "108255"
    assert ex.label.price == 20.23
    assert not [r for r in ex.label.rows if r.section == "active"]
    assert not [r for r in ex.label.rows if "magnesium" in r.name.lower()]
    assert ex.label.servings == () and ex.label.daily_servings_known is False


def test_other_ingredients_section():
    ex = parse_page("<html><body>" + _table(M_TITLE, M_SERVING, M_HEADER, M_INOSITOL) + B_OTHER_SECTION + "</body></html>")
    assert [r.name for r in ex.label.rows if r.section == "other"] == [
        "Modified Cellulose (Hypromellose Veggie Capsule)",
        "Dicalcium Phosphate",
        "Ascorbyl Palmitate",
        "Microcrystalline Cellulose",
        "Silicon Dioxide (Silica)",
    ]
    # "Main Ingredients" (a second, prose copy of the facts) is not read as rows
    assert [r.name for r in ex.label.rows if r.section == "active"] == ["Inositol"]


def test_daily_servings_from_suggested_use():
    page = (
        "<html><body>" + _table(M_TITLE, M_SERVING, M_HEADER, M_MAGNESIUM)
        + '<h3>\n<strong>Suggested use</strong>\n</h3>\n<div class="prodOverviewDetail">' + M_SUGGESTED + "</div></body></html>"
    )
    ex = parse_page(page)
    assert ex.suggested_use.startswith("Take 2 capsules daily")
    assert ex.daily_servings == (1.0, 1.0)
    assert ex.label.daily_servings_known is True
    (s,) = ex.label.servings
    assert (s.min_daily_servings, s.max_daily_servings) == (1.0, 1.0)
    # without a Suggested Use section the daily servings are unknown
    ex2 = parse_page(_table(M_TITLE, M_SERVING, M_HEADER, M_MAGNESIUM))
    assert ex2.label.servings[0].min_daily_servings is None
    assert ex2.label.daily_servings_known is False


# --------------------------------------------------------------------------- the small parsers


@pytest.mark.parametrize(
    "text, value, unit, op",
    [
        ("105 mg", 105.0, "mg", "="),
        ("10 mg ", 10.0, "mg", "="),
        ("1,000 mg", 1000.0, "mg", "="),
        ("680 mcg DFE", 680.0, "mcg DFE", "="),
        ("900 mcg RAE", 900.0, "mcg RAE", "="),
        ("400 IU", 400.0, "IU", "="),
        ("2.5 mg", 2.5, "mg", "="),
        ("<1 g", 1.0, "g", "<"),
        ("less than 1 g", 1.0, "g", "<"),
        ("0 g", 0.0, "g", "="),
        ("50 mg†", 50.0, "mg", "="),
        ("25 mcg (1,000 IU)", 25.0, "mcg", "="),
        ("10", 10.0, None, "="),
    ],
)
def test_parse_amount(text, value, unit, op):
    pa = parse_amount(text)
    assert (pa.value, pa.unit, pa.operator) == (value, unit, op)


def test_parse_amount_source_note():
    pa = parse_amount("120 mg (as TRAACS® Magnesium Bisglycinate Chelate)")
    assert (pa.value, pa.unit) == (120.0, "mg")
    assert pa.source_notes == ("as TRAACS® Magnesium Bisglycinate Chelate",)
    assert parse_amount("25 mcg (1,000 IU)").alternates == ("1,000 IU",)


@pytest.mark.parametrize("text", ["", "†", "**", "Amount Per Serving", "10-20 mg", "-5 mg", "Proprietary", None])
def test_parse_amount_none(text):
    assert parse_amount(text) is None


@pytest.mark.parametrize(
    "text, want", [("25%", 25.0), ("12500%", 12500.0), ("†", None), ("†<br>", None), ("**", None), ("", None), ("<1%", 1.0), ("5 %*", 5.0)]
)
def test_parse_percent_dv(text, want):
    assert parse_percent_dv(text.replace("<br>", "")) == want


@pytest.mark.parametrize(
    "text, lo, hi, unit",
    [
        ("2 Capsules", 2.0, 2.0, "Capsule(s)"),
        ("1 Capsule", 1.0, 1.0, "Capsule(s)"),
        ("1 Veggie Capsule", 1.0, 1.0, "Veggie Capsule(s)"),
        ("Two Softgels", 2.0, 2.0, "Softgel(s)"),
        ("1-2 Tablets", 1.0, 2.0, "Tablet(s)"),
        ("1 Scoop (5.2 g)", 1.0, 1.0, "Scoop(s)"),
        ("5 g", 5.0, 5.0, "Gram(s)"),
        ("2 Gummies", 2.0, 2.0, "Gummy(ies)"),
    ],
)
def test_parse_serving_size(text, lo, hi, unit):
    s = parse_serving_size(text)
    assert (s.min_quantity, s.max_quantity, s.unit, s.text) == (lo, hi, unit, text)


@pytest.mark.parametrize(
    "text, qty, unit, want",
    [
        ("Take 2 capsules daily, with food.", 2.0, "Capsule(s)", (1.0, 1.0)),
        ("Take 1 capsule daily, with food.", 1.0, "Capsule(s)", (1.0, 1.0)),
        ("Take 1 capsule twice daily with meals.", 1.0, "Capsule(s)", (2.0, 2.0)),
        ("Adults: take one (1) veggie capsule 1 to 3 times daily.", 1.0, "Veggie Capsule(s)", (1.0, 3.0)),
        ("Take 1-2 tablets per day.", 2.0, "Tablet(s)", (0.5, 1.0)),
        ("Take 1 serving daily.", 1.0, "Scoop(s)", (1.0, 1.0)),
        ("Take 2 capsules daily.", 1.0, "Softgel(s)", None),  # unit differs from the serving's
        ("Best when taken as directed by a qualified healthcare professional.", 2.0, "Capsule(s)", None),
        ("Take 2 capsules with water.", 2.0, "Capsule(s)", None),
        (None, 2.0, "Capsule(s)", None),
    ],
)
def test_parse_daily_servings(text, qty, unit, want):
    assert parse_daily_servings(text, qty, unit) == want


def test_split_ingredient_list():
    assert split_ingredient_list(
        "Modified Cellulose (Hypromellose Veggie Capsule), Modified Food Starch, Dicalcium Phosphate, Magnesium "
        "Stearate, Microcrystalline Cellulose, Silicon Dioxide (Silica), Maltodextrin, and Rice Hull Concentrate."
    ) == [
        "Modified Cellulose (Hypromellose Veggie Capsule)", "Modified Food Starch", "Dicalcium Phosphate",
        "Magnesium Stearate", "Microcrystalline Cellulose", "Silicon Dioxide (Silica)", "Maltodextrin",
        "Rice Hull Concentrate",
    ]


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_parse_amount_never_crashes_and_is_none_or_non_negative(text):
    pa = parse_amount(text)
    assert pa is None or (isinstance(pa.value, float) and math.isfinite(pa.value) and pa.value >= 0)
    dv = parse_percent_dv(text)
    assert dv is None or (math.isfinite(dv) and dv >= 0)


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("0123456789,.<> -–()%†*mgcuIUDFEas\xa0")), max_size=30)
)
def test_parse_amount_on_amount_like_text(text):
    pa = parse_amount(text)
    assert pa is None or (math.isfinite(pa.value) and pa.value >= 0)
    parse_serving_size(text)


def test_heading_just_before_the_table_titles_it():
    # the real table without its title row, under a "Supplement Facts" heading of its own
    # (altered: the title moved out of the table, as brand sites often print it)
    html = "<html><body><h2>Supplement Facts</h2>" + _table(M_SERVING, M_MAGNESIUM, M_INOSITOL)[12:]
    panel, rows = _rows(html)
    assert panel.has_title is True and not panel.has_header
    assert rows[0].name == "Magnesium (as Magnesium Oxide and Magnesium Bisglycinate)"
    assert len(rows) == 2


def test_layout_table_around_the_panel_is_not_the_panel():
    inner = _table(M_TITLE, M_SERVING, M_HEADER, M_MAGNESIUM).replace("<html><body>", "").replace("</body></html>", "")
    html = f"<html><body><table><tr><td>{inner}</td><td>Magnesium 400 mg</td></tr></table></body></html>"
    ex = parse_page(html)
    assert ex.panels_seen == 1
    assert [(r.name, r.amount) for r in ex.label.rows] == [("Magnesium (as Magnesium Oxide and Magnesium Bisglycinate)", 105.0)]


def test_other_ingredients_line_inside_the_panel():
    # the real footnote row with its text altered to an "Other ingredients:" line, listing the
    # real other ingredients of iherb-108255
    line = B_FOOTNOTE.replace(
        "†Daily Value (DV) not established.",
        "Other ingredients: Modified Cellulose (Hypromellose Veggie Capsule), Dicalcium Phosphate, and Silicon Dioxide (Silica).",
    )
    ex = parse_page(_table(M_TITLE, B_HEADER, B_INOSITOL, B_FOOTNOTE, line))
    assert [(r.row_id, r.name, r.section) for r in ex.label.rows] == [
        ("1", "Inositol", "active"),
        ("other.1", "Modified Cellulose (Hypromellose Veggie Capsule)", "other"),
        ("other.2", "Dicalcium Phosphate", "other"),
        ("other.3", "Silicon Dioxide (Silica)", "other"),
    ]
    assert ex.panel.footnotes == ("†Daily Value (DV) not established.",)


def test_bytes_and_str_give_the_same_label():
    raw, ex = _parsed(BCOMPLEX)
    again = parse_page(raw.decode("utf-8"), url=URL[BCOMPLEX], raw_sha256=ex.label.raw_sha256)
    assert again.label == ex.label


_HTML_BITS = [M_TITLE, M_SERVING, M_HEADER, M_MAGNESIUM, M_INOSITOL, M_FOOTNOTE, B_HEADER, "<table>", "</table>",
              "<tr>", "<td>", "</td>", "<div>", "</div>", "<h3>Supplement facts</h3>", "<br>", "&nbsp;", "<ul><li>",
              "Other ingredients", "<p>", "Take 2 capsules daily", "105 mg", "†", "(as x)"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(_HTML_BITS) | st.text(max_size=12), max_size=14))
def test_parse_page_never_crashes_on_shuffled_real_markup(parts):
    ex = parse_page("".join(parts))
    assert isinstance(ex.label, Label)
    for r in ex.label.rows:
        assert r.amount is None or r.amount >= 0
        assert r.depth >= 0 and (r.depth == 0) == (r.parent_id is None)


def test_block_panel_nested_list_gives_sub_rows():
    # real rows of iherb-104996 re-marked up as a nested list (altered: Mixed Tocopherols nested
    # under Vitamin E, and a name-only member added from the Vitamin E name's own "(as ...)")
    html = (
        "<section><h3>Supplement facts</h3><p><strong>Serving Size:&nbsp;</strong>2 Capsules</p><ul>"
        "<li>Vitamin E (as d-Alpha Tocopheryl and Mixed Tocopherols) 54 mg 360%"
        "<ul><li>d-Alpha Tocopheryl</li><li>Mixed Tocopherols 20 mg †</li></ul></li>"
        "<li>Magnesium (as Magnesium Oxide and Magnesium Bisglycinate) 105 mg 25%</li></ul>"
        "<p>† Daily Value not established.</p></section>"
    )
    panel, rows = _rows(html)
    assert panel.kind == "block"
    assert [(r.row_id, r.parent_id, r.name, r.amount, r.percent_dv) for r in rows] == [
        ("1", None, "Vitamin E (as d-Alpha Tocopheryl and Mixed Tocopherols)", 54.0, 360.0),
        ("1.1", "1", "d-Alpha Tocopheryl", None, None),
        ("1.2", "1", "Mixed Tocopherols", 20.0, None),
        ("2", None, "Magnesium (as Magnesium Oxide and Magnesium Bisglycinate)", 105.0, 25.0),
    ]
