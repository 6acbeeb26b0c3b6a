"""Normalised frames -> Arrow tables with the warehouse tables' types (strict, a few safe
coercions), checked before a load's transaction starts."""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = ["POS", "frame_to_arrow"]

POS = "_wh_pos"  # the row's position in its frame: "first occurrence wins" in the loads
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError)




def _is_null_scalar(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, (float, np.floating)):
        return math.isnan(v)
    return False


def _text_array(series: pd.Series, json_text: bool) -> pa.Array:
    """VARCHAR/JSON column -> Arrow strings (dicts/lists serialised for JSON)."""
    if json_text and series.dtype == object:
        series = series.map(
            lambda v: json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v
        )
    try:
        return pa.array(series, type=pa.string(), from_pandas=True)
    except _ARROW_ERRORS:
        # ids given as numbers ("source_id": 49495) are stored as text
        coerced = series.map(lambda v: None if _is_null_scalar(v) else str(v))
        return pa.array(coerced, type=pa.string(), from_pandas=True)


def _string_list_array(series: pd.Series) -> pa.Array:
    """VARCHAR[] column -> Arrow list of strings; a bare string is an error, not a list of letters."""
    try:
        return pa.array(series, type=pa.list_(pa.string()), from_pandas=True)
    except _ARROW_ERRORS:
        def as_list(v: Any) -> list[str | None] | None:
            if isinstance(v, (str, bytes)):
                raise TypeError(f"expected a list of strings, got the string {v!r}")
            if not isinstance(v, (list, tuple, np.ndarray, pd.Series)) and _is_null_scalar(v):
                return None
            return [None if _is_null_scalar(x) else str(x) for x in v]

        return pa.array(series.map(as_list), type=pa.list_(pa.string()), from_pandas=True)


def _arrow_column(series: pd.Series, duck_type: str, where: str) -> pa.Array:
    """Convert one column to Arrow with the table's type (strict, with a few safe coercions)."""
    t = duck_type.upper()
    try:
        if t in ("VARCHAR", "JSON"):
            return _text_array(series, json_text=t == "JSON")
        if t == "VARCHAR[]":
            return _string_list_array(series)
        if t in ("DOUBLE", "FLOAT", "REAL"):
            try:
                return pa.array(series, type=pa.float64(), from_pandas=True)
            except _ARROW_ERRORS:
                return pa.array(pd.to_numeric(series, errors="raise"), type=pa.float64(), from_pandas=True)
        if t in ("BIGINT", "INTEGER", "SMALLINT"):
            try:
                return pa.array(series, type=pa.int64(), from_pandas=True)
            except _ARROW_ERRORS:
                num = pd.to_numeric(series, errors="raise")
                return pa.array(num.astype("Int64"), type=pa.int64(), from_pandas=True)
        if t == "BOOLEAN":
            return pa.array(series, type=pa.bool_(), from_pandas=True)
        if t in ("TIMESTAMP", "DATE"):
            ts = pd.to_datetime(series, utc=True, format="ISO8601")
            return pa.array(ts.dt.tz_convert(None), type=pa.timestamp("us"), from_pandas=True)
    except (*_ARROW_ERRORS, ValueError, OverflowError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{where}: cannot read values as {duck_type}: {first}") from exc
    # any other type: let Arrow infer, the INSERT casts
    return pa.array(series, from_pandas=True)


def frame_to_arrow(
    df: pd.DataFrame | None,
    columns: Mapping[str, str],
    required: tuple[str, ...] | list[str],
    name: str,
) -> pa.Table | None:
    """Select/convert ``columns`` of ``df``; None when the frame has no rows."""
    if df is None:
        return None
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name}: expected a pandas DataFrame, got {type(df).__name__}")
    if len(df) == 0:
        return None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing column(s) {missing}")
    if not df.columns.is_unique:
        dupes = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise ValueError(f"{name}: duplicate column(s) {dupes}")
    df = df.reset_index(drop=True)
    arrays, names = [], []
    for col, duck_type in columns.items():
        if col in df.columns:
            arrays.append(_arrow_column(df[col], duck_type, f"{name}.{col}"))
        else:
            arrays.append(pa.nulls(len(df)))
        names.append(col)
    arrays.append(pa.array(np.arange(len(df), dtype=np.int64)))
    names.append(POS)
    # one chunk per column: a frame assembled with many pd.concat calls can carry thousands of
    # Arrow chunks per string column, which makes every scan of the registered table crawl
    return pa.Table.from_arrays(arrays, names=names).combine_chunks()
