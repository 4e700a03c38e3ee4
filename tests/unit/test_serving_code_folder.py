"""The code folder a deployment runs: the factory's scoring script for its kind, the modules it
imports, and whatever the model keeps in its own serving/<kind> folder (its score.py wins)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.config import load_config
from mlops.serving import code_folder

REPO = Path(__file__).resolve().parents[2]
SERVING = REPO / "mlops" / "serving"


@pytest.mark.parametrize("kind", code_folder.KINDS)
def test_a_model_without_serving_files_gets_the_factory_script(kind, tmp_path):
    dest = tmp_path / "staged"
    dest.mkdir()
    (dest / "leftover.py").write_text("old deployment")
    code_folder.stage(tmp_path / "model" / "serving" / kind, kind, dest)
    own = ["collector.py"] if kind == "online" else []  # online requests are collected
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        ["score.py", "served_model.py", "signature_input.py", *own])
    assert (dest / "score.py").read_bytes() == (
        SERVING / "scripts" / f"{kind}_score.py").read_bytes()
    assert (dest / "signature_input.py").read_bytes() == (
        SERVING / "signature_input.py").read_bytes()


def test_the_model_s_own_score_py_and_files_win(tmp_path):
    own = tmp_path / "model" / "serving" / "online"
    (own / "__pycache__").mkdir(parents=True)
    (own / "__pycache__" / "score.cpython-311.pyc").write_bytes(b"stale")
    (own / "score.py").write_text("# the model's own\n")
    (own / "assets").mkdir()
    (own / "assets" / "vocab.txt").write_text("a\n")
    staged = code_folder.stage(own, "online", tmp_path / "staged")
    assert code_folder.own_script(own)
    assert (staged / "score.py").read_text() == "# the model's own\n"
    assert (staged / "assets" / "vocab.txt").is_file()
    assert (staged / "signature_input.py").is_file() and not (staged / "__pycache__").exists()


def test_fingerprint_follows_model_files_and_factory_files(tmp_path, monkeypatch):
    own = tmp_path / "serving" / "online"
    own.mkdir(parents=True)
    base = code_folder.fingerprint(own, "online")
    assert code_folder.fingerprint(own, "batch") != base
    (own / "helper.py").write_text("x = 1\n")
    with_helper = code_folder.fingerprint(own, "online")
    assert with_helper != base
    script = tmp_path / "online_score.py"
    script.write_text("# another factory script\n")
    monkeypatch.setitem(code_folder.SCRIPTS, "online", script)
    assert code_folder.fingerprint(own, "online") != with_helper


def test_unknown_kind_is_refused(tmp_path):
    with pytest.raises(ValueError, match="deployment kind 'stream'"):
        code_folder.stage(tmp_path, "stream", tmp_path / "out")


@pytest.mark.parametrize("model", load_config().model_names)
def test_no_model_keeps_a_copy_of_the_factory_scripts(model):
    for kind in code_folder.KINDS:
        folder = REPO / "mlops" / model / "serving" / kind
        for name in ("score.py", "signature_input.py", "served_model.py", "collector.py"):
            copy = folder / name
            assert not copy.exists() or copy.read_bytes() not in {
                p.read_bytes() for p in (*code_folder.SCRIPTS.values(), *code_folder.SHARED,
                                         *code_folder.OWN["online"])}
