"""The label model every front end produces and the magnesium interpreter reads.

Front ends (DSLD API JSON, the flattened DSLD corpus, HTML Supplement Facts panels) turn a raw
document into one `Label`; nothing downstream knows which front end made it.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServingSize:
    """One serving-size line of a label (DSLD `servingSizes[]`)."""

    order: int
    min_quantity: float | None
    max_quantity: float | None
    unit: str  # e.g. "Capsule(s)", "Gram(s)"
    min_daily_servings: float | None
    max_daily_servings: float | None
    notes: str = ""


def serving_text(quantity: float | None, unit: str) -> str | None:
    """A serving as the labels row gives it: "2 Capsule(s)"; None without a quantity."""
    return f"{quantity:g} {unit}" if quantity else None


@dataclass(frozen=True)
class LabelRow:
    """One Supplement Facts row (or nested sub-row) exactly as the label gives it."""

    row_id: str  # position in the ingredient tree: "14", "3.1", "other.2"
    name: str
    depth: int = 0
    parent_id: str | None = None
    category: str | None = None  # DSLD category: mineral, blend, other, ...
    forms: tuple[str, ...] = ()  # source compounds named for this row ("as ..." / DSLD forms)
    amount: float | None = None  # None: not declared
    unit: str | None = None  # as on the label: "mg", "Gram(s)", "mcg", "NP"
    operator: str | None = None  # "=", "<", ...
    percent_dv: float | None = None
    dv_group: str | None = None  # the DV target group the %DV refers to
    serving_order: int | None = None  # which ServingSize the amount refers to
    serving_quantity: float | None = None  # how many serving units the amount is for
    section: str = "active"  # "active" (in the facts panel) or "other" (other ingredients)
    text: str = ""  # the row's raw text (HTML) or a compact JSON excerpt (DSLD)


@dataclass(frozen=True)
class Label:
    source: str  # "dsld" or a web host such as "www.iherb.com"
    source_id: str  # DSLD id or the site's product id
    brand: str | None
    product_name: str | None
    rows: tuple[LabelRow, ...]
    servings: tuple[ServingSize, ...] = ()
    raw_sha256: str | None = None  # the archived raw document this label came from
    url: str | None = None
    upc: str | None = None
    entry_date: str | None = None  # ISO date the label was entered/captured
    dosage_form: str | None = None  # "Capsule", "Tablet or Pill", "Powder", ...
    target_groups: tuple[str, ...] = ()  # who the label is for (ages, pregnancy)
    servings_per_container: float | None = None
    daily_servings_known: bool = True  # False when the format dropped daily servings
    price: float | None = None
    currency: str | None = None
    extra: dict = field(default_factory=dict, compare=False)
    # the front end's hash of its canonical serialisation of the whole document, when it has one:
    # then it is the label's version id (the flat DSLD front end drops rows it need not read)
    content_id: str | None = None


@dataclass(frozen=True)
class LabelRecord:
    """A label without a row the magnesium interpreter reads, as a front end can give it at the
    cost of its batch rows: the "labels" frame's record (version_id included) and the rows that
    name magnesium (``LabelRow`` field tuples, all of which the batch keeps). Building Label
    objects for the ~100,000 such labels of the DSLD corpus cost more than reading their JSON."""

    record: dict
    rows: tuple[tuple, ...] = ()
