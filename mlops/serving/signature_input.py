"""Check model input against the MLflow model's signature; every problem names the field.

Every model's score.py imports it as a sibling: mlops/serving/code_folder.py adds it to the
code folder a deployment runs (local or Azure ML). Imports pandas only, so it loads anywhere a
score.py runs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_ROWS = 10_000  # one online request; larger jobs belong on the batch endpoint
TOP_LEVEL_KEYS = ("input_data",)

_NUMPY_DTYPES = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32",
                 "boolean": "bool", "string": "object"}
_EXPECTED = {"double": "a number", "float": "a number", "long": "an integer",
             "integer": "an integer", "boolean": "true or false", "string": "a string",
             "datetime": "an ISO date-time string"}
# What each numeric type holds: a value outside is refused, not wrapped around or made inf.
_INTEGER_RANGE = {"long": (-2**63, 2**63 - 1), "integer": (-2**31, 2**31 - 1)}
_FLOAT_MAX = {"double": 1.7976931348623157e308, "float": 3.4028234663852886e38}
_SHOWN = 40  # characters of an offending value quoted back


class InputError(ValueError):
    """The input does not match the model's signature; the message names what is wrong."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # MLflow DataType name: double, float, long, integer, boolean, string, datetime
    required: bool = True


def signature_columns(signature) -> list[Column]:
    """The input columns of an MLflow ModelSignature (column-based schemas only)."""
    if signature is None or signature.inputs is None:
        raise InputError("the model has no input signature; it cannot validate requests")
    columns = []
    for spec in signature.inputs.inputs:
        if not getattr(spec, "name", None):
            raise InputError("the model's input signature has unnamed columns (tensor schema); "
                             "expected a column-based signature")
        type_name = getattr(spec.type, "name", str(spec.type))
        columns.append(Column(spec.name, type_name, bool(getattr(spec, "required", True))))
    return columns


def parse_request(raw: str | bytes) -> list[dict]:
    """The rows of a request body: {"input_data": [{field: value}, ...]} or the Azure ML
    split form {"input_data": {"columns": [...], "data": [[...], ...]}}."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"request body is not UTF-8: {exc}") from None
    if not raw or not raw.strip():
        raise InputError('request body is empty; expected JSON {"input_data": [{...}, ...]} '
                         "sent with Content-Type: application/json")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise InputError(f"request body is not valid JSON: {_clip(str(exc), 200)}") from None
    except RecursionError:
        raise InputError('request body nests arrays or objects too deeply to be a request; '
                         'expected {"input_data": [{field: value, ...}, ...]}') from None
    if not isinstance(body, dict):
        raise InputError(f'request body must be a JSON object with key "input_data", '
                         f"got {type(body).__name__}")
    unknown = sorted(set(body) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise InputError(f"unknown top-level field(s) {', '.join(map(repr, unknown))}; "
                         f'expected only "input_data"')
    if "input_data" not in body:
        raise InputError('missing field "input_data"')
    data = body["input_data"]
    if isinstance(data, dict):
        return _split_rows(data)
    if not isinstance(data, list):
        raise InputError(f'"input_data" must be a list of row objects or '
                         f'{{"columns": [...], "data": [[...]]}}, got {type(data).__name__}')
    for i, row in enumerate(data):
        if not isinstance(row, dict):
            raise InputError(f"input_data[{i}] must be an object of field: value, "
                             f"got {type(row).__name__}")
    return data


def _split_rows(data: dict) -> list[dict]:
    unknown = sorted(set(data) - {"columns", "data", "index"})
    if unknown:
        raise InputError(f"unknown field(s) in input_data: {', '.join(map(repr, unknown))}; "
                         f'expected "columns", "data" (and optional "index")')
    columns, rows = data.get("columns"), data.get("data")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise InputError('input_data.columns must be a list of field names')
    if not isinstance(rows, list):
        raise InputError('input_data.data must be a list of rows (lists of values)')
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(columns):
            raise InputError(f"input_data.data[{i}] must be a list of {len(columns)} values "
                             f"(one per column)")
        out.append(dict(zip(columns, row, strict=True)))
    return out


def _clip(text: str, limit: int = _SHOWN) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _show(value) -> str:
    """The offending value as the user wrote it, shortened; containers by kind only (they may
    nest deeper than json.dumps can follow)."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**_SHOWN:
        return f"an integer of {len(str(abs(value)))} digits"
    return _clip(json.dumps(value))


def _number_ok(value, kind: str) -> str | None:
    """None when value fits the numeric type, else what was expected."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _EXPECTED[kind]
    if kind in _INTEGER_RANGE:
        low, high = _INTEGER_RANGE[kind]
        if isinstance(value, float) and not value.is_integer():
            return _EXPECTED[kind]
        if not low <= value <= high:
            return f"an integer from {low} to {high}"
        return None
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number) or abs(number) > _FLOAT_MAX[kind]:
        return f"a finite number of at most {_FLOAT_MAX[kind]:.7g} in magnitude"
    return None


def _check_value(value, column: Column, where: str) -> None:
    kind = column.type
    expected = None
    if kind in ("double", "float", "long", "integer"):
        expected = _number_ok(value, kind)
    elif kind == "boolean":
        expected = None if isinstance(value, bool) else _EXPECTED[kind]
    elif kind == "string":
        expected = None if isinstance(value, str) else _EXPECTED[kind]
    elif kind == "datetime":
        ok = isinstance(value, str) and not pd.isna(pd.to_datetime(value, errors="coerce"))
        expected = None if ok else _EXPECTED[kind]
    if expected is not None:
        raise InputError(f"{where} field {column.name!r}: expected {expected}, "
                         f"got {_show(value)}")


def rows_to_frame(rows: list[dict], columns: list[Column]) -> pd.DataFrame:
    """Validate request rows and build the model's input frame (signature column order)."""
    if not rows:
        raise InputError('"input_data" has no rows; send at least one')
    if len(rows) > MAX_ROWS:
        raise InputError(f'"input_data" has {len(rows)} rows; at most {MAX_ROWS} per request '
                         f"(use the batch endpoint for more)")
    known = {c.name for c in columns}
    values: dict[str, list] = {c.name: [] for c in columns}
    for i, row in enumerate(rows):
        if not known.issuperset(row):
            unknown = sorted(set(row) - known)
            raise InputError(f"input_data[{i}]: unknown field(s) "
                             f"{', '.join(_clip(repr(u)) for u in unknown)}; expected fields: "
                             f"{', '.join(c.name for c in columns)}")
        for column in columns:
            value = row.get(column.name)
            if value is None:
                if column.required:
                    state = "missing" if column.name not in row else "null"
                    raise InputError(f"input_data[{i}]: {state} field {column.name!r} "
                                     f"({_EXPECTED.get(column.type, column.type)})")
            else:
                _check_value(value, column, f"input_data[{i}]")
            values[column.name].append(value)
    return pd.DataFrame({c.name: _column_array(values[c.name], c) for c in columns})


def _column_array(values: list, column: Column):
    """One checked column as the model's dtype (numbers with a gap become float with NaN)."""
    if column.type == "datetime":
        return pd.to_datetime(values)
    dtype = _NUMPY_DTYPES.get(column.type, "object")
    if any(v is None for v in values):
        if column.type in ("double", "float", "long", "integer"):
            return np.array([np.nan if v is None else v for v in values], dtype="float64")
        dtype = "object"
    array = np.array(values, dtype=dtype)
    # object columns stay object: pandas would otherwise infer its own string dtype
    return pd.Series(array, dtype=object) if dtype == "object" else array


def _plain(value):
    """numpy scalars print as np.float64(2.5); users wrote 2.5."""
    return value.item() if hasattr(value, "item") else value


_RANGE_TEXT = {"long": " (64-bit)", "integer": " (32-bit)", "double": " (finite)",
               "float": " (finite, 32-bit)"}


def _numbers(values: pd.Series, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(column as the type's dtype, or float64 with NaN where empty; cells that are not a
    number the type can hold). numpy over whole columns: no per-cell Python."""
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric and isinstance(values.dtype, np.dtype):
        # a plain numpy column (what a CSV or Parquet reader gives): no cell can be text, so
        # pandas' NA machinery (half of a batch file's check) is skipped
        numbers = values
        raw = values.to_numpy()
        as_float = raw.astype("float64", copy=False)
        empty = np.isnan(as_float) if raw.dtype.kind == "f" else np.zeros(len(raw), bool)
        bad = np.zeros(len(raw), bool)
    else:
        numbers = values if numeric else pd.to_numeric(values, errors="coerce")
        as_float = numbers.to_numpy(dtype="float64", na_value=np.nan)
        empty = np.isnan(as_float)
        bad = empty & values.notna().to_numpy()  # text that is no number at all
    with np.errstate(invalid="ignore"):
        if kind in _INTEGER_RANGE:
            low, high = _INTEGER_RANGE[kind]
            bad |= ~empty & ((as_float % 1 != 0) | (as_float < low) | (as_float > high))
        else:
            bad |= ~empty & ~(np.abs(as_float) <= _FLOAT_MAX[kind])  # inf fails too
    if empty.any():
        return as_float, bad
    return numbers.to_numpy().astype(_NUMPY_DTYPES[kind]), bad


def file_frame(frame: pd.DataFrame, columns: list[Column], source: str) -> pd.DataFrame:
    """Batch: a file's rows as model input. Extra columns (e.g. the actual target) are dropped;
    a missing column or a value of the wrong type names the file, column and row."""
    missing = [c.name for c in columns if c.name not in frame.columns and c.required]
    if missing:
        raise InputError(f"{source}: missing column(s) {', '.join(map(repr, missing))}; "
                         f"has: {', '.join(map(str, frame.columns))}")
    data = {}
    for column in columns:
        if column.name not in frame.columns:
            data[column.name] = pd.Series(None, index=frame.index, dtype=object)
            continue
        values = frame[column.name]
        if column.type in ("double", "float", "long", "integer"):
            converted, bad = _numbers(values, column.type)
            empty = np.isnan(converted) if converted.dtype.kind == "f" else None
        else:
            if column.type == "boolean":
                mapping = {True: True, False: False, "true": True, "false": False,
                           "True": True, "False": False}  # 1/0 hash as True/False
                series = values.map(lambda v, m=mapping: m.get(v) if v in m else None)
            elif column.type == "datetime":
                series = pd.to_datetime(values, errors="coerce")
            else:
                series = values
            empty = series.isna().to_numpy()
            bad = empty & values.notna().to_numpy()
            # object columns stay object: pandas would otherwise infer its own string dtype
            converted = series if column.type == "datetime" else pd.Series(
                series.to_numpy(dtype=object), index=frame.index, dtype=object)
        if bad.any():
            row = int(np.argmax(bad))
            raise InputError(f"{source}: column {column.name!r} row {frame.index[row]}: "
                             f"expected {_EXPECTED.get(column.type, column.type)}"
                             f"{_RANGE_TEXT.get(column.type, '')}, "
                             f"got {_clip(repr(_plain(values.iloc[row])))}")
        if column.required and empty is not None and empty.any():
            row = int(np.argmax(empty))
            raise InputError(f"{source}: column {column.name!r} row {frame.index[row]}: "
                             f"value is empty")
        data[column.name] = converted
    return pd.DataFrame(data, index=frame.index)
