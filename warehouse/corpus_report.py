"""The corpus report (README "What the real corpus shows"): coverage, quarantine, ranges, flags.

Queries live in sql/reports/*.sql; this module only runs them and formats Markdown.
"""
from __future__ import annotations

from importlib import resources

import duckdb

SECTIONS = ("coverage", "quarantine", "ranges", "dose_basis", "flags")


def _sql(name: str) -> str:
    return resources.files("maglabels.warehouse").joinpath("sql", "reports", f"{name}.sql").read_text(encoding="utf-8")


def corpus_numbers(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict]]:
    """Each report section as a list of rows (dicts), for tests and for formatting."""
    out = {}
    for name in SECTIONS:
        cursor = con.execute(_sql(name))
        columns = [d[0] for d in cursor.description]
        out[name] = [dict(zip(columns, row, strict=False)) for row in cursor.fetchall()]
    return out


def _table(rows: list[dict]) -> list[str]:
    if not rows:
        return ["(none)"]
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows]
    return lines


def corpus_markdown(con: duckdb.DuckDBPyConnection) -> str:
    numbers = corpus_numbers(con)
    cov = numbers["coverage"][0]
    lines = [
        f"Current labels with magnesium: **{cov['labels']}**; with an elemental value: "
        f"**{cov['with_elemental_value']}**; without (all their magnesium rows quarantined): "
        f"**{cov['without_value']}**. They are **{cov['products']}** products (label revisions grouped), "
        f"**{cov['products_on_market']}** of them on the market.",
        "",
        "Quarantined rows by reason (current versions):",
        "",
        *_table(numbers["quarantine"]),
        "",
        "Daily elemental magnesium against 200-400 mg/day (labels; on-market products):",
        "",
        *_table(numbers["ranges"]),
        "",
        "How the daily dose of the on-market products was derived (`dose_basis`):",
        "",
        *_table(numbers["dose_basis"]),
        "",
        "Labels per flag (kind from `flag_glossary`):",
        "",
        *_table(numbers["flags"]),
    ]
    return "\n".join(lines)
