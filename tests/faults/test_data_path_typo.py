"""Issue 11, item 11: a DATA_PATH typo must not quietly create a folder and train on generated
rows. Data is generated only into the model's own data folder; anywhere else an empty or
missing folder fails naming the dataset and the path, and nothing is created or registered."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mlops.config import DataConfig, load_config
from mlops.paths import local_workspace
from mlops.platform.local.data import DataAssetError, register_data


@pytest.mark.parametrize("typo", ["mlops/nyc_taxi/dta/training", "/tmp/factory-no-such/data"])
def test_a_mistyped_data_path_fails_naming_it_and_creates_nothing(tmp_path, monkeypatch, typo):
    repo = Path(__file__).resolve().parents[2]
    config = load_config(repo)
    entry = config.entry("nyc_taxi", "pr")
    datasets = tuple(dataclasses.replace(d, path=Path(typo)) if d.purpose == "training_data"
                     else d for d in entry.data.datasets)
    entry = dataclasses.replace(entry, data=DataConfig(entry.data.file, datasets))
    monkeypatch.setenv("FACTORY_ROOT", str(tmp_path))  # the typo resolves under a throw-away root
    workspace = local_workspace(config.infra_env("dev"), tmp_path / ".factory")
    # the pr dataset (a default folder) is generated; the training one must fail
    with pytest.raises(DataAssetError) as info:
        register_data(workspace, dataclasses.replace(entry, data=DataConfig(
            entry.data.file, tuple(d for d in datasets if d.purpose == "training_data"))))
    message = str(info.value)
    assert "nyc_taxi_training" in message and typo.split("/")[-1] in message
    assert "does not exist" in message and "generated only into" in message
    resolved = Path(typo) if Path(typo).is_absolute() else tmp_path / typo
    assert not resolved.exists()
    assert not (workspace.data_store / "nyc_taxi_training").exists()
