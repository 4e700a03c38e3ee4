"""Data registration (register_data, and pr_build and ci_build before each pipeline): each
model's data config is registered once, whatever its environments."""

from __future__ import annotations

from pathlib import Path

from mlops.config import load_config
from mlops.data_registration import register_model_data
from mlops.records import DataAsset

ROOT = Path(__file__).resolve().parents[2]


class FakePlatform:
    def __init__(self):
        self.entries = []

    def register_data(self, entry):
        self.entries.append((entry.model, entry.env))
        return [DataAsset(d.name, "abc123", d.purpose, f"/store/{d.name}/abc123", True)
                for d in entry.data.datasets]


def test_each_models_data_is_registered_once_and_printed(capsys):
    config = load_config(ROOT)
    platform = FakePlatform()
    model = config.model_names[0]
    assets = register_model_data(platform, config, [model])
    assert [m for m, _ in platform.entries] == [model]  # pr and dev share one data config
    assert {a.purpose for a in assets} == {"pr_data", "training_data", "batch_test_data"}
    out = capsys.readouterr().out
    assert "version abc123 (registered, pr_data)" in out
