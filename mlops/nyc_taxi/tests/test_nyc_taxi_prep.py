"""prep: green and yellow told apart by their columns, any number and order of files, the seed's
filters, and one clear error naming file and column for bad data."""

import shutil

import pandas as pd
import pytest


def _clean(kit, raw):
    clean, counts = kit.src("prep").prepare(raw)
    return clean, counts


def test_kind_comes_from_columns_not_names_or_order(kit, raw_pr, tmp_path):
    reference, counts = _clean(kit, raw_pr)
    assert counts["files_green"] == 1 and counts["files_yellow"] == 1
    # Swap the names: the yellow trips now sort first and carry the green file's name.
    swapped = tmp_path / "swapped"
    swapped.mkdir()
    shutil.copy(raw_pr / "yellowTaxiData.csv", swapped / "0_greenTaxiData.csv")
    shutil.copy(raw_pr / "greenTaxiData.csv", swapped / "zz_yellow.csv")
    result, _ = _clean(kit, swapped)
    pd.testing.assert_frame_equal(result, reference)
    assert set(result["kind"]) == {"green", "yellow"}
    assert result["kind"].iloc[0] == "green"


def test_any_number_of_files_of_either_kind(kit, raw_pr, tmp_path):
    green = pd.read_csv(raw_pr / "greenTaxiData.csv")
    folder = tmp_path / "many"
    (folder / "sub").mkdir(parents=True)
    green.iloc[:100].to_csv(folder / "g1.csv", index=False)
    green.iloc[100:].to_csv(folder / "sub" / "g2.csv", index=False)
    clean, counts = _clean(kit, folder)
    assert counts == {**counts, "files_green": 2, "files_yellow": 0, "rows_raw": len(green)}
    assert (clean["kind"] == "green").all()


def test_filters_are_the_seeds(kit, raw_pr):
    schema = kit.src("schema")
    clean, counts = _clean(kit, raw_pr)
    assert 0 < counts["rows_clean"] < counts["rows_raw"]
    assert (clean["distance"] > 0).all() and (clean["cost"] > 0).all()
    assert (clean["passengers"] > 0).all() and (clean["total_amount"] > 0).all()
    for column, (low, high) in schema.BOUNDS.items():
        assert clean[column].between(low, high).all(), column
    assert list(clean.columns) == schema.CLEAN_COLUMNS


def _bad(kit, raw_pr, tmp_path, name, mutate):
    folder = tmp_path / "bad"
    folder.mkdir()
    shutil.copy(raw_pr / "yellowTaxiData.csv", folder / "yellowTaxiData.csv")
    green = pd.read_csv(raw_pr / "greenTaxiData.csv", dtype=str, keep_default_na=False)
    mutate(folder / name, green)
    out = tmp_path / "out"
    return kit.run("step_prep.py", "--raw_data", folder, "--prep_data", out, check=False), out


@pytest.mark.parametrize(
    ("case", "mutate", "column", "problem"),
    [
        ("missing column",
         lambda path, df: df.drop(columns=["fareAmount"]).to_csv(path, index=False),
         "fareAmount", "missing"),
        ("empty file", lambda path, df: path.write_text(""),
         "lpepPickupDatetime/tpepPickupDateTime", "empty"),
        ("header only", lambda path, df: df.iloc[:0].to_csv(path, index=False),
         "lpepPickupDatetime", "no data rows"),
        ("non-numeric fare",
         lambda path, df: df.assign(fareAmount=df["fareAmount"].where(df.index != 3, "abc"))
         .to_csv(path, index=False),
         "fareAmount", "'abc' on line 5 is not a number"),
        ("bad date",
         lambda path, df: df.assign(lpepDropoffDatetime="yesterday").to_csv(path, index=False),
         "lpepDropoffDatetime", "'yesterday' on line 2"),
        ("unknown layout", lambda path, df: path.write_text("a,b\n1,2\n"),
         "lpepPickupDatetime/tpepPickupDateTime", "missing"),
    ],
)
def test_bad_data_fails_naming_file_and_column(kit, raw_pr, tmp_path, case, mutate, column, problem):
    result, out = _bad(kit, raw_pr, tmp_path, "trips_march.csv", mutate)
    assert result.returncode != 0, case
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: trips_march.csv: column {column}: "), lines[0]
    assert problem in lines[0]
    assert not (out / "clean.csv").exists()
