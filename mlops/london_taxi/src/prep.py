"""prep: read every London black-cab journey CSV under --raw_data, check it, place the postcode
districts, drop journeys that cannot be fares and write <prep_data>/clean.csv sorted by start
time and journey id (so file names and order do not matter).

Bad data stops the step with one line on stderr: 'error: <file>: column <col>: <what>'."""

from pathlib import Path

import pandas as pd
from factory_steps import DataError, raw_files
from schema import CLEAN_COLUMNS, DISTRICTS, RAW_COLUMNS, TARIFFS

_MAX_MINUTES = 300  # a meter running five hours is a forgotten meter, not a fare


def _check(values: pd.Series, parsed: pd.Series, label, column, expected):
    bad = parsed.isna() & values.notna() & (values != "")
    if bad.any():
        row = int(bad.idxmax())
        raise DataError(label, column, f"value {values[row]!r} on line {row + 2} is not {expected}")


def read_journeys(path: Path, label: str) -> pd.DataFrame:
    """One raw file -> typed journeys (unfiltered) with district coordinates."""
    try:
        raw = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(label, "journey_id", "the file is empty; expected a header and journeys") \
            from None
    raw.columns = [str(c).strip() for c in raw.columns]
    for column in RAW_COLUMNS:
        if column not in raw.columns:
            raise DataError(label, column, "missing from this journey file")
    if raw.empty:
        raise DataError(label, "journey_id", "no data rows under the header")
    df = raw[list(RAW_COLUMNS)].copy()
    for column, kind in RAW_COLUMNS.items():
        values = df[column].str.strip()
        if kind == "datetime":
            parsed = pd.to_datetime(values, format="ISO8601", errors="coerce")
            _check(values, parsed, label, column, "an ISO 8601 time like 2024-03-05T08:14:22")
        elif kind in ("number", "tariff"):
            parsed = pd.to_numeric(values, errors="coerce")
            _check(values, parsed, label, column, "a number")
            if kind == "tariff":
                wrong = parsed.notna() & ~parsed.isin(TARIFFS)
                if wrong.any():
                    row = int(wrong.idxmax())
                    raise DataError(label, column, f"value {values[row]!r} on line {row + 2} is "
                                    f"not a TfL tariff ({', '.join(map(str, TARIFFS))})")
        elif kind == "district":
            parsed = values.str.upper()
            unknown = parsed.notna() & ~parsed.isin(DISTRICTS)
            if unknown.any():
                row = int(unknown.idxmax())
                raise DataError(label, column, f"value {values[row]!r} on line {row + 2} is not a "
                                "known postcode district (see schema.DISTRICTS)")
        else:
            parsed = values
        df[column] = parsed
    for end in ("pickup", "dropoff"):
        district = df[f"{end}_district"]
        df[f"{end}_lat"] = district.map(lambda d: DISTRICTS[d][1] if d in DISTRICTS else None)
        df[f"{end}_lon"] = district.map(lambda d: DISTRICTS[d][2] if d in DISTRICTS else None)
    return df


def apply_filters(df: pd.DataFrame) -> pd.DataFrame:
    """Keep chargeable journeys: positive distance and fare, 1-6 passengers, a sane duration."""
    minutes = (df["end_time"] - df["start_time"]).dt.total_seconds() / 60
    keep = (df["distance_km"] > 0) & (df["fare_gbp"] > 0) & df["passengers"].between(1, 6)
    keep &= (minutes > 0) & (minutes <= _MAX_MINUTES)
    keep &= df[["tariff", "extras_gbp", "pickup_lat", "dropoff_lat"]].notna().all(axis=1)
    return df[keep].reset_index(drop=True)


def prepare(raw_data: Path) -> tuple[pd.DataFrame, dict]:
    files = raw_files(raw_data, "journey")
    frames = []
    for path, label in files:
        frames.append(read_journeys(path, label))
        print(f"read {label}: {len(frames[-1])} journeys", flush=True)
    combined = pd.concat(frames, ignore_index=True)
    clean = apply_filters(combined)
    clean = clean.sort_values(["start_time", "journey_id"], kind="stable").reset_index(drop=True)
    clean[["passengers", "tariff"]] = clean[["passengers", "tariff"]].astype("int64")
    counts = {"files": len(files), "rows_raw": len(combined), "rows_clean": len(clean)}
    return clean[CLEAN_COLUMNS], counts
