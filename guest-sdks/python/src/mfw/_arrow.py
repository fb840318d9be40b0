"""pandas DataFrames and Series as Arrow IPC streams.

A DataFrame or Series artifact is stored as an Arrow IPC stream (a schema,
record batches, the end marker), so any Arrow reader — a Rust step with
``arrow``, pyarrow or nanoarrow in a notebook, DuckDB — reads it, and its
bytes do not depend on the Python or pandas that wrote it. The index and
the pandas dtypes ride along in the schema's ``pandas`` metadata, in the
layout pyarrow writes, so ``pyarrow``'s ``to_pandas()`` restores them too.

Written and read with nanoarrow (C and Cython, built by mfw's wheel
recipe), so a step needs no pyarrow. What Arrow cannot hold faithfully
(categoricals, periods, intervals, complex numbers, object columns that are
not all text, column MultiIndexes, ``attrs``) makes :func:`to_ipc` return
``None`` and the value is pickled instead.

>>> import pandas as pd
>>> df = pd.DataFrame({"genre": ["drama", "comedy"], "gross": [1.5, 2.0]})
>>> data = to_ipc(df)
>>> from_ipc(data).equals(df)
True
"""

from __future__ import annotations

import io
import json
from typing import Any

# The schema metadata keys: pyarrow's (index and dtypes), and mfw's own
# (whether the value was a Series).
PANDAS_KEY = "pandas"
MFW_KEY = "mfw"

# Arrow type formats (the C data interface's) of fixed-width columns, with
# the numpy dtype of their values.
_NUMERIC = {
    "c": "int8",
    "s": "int16",
    "i": "int32",
    "l": "int64",
    "C": "uint8",
    "S": "uint16",
    "I": "uint32",
    "L": "uint64",
    "e": "float16",
    "f": "float32",
    "g": "float64",
}
_FORMAT_OF = {dtype: fmt for fmt, dtype in _NUMERIC.items()}
_UNITS = {"s": "s", "m": "ms", "u": "us", "n": "ns"}
_UNIT_CODE = {unit: code for code, unit in _UNITS.items()}
# pandas' nullable dtypes with a numpy twin.
_MASKED = {
    "Int8": "int8",
    "Int16": "int16",
    "Int32": "int32",
    "Int64": "int64",
    "UInt8": "uint8",
    "UInt16": "uint16",
    "UInt32": "uint32",
    "UInt64": "uint64",
    "Float32": "float32",
    "Float64": "float64",
    "boolean": "bool",
}


class _NotArrow(Exception):
    """A part of the value Arrow cannot hold as pandas had it."""


# ------------------------------------------------------------------ writing


def to_ipc(value: Any) -> bytes | None:
    """The Arrow IPC stream of a pandas DataFrame or Series, or ``None``
    when it has a part Arrow cannot hold faithfully (it is pickled then)."""
    try:
        import nanoarrow as na
        import pandas as pd
        from nanoarrow import ipc
    except ImportError:
        return None
    try:
        if isinstance(value, pd.Series):
            kind, frame = "series", value.to_frame(name=0 if value.name is None else value.name)
            names = [value.name]
        elif isinstance(value, pd.DataFrame):
            kind, frame, names = "dataframe", value, list(value.columns)
        else:
            return None
        if value.attrs or isinstance(frame.columns, pd.MultiIndex):
            raise _NotArrow
        fields: dict[str, Any] = {}
        arrays: list[Any] = []
        columns_meta: list[dict] = []
        for i, name in enumerate(names):
            field = _field_name(name, i, fields)
            array, meta = _column(na, pd, frame.iloc[:, i])
            meta.update(name=name, field_name=field)
            fields[field] = array.schema
            arrays.append(array)
            columns_meta.append(meta)
        index_meta = _index(na, pd, value.index, fields, arrays, columns_meta)
        metadata = {
            PANDAS_KEY: json.dumps(
                {
                    "index_columns": index_meta,
                    "column_indexes": [_column_index_meta(frame.columns)],
                    "columns": columns_meta,
                    "creator": {"library": "mfw"},
                    "pandas_version": pd.__version__,
                },
                allow_nan=False,
            ),
            MFW_KEY: json.dumps({"kind": kind}),
        }
    except (_NotArrow, TypeError, ValueError, OverflowError):
        return None
    schema = na.Schema(na.Type.STRUCT, fields=fields, metadata=metadata)
    batch = na.c_array_from_buffers(schema, len(value.index), [None], children=arrays)
    out = io.BytesIO()
    with ipc.StreamWriter.from_writable(out) as writer:
        writer.write_array(batch)
    return out.getvalue()


def _field_name(name: Any, i: int, fields: dict) -> str:
    """The Arrow field of a column: its name when that is text, else its
    position; the pandas name itself is kept in the metadata (as JSON)."""
    if name is not None and not isinstance(name, (str, int, float, bool)):
        raise _NotArrow
    json.dumps(name, allow_nan=False)
    field = name if isinstance(name, str) else str(i)
    if field in fields or field.startswith("__index_level_"):
        raise _NotArrow  # duplicate column names: one field each is not enough
    return field


def _validity(np: Any, missing: Any) -> tuple[Any, int]:
    """Arrow's validity bitmap for a boolean mask of missing values."""
    nulls = int(missing.sum())
    if nulls == 0:
        return None, 0
    return np.packbits(~missing, bitorder="little"), nulls


def _column(na: Any, pd: Any, column: Any) -> tuple[Any, dict]:
    """One pandas column (or index level) as an Arrow array, with its
    pyarrow-style metadata."""
    import numpy as np

    dtype = column.dtype
    n = len(column)
    meta: dict[str, Any] = {"numpy_type": str(dtype), "metadata": None}
    if isinstance(dtype, np.dtype):
        if dtype.name in _FORMAT_OF:
            values = np.ascontiguousarray(column.to_numpy(), dtype=dtype.newbyteorder("="))
            meta["pandas_type"] = dtype.name
            schema = na.c_schema(getattr(na, dtype.name)())
            return na.c_array_from_buffers(schema, n, [None, values]), meta
        if dtype.kind == "b":
            meta["pandas_type"] = "bool"
            bits = np.packbits(column.to_numpy(), bitorder="little")
            return na.c_array_from_buffers(na.bool_(), n, [None, bits]), meta
        if dtype.kind in "mM":
            unit = np.datetime_data(dtype)[0]
            if unit not in _UNIT_CODE:
                raise _NotArrow
            ticks = column.to_numpy().view("int64")
            validity, nulls = _validity(np, np.isnat(column.to_numpy()))
            if dtype.kind == "M":
                meta["pandas_type"] = "datetime"
                schema = na.timestamp(unit)
            else:
                meta["pandas_type"] = "timedelta"
                schema = na.duration(unit)
            array = na.c_array_from_buffers(
                schema, n, [validity, np.ascontiguousarray(ticks)], null_count=nulls
            )
            return array, meta
        if dtype.kind == "O":
            return _text(na, pd, column, meta)
        raise _NotArrow
    if isinstance(dtype, pd.DatetimeTZDtype):
        if dtype.unit not in _UNIT_CODE:
            raise _NotArrow
        utc = column.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        validity, nulls = _validity(np, np.isnat(utc))
        meta.update(pandas_type="datetimetz", metadata={"timezone": str(dtype.tz)})
        schema = na.timestamp(dtype.unit, str(dtype.tz))
        ticks = np.ascontiguousarray(utc.view("int64"))
        return na.c_array_from_buffers(schema, n, [validity, ticks], null_count=nulls), meta
    if str(dtype) in _MASKED:
        twin = _MASKED[str(dtype)]
        missing = column.isna().to_numpy()
        validity, nulls = _validity(np, missing)
        values = column.to_numpy(dtype=twin, na_value=False if twin == "bool" else 0)
        if twin == "bool":
            meta["pandas_type"] = "bool"
            data, schema = np.packbits(values, bitorder="little"), na.bool_()
        else:
            meta["pandas_type"] = twin
            data, schema = np.ascontiguousarray(values), getattr(na, twin)()
        return na.c_array_from_buffers(schema, n, [validity, data], null_count=nulls), meta
    if isinstance(dtype, pd.StringDtype):
        return _text(na, pd, column, meta)
    raise _NotArrow


def _text(na: Any, pd: Any, column: Any, meta: dict) -> tuple[Any, dict]:
    """A column of text (with missing values) as a large_string array. The
    missing values must all be one kind (None, NaN or pd.NA), recorded so
    they come back as that kind."""
    values = column.to_list()
    missing_kinds = set()
    for v in values:
        if isinstance(v, str):
            continue
        if v is None:
            missing_kinds.add("none")
        elif v is pd.NA:
            missing_kinds.add("na")
        elif isinstance(v, float) and v != v:
            missing_kinds.add("nan")
        else:
            raise _NotArrow  # not all text: pickled
    if len(missing_kinds) > 1:
        raise _NotArrow
    meta["pandas_type"] = "unicode"
    if missing_kinds:
        meta["metadata"] = {"mfw_missing": missing_kinds.pop()}
    texts = [v if isinstance(v, str) else None for v in values]
    return na.c_array(texts, na.large_string()), meta


def _index(na: Any, pd: Any, index: Any, fields: dict, arrays: list, columns_meta: list) -> list:
    """The index as pyarrow records it: a range's bounds, or one field per
    level named ``__index_level_<i>__``."""
    if isinstance(index, pd.RangeIndex):
        json.dumps(index.name, allow_nan=False)
        return [
            {
                "kind": "range",
                "name": index.name,
                "start": int(index.start),
                "stop": int(index.stop),
                "step": int(index.step),
            }
        ]
    levels = (
        [index.get_level_values(i) for i in range(index.nlevels)]
        if isinstance(index, pd.MultiIndex)
        else [index]
    )
    names = []
    for i, level in enumerate(levels):
        if level.name is not None and not isinstance(level.name, (str, int, float, bool)):
            raise _NotArrow
        field = f"__index_level_{i}__"
        array, meta = _column(na, pd, pd.Series(level, copy=False))
        meta.update(name=level.name, field_name=field)
        if getattr(level, "freq", None) is not None:
            # A date range's step, which Arrow's timestamps do not carry.
            meta["metadata"] = {**(meta["metadata"] or {}), "mfw_freq": level.freqstr}
        fields[field] = array.schema
        arrays.append(array)
        columns_meta.append(meta)
        names.append(field)
    return names


def _column_index_meta(columns: Any) -> dict:
    """The column labels' own index; a range (``DataFrame(array)``'s
    columns) is recorded as one."""
    json.dumps(columns.name, allow_nan=False)
    step = getattr(columns, "step", None)
    return {
        "name": columns.name,
        "field_name": columns.name,
        "pandas_type": "unicode",
        "numpy_type": str(columns.dtype),
        "metadata": None
        if step is None
        else {"mfw_range": [int(columns.start), int(columns.stop), int(step)]},
    }


# ------------------------------------------------------------------ reading


def from_ipc(data: bytes) -> Any:
    """The DataFrame or Series an Arrow IPC stream holds; ``None`` when
    nanoarrow or pandas is missing, or the stream has a column type mfw
    does not convert (read it with an Arrow library then)."""
    try:
        import nanoarrow as na
        import numpy as np
        import pandas as pd
        from nanoarrow import ipc
    except ImportError:
        return None
    try:
        with ipc.InputStream.from_readable(io.BytesIO(data)) as source:
            stream = na.c_array_stream(source)
            schema = stream.get_schema()
            batches = list(stream)
        if schema.format != "+s":
            return None
        metadata = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in (schema.metadata or {}).items()
        }
        pandas_meta = json.loads(metadata.get(PANDAS_KEY, "{}"))
        kind = json.loads(metadata.get(MFW_KEY, "{}")).get("kind", "dataframe")
        by_field = {c.get("field_name"): c for c in pandas_meta.get("columns", [])}
        length = sum(b.length for b in batches)
        columns: dict[str, Any] = {}
        for i in range(schema.n_children):
            field = schema.child(i)
            parts = [b.child(i) for b in batches]
            columns[field.name] = _values(na, np, pd, field, parts, by_field.get(field.name, {}))
    except (ValueError, TypeError, KeyError, RuntimeError, OSError, AttributeError):
        return None
    index = _read_index(pd, pandas_meta.get("index_columns"), columns, by_field, length)
    if index is None:
        return None
    data_fields = [f for f in columns if not f.startswith("__index_level_")]
    names = [by_field.get(f, {}).get("name", f) for f in data_fields]
    if any(columns[f] is None for f in data_fields):
        return None
    if kind == "series" and len(data_fields) == 1:
        return pd.Series(columns[data_fields[0]], index=index, name=names[0], copy=False)
    frame = pd.DataFrame(
        {i: columns[f] for i, f in enumerate(data_fields)}, index=index, copy=False
    )
    col_meta = (pandas_meta.get("column_indexes") or [{}])[0]
    col_range = (col_meta.get("metadata") or {}).get("mfw_range")
    if col_range is not None:
        frame.columns = pd.RangeIndex(*col_range, name=col_meta.get("name"))
    else:
        col_dtype = col_meta.get("numpy_type", "object")
        frame.columns = pd.Index(
            names, name=col_meta.get("name"), dtype=None if col_dtype == "object" else col_dtype
        )
    return frame


def _bits(np: Any, buffer: Any, offset: int, length: int) -> Any:
    raw = np.frombuffer(buffer, dtype=np.uint8)
    return np.unpackbits(raw, bitorder="little", count=offset + length)[offset:].astype(bool)


def _missing(np: Any, view: Any) -> Any:
    """A boolean mask of the array's nulls (``None`` when it has none)."""
    if view.null_count == 0 or len(view.buffer(0)) == 0:
        return None
    return ~_bits(np, view.buffer(0), view.offset, view.length)


def _values(na: Any, np: Any, pd: Any, field: Any, parts: list, meta: dict) -> Any:
    """One column's values, from its arrays in each batch, as pandas had
    them when the metadata says how, else in pandas' natural type for the
    Arrow type (nullable dtypes where there are nulls)."""
    from nanoarrow.iterator import iter_py

    fmt = field.format
    numpy_type = meta.get("numpy_type")
    views = [p.view() for p in parts]
    masks = [_missing(np, v) for v in views]
    missing = None
    if any(m is not None for m in masks):
        missing = np.concatenate(
            [
                m if m is not None else np.zeros(v.length, bool)
                for m, v in zip(masks, views, strict=True)
            ]
        )
    if fmt in _NUMERIC or fmt == "b":
        if fmt == "b":
            values = np.concatenate(
                [_bits(np, v.buffer(1), v.offset, v.length) for v in views] or [np.zeros(0, bool)]
            )
        else:
            dtype = np.dtype(_NUMERIC[fmt])
            values = np.concatenate(
                [
                    np.frombuffer(v.buffer(1), dtype=dtype)[v.offset : v.offset + v.length]
                    for v in views
                ]
                or [np.zeros(0, dtype)]
            ).copy()
        if numpy_type in _MASKED or (missing is not None and values.dtype.kind in "iub"):
            mask = missing if missing is not None else np.zeros(len(values), bool)
            return _masked(pd, values, mask)
        if missing is not None:
            values[missing] = np.nan
        return values
    if fmt.startswith(("ts", "tD")):
        unit = _UNITS[fmt[2]]
        ticks = np.concatenate(
            [
                np.frombuffer(v.buffer(1), dtype=np.int64)[v.offset : v.offset + v.length]
                for v in views
            ]
            or [np.zeros(0, np.int64)]
        ).copy()
        kind = "datetime64" if fmt.startswith("ts") else "timedelta64"
        values = ticks.view(f"{kind}[{unit}]")
        if missing is not None:
            values[missing] = np.array("NaT", dtype=values.dtype)
        timezone = fmt[4:] if fmt.startswith("ts") else ""
        if timezone:
            return pd.Series(values).dt.tz_localize("UTC").dt.tz_convert(timezone).array
        return values
    if fmt in ("u", "U"):
        texts = [t for p in parts for t in iter_py(p)]
        if numpy_type == "string":
            return pd.array(texts, dtype="string")
        kind = (meta.get("metadata") or {}).get("mfw_missing")
        fill = {"nan": float("nan"), "na": pd.NA}.get(kind)
        values = np.empty(len(texts), dtype=object)
        values[:] = [fill if t is None else t for t in texts]
        return values
    raise ValueError(f"Arrow type {fmt!r}")


def _masked(pd: Any, values: Any, mask: Any) -> Any:
    """A pandas nullable array: values with a mask of missing ones."""
    if values.dtype.kind == "b":
        return pd.arrays.BooleanArray(values, mask)
    if values.dtype.kind == "f":
        return pd.arrays.FloatingArray(values, mask)
    return pd.arrays.IntegerArray(values, mask)


def _read_index(pd: Any, index_meta: Any, columns: dict, by_field: dict, length: int) -> Any:
    if not index_meta:
        return pd.RangeIndex(length)
    if len(index_meta) == 1 and isinstance(index_meta[0], dict):
        r = index_meta[0]
        if r.get("kind") != "range":
            return None
        return pd.RangeIndex(r["start"], r["stop"], r["step"], name=r.get("name"))
    levels = []
    for field in index_meta:
        if not isinstance(field, str) or field not in columns or columns[field] is None:
            return None
        meta = by_field.get(field, {})
        level = pd.Index(columns[field], name=meta.get("name"), copy=False)
        freq = (meta.get("metadata") or {}).get("mfw_freq")
        if freq is not None and isinstance(level, (pd.DatetimeIndex, pd.TimedeltaIndex)):
            level = type(level)(level, freq=freq)
        levels.append(level)
    if len(levels) == 1:
        return levels[0]
    return pd.MultiIndex.from_arrays(levels)
