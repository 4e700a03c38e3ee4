"""Request and batch-file validation against a model signature (mlops/serving/signature_input.py)
and the serving scripts built on it."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

from mlops.serving import code_folder
from mlops.serving.signature_input import (
    Column,
    InputError,
    file_frame,
    parse_request,
    rows_to_frame,
    signature_columns,
)

REPO = Path(__file__).resolve().parents[2]
COLUMNS = [Column("distance", "double"), Column("passengers", "long"),
           Column("vendor", "string"), Column("flag", "boolean", required=False)]
ROW = {"distance": 1.5, "passengers": 2, "vendor": "CMT"}


def test_signature_columns_read_an_mlflow_signature():
    from mlflow.models import infer_signature

    frame = pd.DataFrame({"distance": [1.0], "passengers": [2], "vendor": ["CMT"]})
    columns = signature_columns(infer_signature(frame, [1.0]))
    assert [(c.name, c.type) for c in columns] == [
        ("distance", "double"), ("passengers", "long"), ("vendor", "string")]


def test_records_and_split_forms_give_the_same_frame():
    records = parse_request(json.dumps({"input_data": [ROW]}))
    split = parse_request(json.dumps({"input_data": {
        "columns": list(ROW), "data": [list(ROW.values())], "index": [0]}}))
    assert records == split == [ROW]
    frame = rows_to_frame(records, COLUMNS)
    assert list(frame.columns) == ["distance", "passengers", "vendor", "flag"]
    assert str(frame["passengers"].dtype) == "int64" and frame.loc[0, "distance"] == 1.5


@pytest.mark.parametrize(("body", "message"), [
    (b"", "body is empty"),
    (b"\xff\xfe", "not UTF-8"),
    (b"{oops", "not valid JSON"),
    (b"[1, 2]", "got list"),
    (b'{"input_data": [], "extra": 1}', "unknown top-level field(s) 'extra'"),
    (b'{"data": []}', "unknown top-level field(s) 'data'"),
    (b"{}", 'missing field "input_data"'),
    (b'{"input_data": "rows"}', "got str"),
    (b'{"input_data": [1]}', "input_data[0] must be an object"),
    (b'{"input_data": {"columns": ["a"], "data": [[1, 2]]}}', "input_data.data[0]"),
    (b'{"input_data": {"columns": "a", "data": []}}', "input_data.columns"),
])
def test_malformed_bodies_name_the_problem(body, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("(", r"\(")
                       .replace(")", r"\)")):
        parse_request(body)


@pytest.mark.parametrize(("row", "message"), [
    ({"passengers": 2, "vendor": "CMT"}, "missing field 'distance'"),
    ({**ROW, "distance": None}, "null field 'distance'"),
    ({**ROW, "distance": "far"}, "field 'distance': expected a number, got \"far\""),
    ({**ROW, "distance": True}, "field 'distance': expected a number"),
    ({**ROW, "passengers": 2.5}, "field 'passengers': expected an integer, got 2.5"),
    ({**ROW, "vendor": 7}, "field 'vendor': expected a string"),
    ({**ROW, "flag": "yes"}, "field 'flag': expected true or false"),
    ({**ROW, "tip": 1}, "unknown field(s) 'tip'"),
])
def test_wrong_rows_name_row_and_field(row, message):
    with pytest.raises(InputError) as info:
        rows_to_frame([ROW, row], COLUMNS)
    assert "input_data[1]" in str(info.value) and message in str(info.value)


def test_optional_field_may_be_missing_and_integral_floats_pass():
    frame = rows_to_frame([{**ROW, "passengers": 3.0}], COLUMNS)
    assert frame.loc[0, "passengers"] == 3 and pd.isna(frame.loc[0, "flag"])


def test_no_rows_or_too_many_rows_are_refused():
    with pytest.raises(InputError, match="no rows"):
        rows_to_frame([], COLUMNS)
    with pytest.raises(InputError, match="at most"):
        rows_to_frame([ROW] * 10_001, COLUMNS)


def test_file_frame_drops_extra_columns_and_names_bad_cells():
    data = pd.DataFrame({"distance": ["1.5", "2"], "passengers": [1, 2], "vendor": ["a", "b"],
                         "cost": [9.0, 9.0]})
    frame = file_frame(data, COLUMNS, "part-1.csv")
    assert list(frame.columns) == ["distance", "passengers", "vendor", "flag"]
    assert frame["distance"].tolist() == [1.5, 2.0]
    with pytest.raises(InputError, match=r"part-1.csv: missing column\(s\) 'vendor'"):
        file_frame(data.drop(columns="vendor"), COLUMNS, "part-1.csv")
    with pytest.raises(InputError, match=r"part-1.csv: column 'passengers' row 1: expected an "
                                         r"integer \(64-bit\), got 2.5"):
        file_frame(data.assign(passengers=[1, 2.5]), COLUMNS, "part-1.csv")
    with pytest.raises(InputError, match="column 'distance' row 0: value is empty"):
        file_frame(data.assign(distance=[None, 1.0]), COLUMNS, "part-1.csv")
    # a plain numpy column takes the fast path, pandas' nullable one the general path: the same
    with pytest.raises(InputError, match="column 'passengers' row 1: value is empty"):
        file_frame(data.assign(passengers=[1.0, None]), COLUMNS, "part-1.csv")
    with pytest.raises(InputError, match="column 'passengers' row 1: value is empty"):
        file_frame(data.assign(passengers=pd.array([1, None], dtype="Int64")), COLUMNS, "p.csv")
    assert file_frame(data.assign(passengers=pd.array([1, 2], dtype="Int64")), COLUMNS,
                      "p.csv")["passengers"].tolist() == [1, 2]


class _Model:
    """Stands in for served_model.ServedModel: a regression on distance."""

    task, classes, columns = "regression", None, COLUMNS[:3]

    def predict(self, frame):
        return (frame["distance"] * 2).to_numpy(), None


def _load_score(kind: str, tmp_path: Path, model_serving: Path | None = None):
    """The factory's score.py for ``kind`` from a staged code folder, as a deployment runs it."""
    code = code_folder.stage(model_serving or tmp_path / "no-serving", kind, tmp_path / kind)
    path = code / "score.py"
    spec = importlib.util.spec_from_file_location(f"score_{kind}_{tmp_path.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.model = _Model()  # what init() loads
    if kind == "online":  # init() reads the collector's settings: none here, so it is off
        module.collector = module.Collector.from_environment({})
    return module


def test_online_run_answers_400_or_predictions(tmp_path):
    score = _load_score("online", tmp_path)
    bad = score.run('{"input_data": [{"distance": "x", "passengers": 1, "vendor": "a"}]}')
    assert bad.status_code == 400 and "'distance'" in json.loads(bad.get_data())["message"]
    good = score.run(json.dumps({"input_data": [ROW, ROW]}))
    assert good.status_code == 200 and json.loads(good.get_data()) == {"predictions": [3.0, 3.0]}


def test_online_run_hands_each_answered_request_to_the_data_collector(tmp_path):
    from mlops.serving.collector import collector_environment

    score = _load_score("online", tmp_path)
    score.collector = score.Collector.from_environment(collector_environment(
        backend="files", endpoint="e-online", deployment="blue", model_version="7",
        sampling_rate=1.0, root=tmp_path / "collected"))
    score.run(json.dumps({"input_data": [ROW, ROW]}))
    score.run('{"input_data": [{"distance": "x", "passengers": 1, "vendor": "a"}]}')  # a 400
    logged = {p.parts[-6]: [json.loads(line) for line in p.read_text().splitlines()]
              for p in (tmp_path / "collected").rglob("*.jsonl")}
    assert set(logged) == {"model_inputs", "model_outputs"}  # only the answered request
    [inputs], [outputs] = logged["model_inputs"], logged["model_outputs"]
    assert inputs["correlationid"] == outputs["correlationid"] and inputs["modelversion"] == "7"
    assert [r["distance"] for r in inputs["data"]] == [ROW["distance"]] * 2
    assert [r["prediction"] for r in outputs["data"]] == [ROW["distance"] * 2] * 2


def test_batch_run_returns_one_row_per_input_row_named_by_relative_path(tmp_path, monkeypatch):
    score = _load_score("batch", tmp_path)
    data = tmp_path / "input"
    (data / "east").mkdir(parents=True)
    (data / "west").mkdir()
    pd.DataFrame([ROW] * 3).to_csv(data / "east" / "a.csv", index=False)
    pd.DataFrame([ROW] * 2).to_csv(data / "west" / "a.csv", index=False)
    monkeypatch.setenv("FACTORY_BATCH_INPUT_ROOT", str(data))
    out = score.run([str(data / "east" / "a.csv"), str(data / "west" / "a.csv")])
    assert out["source_file"].tolist() == ["east/a.csv"] * 3 + ["west/a.csv"] * 2
    assert out["row_index"].tolist() == [0, 1, 2, 0, 1]
    assert out["prediction"].tolist() == [3.0] * 5
    (data / "c.csv").write_text("distance,vendor\n1,a\n")
    with pytest.raises(ValueError, match=r"c.csv: missing column\(s\) 'passengers'"):
        score.run([str(data / "c.csv")])


def test_find_model_folder_finds_mlmodel_below_model_dir(tmp_path):
    score = _load_score("online", tmp_path)
    (tmp_path / "name" / "1" / "model").mkdir(parents=True)
    (tmp_path / "name" / "1" / "model" / "MLmodel").write_text("flavors: {}\n")
    assert score.find_model_folder(str(tmp_path)) == str(tmp_path / "name" / "1" / "model")
    with pytest.raises(FileNotFoundError, match="no MLmodel"):
        score.find_model_folder(str(tmp_path / "name" / "1" / "model" / "missing"))


# Issue 11, item 7: values a type cannot hold are a 400 naming the field, never a 500 or a
# prediction from a wrapped-around number.
@pytest.mark.parametrize(("value", "field", "expected"), [
    (int("9" * 400), "passengers", "an integer from -9223372036854775808"),
    (10**30, "passengers", "an integer from"),
    (1e300, "passengers", "an integer from"),
    (int("9" * 400), "distance", "a finite number"),
    (float("inf"), "distance", "a finite number"),
])
def test_numbers_out_of_range_name_the_field(value, field, expected):
    with pytest.raises(InputError) as info:
        rows_to_frame([{**ROW, field: value}], COLUMNS)
    message = str(info.value)
    assert f"input_data[0] field {field!r}: expected {expected}" in message
    assert len(message) < 300  # a 400-digit number is described, not echoed


@pytest.mark.parametrize("body", ["[" * 100_000 + "]" * 100_000,
                                  '{"a":' * 5_000 + "1" + "}" * 5_000,
                                  '{"input_data": [{"distance": ' + "[" * 50_000 + "]" * 50_000
                                  + "}]}"])
def test_deep_nesting_is_a_named_400_not_a_recursion_error(body):
    with pytest.raises(InputError, match="nests arrays or objects too deeply"):
        parse_request(body)


def test_a_nested_value_in_a_field_is_described_not_dumped():
    value = [[[[1]]]] * 3
    with pytest.raises(InputError, match="field 'distance': expected a number, got a list"):
        rows_to_frame([{**ROW, "distance": value}], COLUMNS)


def test_file_values_out_of_range_name_file_column_and_row():
    data = pd.DataFrame({"distance": [1.0, 2.0], "passengers": [1.0, 1e300], "vendor": ["a", "b"]})
    with pytest.raises(InputError, match="part-9.csv: column 'passengers' row 1: expected an "
                                         r"integer \(64-bit\)"):
        file_frame(data, COLUMNS, "part-9.csv")
    data = pd.DataFrame({"distance": [float("inf"), 2.0], "passengers": [1, 1], "vendor": ["a", "b"]})
    with pytest.raises(InputError, match="column 'distance' row 0: expected a number"):
        file_frame(data, COLUMNS, "part-9.csv")
