"""The code folder a deployment runs: the model's serving files plus the shared validator."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.serving import code_folder

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def serving(tmp_path) -> Path:
    folder = tmp_path / "serving" / "online"
    (folder / "__pycache__").mkdir(parents=True)
    (folder / "__pycache__" / "score.cpython-311.pyc").write_bytes(b"stale")
    (folder / "score.py").write_text("from signature_input import parse_request\n")
    return folder


def test_stage_adds_the_shared_validator_and_replaces_old_content(serving, tmp_path):
    dest = tmp_path / "staged"
    dest.mkdir()
    (dest / "leftover.py").write_text("old deployment")
    code_folder.stage(serving, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["score.py", "signature_input.py"]
    shared = REPO / "mlops" / "serving" / "signature_input.py"
    assert (dest / "signature_input.py").read_bytes() == shared.read_bytes()


def test_fingerprint_follows_the_model_files_and_the_shared_module(serving, tmp_path,
                                                                    monkeypatch):
    base = code_folder.fingerprint(serving)
    (serving / "__pycache__" / "other.pyc").write_bytes(b"ignored")
    assert code_folder.fingerprint(serving) == base
    (serving / "score.py").write_text("changed = True\n")
    changed = code_folder.fingerprint(serving)
    assert changed != base
    shared = tmp_path / "signature_input.py"
    shared.write_text("# another validator\n")
    monkeypatch.setattr(code_folder, "SHARED", (shared,))
    assert code_folder.fingerprint(serving) != changed


@pytest.mark.parametrize("kind", ["online", "batch"])
@pytest.mark.parametrize("model", ["nyc_taxi", "london_taxi"])
def test_every_model_serving_folder_stages_without_its_own_validator_copy(model, kind, tmp_path):
    source = REPO / "mlops" / model / "serving" / kind
    assert not (source / "signature_input.py").exists()  # one source: mlops/serving
    staged = code_folder.stage(source, tmp_path / "code")
    assert {"score.py", "signature_input.py"} <= {p.name for p in staged.iterdir()}
