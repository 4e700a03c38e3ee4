"""Each model's sample request (TEST_REQUEST_PATH) is what its online score.py accepts: the
model's input features (src/schema.py FEATURES), integers where the model wants integers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mlops.config import load_config
from mlops.paths import resolve
from mlops.serving.signature_input import Column, parse_request, rows_to_frame

REPO = Path(__file__).resolve().parents[2]


def _schema_lists(model: str) -> dict[str, list[str]]:
    """FEATURES and INTEGER_FEATURES of src/schema.py, read without importing the step code."""
    tree = ast.parse((REPO / "mlops" / model / "src" / "schema.py").read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("FEATURES", "INTEGER_FEATURES"):
                found[name] = ast.literal_eval(node.value)
    return found


@pytest.mark.parametrize("model", load_config().model_names)
def test_sample_request_matches_the_model_features(model):
    entry = load_config().entry(model, "dev")
    schema = _schema_lists(model)
    if "FEATURES" not in schema:
        pytest.skip(f"{model}: src/schema.py has no FEATURES yet")
    rows = parse_request(resolve(entry.realtime.test_request_path).read_bytes())
    assert rows, f"{entry.realtime.test_request_path}: no rows to smoke-test with"
    integers = set(schema.get("INTEGER_FEATURES", []))
    columns = [Column(name, "long" if name in integers else "double")
               for name in schema["FEATURES"]]
    frame = rows_to_frame(rows, columns)  # raises naming the field when the sample drifts
    assert list(frame.columns) == schema["FEATURES"]
