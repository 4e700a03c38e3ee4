"""prep: read every green and yellow TLC trip CSV under --raw_data (any number, any names, any
order), tell the two kinds apart by their columns, normalise them to one schema, apply the seed's
filters and write <prep_data>/clean.csv.

Bad data stops the step with one line on stderr: 'error: <file>: column <col>: <what>'."""

from pathlib import Path

import pandas as pd
from factory_steps import DataError, raw_files
from schema import (
    BOUNDS,
    CLEAN_COLUMNS,
    DATETIME_COLUMNS,
    GREEN,
    RAW_COLUMNS,
    TEXT_COLUMNS,
    YELLOW,
)

# The columns that identify a kind (the TLC prefixes: lpep = green, tpep = yellow).
_MARKERS = {GREEN: "lpepPickupDatetime", YELLOW: "tpepPickupDateTime"}
_KIND_ORDER = [GREEN, YELLOW]


def detect_kind(columns, file="<data>"):
    """green or yellow from the header: lpep* columns (and tripType) mean green, tpep* yellow."""
    names = [str(c).strip() for c in columns]
    has_green = any(n.lower().startswith("lpep") for n in names) or "tripType" in names
    has_yellow = any(n.lower().startswith("tpep") for n in names)
    if has_green and has_yellow:
        raise DataError(file, _MARKERS[GREEN], "has both green (lpep*) and yellow (tpep*) columns")
    if not (has_green or has_yellow):
        raise DataError(
            file,
            f"{_MARKERS[GREEN]}/{_MARKERS[YELLOW]}",
            "missing; expected a green (lpep*) or yellow (tpep*) NYC TLC trip file",
        )
    return GREEN if has_green else YELLOW


def read_trips(path: Path, label: str) -> pd.DataFrame:
    """One raw file -> normalised, typed trips (unfiltered) with a 'kind' column."""
    try:
        raw = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(
            label,
            f"{_MARKERS[GREEN]}/{_MARKERS[YELLOW]}",
            "the file is empty; expected a header and trip rows",
        ) from None
    raw.columns = [str(c).strip() for c in raw.columns]
    kind = detect_kind(raw.columns, label)
    mapping = RAW_COLUMNS[kind]
    for column in mapping:
        if column not in raw.columns:
            raise DataError(label, column, f"missing from this {kind} trip file")
    if raw.empty:
        raise DataError(label, _MARKERS[kind], "no data rows under the header")
    df = raw[list(mapping)].rename(columns=mapping)
    for raw_name, name in mapping.items():
        if name in TEXT_COLUMNS:
            continue
        values = df[name].str.strip()
        if name in DATETIME_COLUMNS:
            parsed = pd.to_datetime(values, format="ISO8601", errors="coerce")
            expected = "a date-time like 2016-01-03 21:02:35"
        else:
            parsed = pd.to_numeric(values, errors="coerce")
            expected = "a number"
        bad = parsed.isna() & values.notna() & (values != "")
        if bad.any():
            row = int(bad.idxmax())
            raise DataError(
                label, raw_name, f"value {values[row]!r} on line {row + 2} is not {expected}"
            )
        df[name] = parsed
    df["store_forward"] = df["store_forward"].fillna("N").replace({"0": "N"})
    df.insert(0, "kind", kind)
    return df


def apply_filters(df: pd.DataFrame) -> pd.DataFrame:
    """The seed's filters: inside the city border, distance, passengers and fare/total positive."""
    keep = (df["distance"] > 0) & (df["passengers"] > 0) & (df["cost"] > 0)
    keep &= df["total_amount"] > 0
    for column, (low, high) in BOUNDS.items():
        keep &= df[column].between(low, high)
    keep &= df[["vendor", "rate_code", *DATETIME_COLUMNS]].notna().all(axis=1)
    return df[keep].reset_index(drop=True)


def prepare(raw_data: Path) -> tuple[pd.DataFrame, dict]:
    """All trip files under raw_data -> (clean trips, counts). Green before yellow, then by file
    path, so the result does not depend on the order the files are listed in."""
    files = raw_files(raw_data, "trip")
    frames = {GREEN: [], YELLOW: []}
    for path, label in files:
        df = read_trips(path, label)
        print(f"read {label}: {df['kind'].iat[0]}, {len(df)} rows", flush=True)
        frames[df["kind"].iat[0]].append(df)
    combined = pd.concat([f for k in _KIND_ORDER for f in frames[k]], ignore_index=True)
    clean = apply_filters(combined)[CLEAN_COLUMNS]
    counts = {
        "files_green": len(frames[GREEN]),
        "files_yellow": len(frames[YELLOW]),
        "rows_raw": len(combined),
        "rows_clean": len(clean),
    }
    return clean, counts
