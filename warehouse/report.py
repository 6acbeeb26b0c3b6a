"""Plain-text range report over ``magnesium_daily`` (for ``maglabels report``)."""
from __future__ import annotations

from typing import Any

import duckdb

from ..normalize.flags import FLAG_INFO, LABEL_PROBLEM

__all__ = ["range_report", "RANGE_STATUSES", "KNOWN_FLAGS"]

RANGE_STATUSES = ("below", "within", "spans", "above", "unknown")
# Label problems first, then assumptions: the one flag enumeration (normalize/flags.py, no logic)
KNOWN_FLAGS = tuple(str(f) for f, (kind, _) in sorted(FLAG_INFO.items(), key=lambda item: item[1][0] != LABEL_PROBLEM))


def _fmt_mg(v: float | None) -> str:
    if v is None:
        return "?"
    return f"{v:.0f}" if abs(v - round(v)) < 0.05 else f"{v:.1f}"


def _fmt_range(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None and abs(lo - hi) < 1e-9:
        return _fmt_mg(hi)
    return f"{_fmt_mg(lo)}-{_fmt_mg(hi)}"


def _pct(n: int, total: int) -> str:
    return f"{100.0 * n / total:5.1f}%" if total else "    -"


def _clip(text: str | None, width: int) -> str:
    text = (text or "").replace("\n", " ").strip()
    return text if len(text) <= width else text[: width - 3] + "..."


def _row(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    """The one row of an aggregate query (which always returns one)."""
    row = con.execute(sql).fetchone()
    if row is None:
        raise RuntimeError(f"aggregate query returned no row: {sql}")
    return row


def range_report(con: duckdb.DuckDBPyConnection, top: int = 15) -> str:
    """Counts by range_status, above-UL count, flag counts, quarantine by reason, top doses."""
    lines: list[str] = []
    total = _row(con, "SELECT count(*) FROM magnesium_daily")[0]
    labels_total = _row(con, "SELECT count(*) FROM label_versions WHERE valid_to IS NULL")[0]
    lines.append("Magnesium range report")
    lines.append(
        f"current label versions: {labels_total}; with a magnesium summary: {total}"
    )
    lines.append("")

    lines.append("Daily elemental magnesium vs 200-400 mg/day")
    by_status = dict(
        con.execute("SELECT range_status, count(*) FROM magnesium_daily GROUP BY ALL").fetchall()
    )
    for status in RANGE_STATUSES + tuple(sorted(set(by_status) - set(RANGE_STATUSES))):
        n = by_status.get(status, 0)
        lines.append(f"  {status:<8} {n:>6}  {_pct(n, total)}")
    above, known = _row(con, "SELECT coalesce(count_if(above_ul), 0), count(above_ul) FROM magnesium_daily")
    lines.append(
        f"above the UL (label ul_mg, else 350 mg/day): {above} of {known} with a known daily maximum"
    )
    lines.append("")

    lines.append("Flags (current labels)")
    flag_counts = dict(
        con.execute(
            "SELECT flag, count(*) FROM (SELECT unnest(flags) AS flag FROM magnesium_daily) GROUP BY ALL"
        ).fetchall()
    )
    if "above_ul" not in flag_counts:
        flag_counts["above_ul"] = _row(con, "SELECT coalesce(count_if(above_ul), 0) FROM magnesium_daily")[0]
    for flag in KNOWN_FLAGS + tuple(sorted(set(flag_counts) - set(KNOWN_FLAGS))):
        lines.append(f"  {flag:<24} {flag_counts.get(flag, 0):>6}")
    lines.append("")

    lines.append("Quarantine by reason (rows of current versions / all rows)")
    q = con.execute(
        "SELECT reason_code, current_rows, rows FROM quarantine_summary ORDER BY rows DESC, reason_code"
    ).fetchall()
    if not q:
        lines.append("  (none)")
    for code, cur, rows in q:
        lines.append(f"  {_clip(code, 28):<28} {cur:>6} / {rows}")
    lines.append("")

    lines.append(f"Top {top} by maximum daily magnesium")
    rows = con.execute(
        """
        SELECT mg_per_day_min, mg_per_day_max, range_status, above_ul, brand, product_name,
               source, source_id, flags
        FROM magnesium_daily
        ORDER BY mg_per_day_max DESC NULLS LAST, brand, product_name, source, source_id
        LIMIT ?
        """,
        [int(top)],
    ).fetchall()
    if not rows:
        lines.append("  (no labels)")
    else:
        lines.append(f"  {'mg/day':>11}  {'status':<7}  {'UL':<3}  product")
    for lo, hi, status, above_ul, brand, product, source, source_id, flags in rows:
        ul = "yes" if above_ul else ("no" if above_ul is not None else "?")
        name = _clip(" - ".join(p for p in (brand, product) if p) or "(unnamed)", 60)
        extra = f" [{source}:{source_id}]"
        if flags:
            extra += " {" + ", ".join(flags) + "}"
        lines.append(f"  {_fmt_range(lo, hi):>11}  {status:<7}  {ul:<3}  {name}{extra}")
    return "\n".join(lines) + "\n"
