"""The WDBC data: the generator writes scikit-learn's real rows in the export layout, prep
checks every row and names the file, column and line of anything wrong."""

import pandas as pd
import pytest


def test_training_data_is_every_real_row(kit, tmp_path):
    from sklearn.datasets import load_breast_cancer

    kit.generate(tmp_path, "training_data")
    frame = pd.read_csv(tmp_path / "aspirates.csv")
    schema = kit.src("schema")
    assert list(frame.columns) == schema.RAW_COLUMNS
    real = load_breast_cancer()
    assert len(frame) == len(real.target) == 569
    assert (frame["diagnosis"] == "M").sum() == (real.target == 0).sum() == 212
    assert frame["id"].is_unique
    measured = frame.sort_values("id")[schema.FEATURES].to_numpy()
    assert abs(measured - real.data).max() < 1e-9  # the real measurements, unchanged


def test_prep_sorts_by_id_whatever_the_files(kit, raw_pr, tmp_path):
    prep = kit.src("prep")
    whole, counts = prep.prepare(raw_pr)
    rows = pd.read_csv(raw_pr / "aspirates.csv", dtype=str)
    split = tmp_path / "split"
    (split / "later").mkdir(parents=True)
    rows.iloc[::2].to_csv(split / "later" / "a.csv", index=False)
    rows.iloc[1::2].to_csv(split / "b.csv", index=False)
    parts, part_counts = prep.prepare(split)
    pd.testing.assert_frame_equal(parts, whole)
    assert whole["id"].is_monotonic_increasing
    assert part_counts == {**counts, "files": 2}


def _bad(kit, raw_pr, tmp_path, mutate):
    rows = pd.read_csv(raw_pr / "aspirates.csv", dtype=str)
    folder = tmp_path / "bad"
    folder.mkdir()
    mutate(rows, folder)
    return kit.run("step_prep.py", "--raw_data", folder, "--prep_data", tmp_path / "out",
                   check=False)


def _set(column, value):
    def mutate(rows, folder):
        rows.loc[3, column] = value
        rows.to_csv(folder / "aspirates.csv", index=False)
    return mutate


def _duplicate(rows, folder):
    rows.to_csv(folder / "a.csv", index=False)
    rows.iloc[:5].to_csv(folder / "b.csv", index=False)


@pytest.mark.parametrize(("mutate", "expected"), [
    (_set("diagnosis", "X"), "aspirates.csv: column diagnosis: value 'X' on line 5 is not one of M, B"),
    (_set("radius_mean", "-1.5"), "column radius_mean: value '-1.5' on line 5 is not a non-neg"),
    (_set("area_worst", "big"), "column area_worst: value 'big' on line 5 is not a non-negative"),
    (_set("id", "12.5"), "column id: value '12.5' on line 5 is not an integer id"),
    (lambda rows, folder: rows.drop(columns="texture_se").to_csv(folder / "a.csv", index=False),
     "a.csv: column texture_se: missing"),
    (_duplicate, "b.csv: column id: id"),
], ids=["diagnosis", "negative", "text", "id", "missing-column", "duplicate-id"])
def test_bad_data_fails_naming_file_column_and_line(kit, raw_pr, tmp_path, mutate, expected):
    result = _bad(kit, raw_pr, tmp_path, mutate)
    assert result.returncode == 2
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and expected.split(": ", 1)[-1] in line, line
    assert not (tmp_path / "out" / "clean.csv").exists()
