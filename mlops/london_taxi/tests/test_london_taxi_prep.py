"""prep: any number and order of journey files give the same clean data; chargeable journeys
only; one clear error naming file and column for bad data."""

import shutil

import pandas as pd
import pytest


def test_file_names_and_order_do_not_matter(kit, raw_pr, tmp_path):
    prep = kit.src("prep")
    reference, counts = prep.prepare(raw_pr)
    assert counts["files"] == 2
    frame = pd.concat(pd.read_csv(p, dtype=str) for p in sorted(raw_pr.glob("*.csv")))
    shuffled = tmp_path / "shuffled"
    (shuffled / "deep").mkdir(parents=True)
    parts = [frame.iloc[i::3] for i in range(3)]
    for part, name in zip(parts, ["z.csv", "a.csv", "deep/m.csv"], strict=True):
        part.iloc[::-1].to_csv(shuffled / name, index=False)
    result, counts = prep.prepare(shuffled)
    assert counts["files"] == 3
    pd.testing.assert_frame_equal(result, reference)


def test_keeps_only_chargeable_journeys_and_places_districts(kit, raw_pr):
    prep = kit.src("prep")
    schema = kit.src("schema")
    clean, counts = prep.prepare(raw_pr)
    assert 0 < counts["rows_clean"] < counts["rows_raw"]
    assert (clean["distance_km"] > 0).all() and (clean["fare_gbp"] > 0).all()
    assert (clean["end_time"] > clean["start_time"]).all()
    assert list(clean.columns) == schema.CLEAN_COLUMNS
    heathrow = clean[clean["pickup_district"] == "TW6"]
    assert (heathrow["pickup_lat"] == schema.DISTRICTS["TW6"][1]).all()


def _set(column, line, value):
    def mutate(path, df):
        df.loc[line - 2, column] = value
        df.to_csv(path, index=False)
    return mutate


@pytest.mark.parametrize(
    ("case", "mutate", "column", "problem"),
    [
        ("missing column",
         lambda path, df: df.drop(columns=["fare_gbp"]).to_csv(path, index=False),
         "fare_gbp", "missing"),
        ("empty file", lambda path, df: path.write_text(""), "journey_id", "empty"),
        ("header only", lambda path, df: df.iloc[:0].to_csv(path, index=False),
         "journey_id", "no data rows"),
        ("non-numeric fare", _set("fare_gbp", 4, "twelve pounds"), "fare_gbp",
         "'twelve pounds' on line 4 is not a number"),
        ("unknown district", _set("dropoff_district", 3, "ZZ9"), "dropoff_district",
         "'ZZ9' on line 3 is not a known postcode district"),
        ("bad tariff", _set("tariff", 2, "7"), "tariff", "not a TfL tariff"),
        ("bad time", _set("start_time", 5, "teatime"), "start_time", "'teatime' on line 5"),
    ],
)
def test_bad_data_fails_naming_file_and_column(kit, raw_pr, tmp_path, case, mutate, column, problem):
    folder = tmp_path / "bad"
    folder.mkdir()
    first, second = sorted(raw_pr.glob("*.csv"))
    shutil.copy(first, folder / first.name)
    mutate(folder / "late_shift.csv", pd.read_csv(second, dtype=str, keep_default_na=False))
    result = kit.run("step_prep.py", "--raw_data", folder, "--prep_data", tmp_path / "out", check=False)
    assert result.returncode != 0, case
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: late_shift.csv: column {column}: "), lines[0]
    assert problem in lines[0]
    assert not (tmp_path / "out" / "clean.csv").exists()
