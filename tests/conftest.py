"""Shared fixtures: a throw-away copy of the factory's configuration to break on purpose."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
MODELS = tuple(sorted({entry["ML_MODEL_CONFIG_NAME"] for entry in json.loads(
    (REPO / "config" / "model_config.json").read_text())["models"]}))


@pytest.fixture
def config_root(tmp_path: Path) -> Path:
    """config/ plus every file model_config.json references, copied under tmp_path."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    shutil.copytree(REPO / "mlops" / "environment", tmp_path / "mlops" / "environment")
    for model in MODELS:
        for part in ("configs", "src", "sample-data"):
            src = REPO / "mlops" / model / part
            if src.exists():
                shutil.copytree(src, tmp_path / "mlops" / model / part,
                                ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


@pytest.fixture
def plugin_factory(tmp_path: Path):
    """plugin_factory(task, features, target) -> a staged ModelKit of a minimal plugin."""
    from mlops.testkit.kit import ModelKit, write_plugin

    def make(task: str, features: list[str], target: str, name: str = "tiny") -> ModelKit:
        folder = write_plugin(tmp_path / "plugins" / name, task, features, target)
        return ModelKit.staged(folder, tmp_path / "stage")

    return make


@pytest.fixture
def edit_json(config_root: Path) -> Callable[[str, Callable[[Any], Any]], None]:
    """edit_json("config/model_config.json", fn): fn mutates the parsed JSON in place."""

    def edit(relative: str, change: Callable[[Any], Any]) -> None:
        path = config_root / relative
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data, indent=2))

    return edit
