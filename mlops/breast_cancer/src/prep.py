"""The breast_cancer model's prep: read every WDBC export CSV under the raw folder (any number,
any names), check each (columns, diagnosis M/B, measurements non-negative numbers, ids unique
across files) and return the rows sorted by id, so file names and order do not matter.

Bad data raises DataError naming the file, column and line."""

from pathlib import Path

import pandas as pd
from factory_steps import DataError, raw_files
from schema import DIAGNOSIS, FEATURES, ID, LABELS, RAW_COLUMNS


def read_export(path: Path, label: str) -> pd.DataFrame:
    try:
        raw = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(label, ID, "the file is empty; expected a header and rows") from None
    raw.columns = [str(c).strip() for c in raw.columns]
    for column in RAW_COLUMNS:
        if column not in raw.columns:
            raise DataError(label, column, "missing; expected the WDBC export's columns "
                                           f"({ID}, {DIAGNOSIS}, {FEATURES[0]}, ...)")
    if raw.empty:
        raise DataError(label, ID, "no data rows under the header")
    frame = raw[RAW_COLUMNS].copy()
    ids = pd.to_numeric(frame[ID].str.strip(), errors="coerce")
    _first_bad(ids.isna() | (ids % 1 != 0), frame[ID], label, ID, "an integer id")
    frame[ID] = ids.astype("int64")
    frame[DIAGNOSIS] = frame[DIAGNOSIS].str.strip().str.upper()
    _first_bad(~frame[DIAGNOSIS].isin(list(LABELS)), raw[DIAGNOSIS], label, DIAGNOSIS,
               f"one of {', '.join(LABELS)} ({', '.join(LABELS.values())})")
    for column in FEATURES:
        values = pd.to_numeric(frame[column].str.strip(), errors="coerce")
        _first_bad(values.isna() | (values < 0), frame[column], label, column,
                   "a non-negative number")
        frame[column] = values.astype(float)
    return frame


def _first_bad(bad: pd.Series, shown: pd.Series, label, column, expected) -> None:
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise DataError(label, column, f"value {shown.iloc[row]!r} on line {row + 2} is not "
                                       f"{expected}")


def prepare(raw_data: Path) -> tuple[pd.DataFrame, dict]:
    """All export files under raw_data -> (checked rows sorted by id, counts)."""
    files = raw_files(raw_data, "export")
    frames, owner = [], {}
    for path, label in files:
        frame = read_export(path, label)
        for value in frame[ID]:
            if value in owner:
                raise DataError(label, ID, f"id {value} is also in {owner[value]}; each "
                                           f"aspirate appears once")
            owner[value] = label
        print(f"read {label}: {len(frame)} rows", flush=True)
        frames.append(frame)
    clean = pd.concat(frames, ignore_index=True).sort_values(ID, kind="stable")
    clean = clean.reset_index(drop=True)
    counts = {"files": len(files), "rows": len(clean),
              "malignant": int((clean[DIAGNOSIS] == "M").sum())}
    return clean, counts
