"""Local data assets: content versions, generation of empty folders, the index, bad paths."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from mlops.config import DataConfig, Dataset, load_config
from mlops.paths import local_workspace
from mlops.platform.local.data import DataAssetError, latest_asset, register_data

GENERATOR = """
from pathlib import Path


def generate(folder, rows, seed):
    path = Path(folder) / "raw.csv"
    path.write_text("fare,distance\\n1.5,2\\n")
    return [path]
"""


@pytest.fixture
def setup(tmp_path, monkeypatch):
    from mlops.testkit.kit import write_plugin

    monkeypatch.setenv("FACTORY_ROOT", str(tmp_path))
    config = load_config(Path(__file__).resolve().parents[2])
    model_dir = write_plugin(tmp_path / "mlops" / "toy", "regression", ["distance"], "fare")
    (model_dir / "src" / "generate_data.py").write_text(GENERATOR)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "training_data.csv").write_text("fare,distance\n3,4\n")
    datasets = (Dataset("pr_data", Path("mlops/toy/data/pr"), "toy_pr", "pr rows"),
                Dataset("training_data", tmp_path / "elsewhere", "toy_training", "training"))
    entry = dataclasses.replace(config.entry(config.model_names[0], "pr"), model="toy",
                                model_dir=model_dir, environment_name="toy_env",
                                data=DataConfig(model_dir / "configs/data_config.json", datasets))
    workspace = local_workspace(config.infra_env("dev"), tmp_path / ".factory")
    return workspace, entry, tmp_path


def test_empty_folders_are_generated_then_registered_by_content(setup):
    workspace, entry, root = setup
    first = register_data(workspace, entry)
    assert [(a.name, a.purpose, a.created) for a in first] == [
        ("toy_pr", "pr_data", True), ("toy_training", "training_data", True)]
    assert (root / "mlops/toy/data/pr/raw.csv").is_file()  # relative DATA_PATH: repo root
    stored = Path(first[0].uri)
    assert stored == workspace.data_store / "toy_pr" / first[0].version
    assert (stored / "raw.csv").read_text() == "fare,distance\n1.5,2\n"

    again = register_data(workspace, entry)
    assert [(a.version, a.created) for a in again] == [(a.version, False) for a in first]

    (root / "elsewhere" / "more.csv").write_text("fare,distance\n9,9\n")
    changed = register_data(workspace, entry)
    assert changed[0].version == first[0].version
    assert changed[1].version != first[1].version and changed[1].created
    index = json.loads((workspace.data_store / "index.json").read_text())
    assert set(index["assets"]["toy_training"]["versions"]) == {first[1].version,
                                                                changed[1].version}
    assert index["assets"]["toy_training"]["latest"] == changed[1].version
    latest = latest_asset(workspace, entry.data.datasets[1])
    assert latest.version == changed[1].version
    assert sorted(p.name for p in Path(latest.uri).iterdir()) == ["more.csv", "training_data.csv"]


def test_same_content_in_another_folder_is_the_same_version(setup):
    workspace, entry, root = setup
    first = register_data(workspace, entry)[0]
    copy = root / "copy"
    copy.mkdir()
    (copy / "raw.csv").write_text("fare,distance\n1.5,2\n")
    moved = dataclasses.replace(entry, data=DataConfig(entry.data.file, (
        dataclasses.replace(entry.data.datasets[0], path=copy),)))
    again = register_data(workspace, moved)[0]
    assert (again.version, again.created) == (first.version, False)


def test_missing_generator_for_an_empty_folder_is_a_clear_error(setup):
    workspace, entry, _ = setup
    (entry.model_dir / "src" / "generate_data.py").write_text("SIZES = {}\n")
    with pytest.raises(DataAssetError, match=r"(?s)generating toy_pr .* failed.*generate"):
        register_data(workspace, entry)


def test_failing_generator_reports_its_output(setup):
    workspace, entry, _ = setup
    (entry.model_dir / "src" / "generate_data.py").write_text(
        "import sys\n\ndef generate(folder, rows, seed):\n"
        "    print('no disk space', file=sys.stderr)\n    sys.exit(4)\n")
    with pytest.raises(DataAssetError, match=r"(?s)generating toy_pr .* failed \(exit 4\).*"
                                             r"no disk space"):
        register_data(workspace, entry)
    assert not list(workspace.data_store.glob("toy_pr/*"))  # nothing half-registered


def test_unregistered_asset_tells_how_to_register(setup):
    workspace, entry, _ = setup
    with pytest.raises(DataAssetError, match="toy_pr is not registered .*register_data"):
        latest_asset(workspace, entry.data.datasets[0])


def test_generator_gets_purpose_and_output(setup, monkeypatch):
    from mlops.platform.local import data

    workspace, entry, root = setup
    calls = []

    def fake(cmd, **kwargs):
        calls.append(cmd)
        Path(cmd[cmd.index("--folder") + 1], "x.csv").write_text("a\n1\n")
        return type("R", (), {"returncode": 0, "stdout": "", "stderr": ""})()

    folder = entry.model_dir / "data" / "g"
    data.generate(entry, entry.data.datasets[0], folder, runner=fake)
    assert calls == [[sys.executable, "-m", "factory_steps.generate", "--purpose", "pr_data",
                      "--folder", str(folder)]]
