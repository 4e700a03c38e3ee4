"""A throw-away copy of the factory's configuration, for tests that break it on purpose or
provision a workspace of their own: config/ plus every file model_config.json references (each
model's configs, plugin source and sample request; the shared environment)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2]  # this checkout, whatever FACTORY_ROOT says


def copy_config_tree(root: Path, repo: Path | None = None) -> Path:
    """Copy the configuration tree of ``repo`` (default: this checkout) under ``root``."""
    repo = Path(repo or SOURCE)
    shutil.copytree(repo / "config", root / "config")
    shutil.copytree(repo / "mlops" / "environment", root / "mlops" / "environment")
    models = sorted({entry["ML_MODEL_CONFIG_NAME"] for entry in json.loads(
        (repo / "config" / "model_config.json").read_text())["models"]})
    for model in models:
        for part in ("configs", "src", "sample-data"):
            src = repo / "mlops" / model / part
            if src.exists():
                shutil.copytree(src, root / "mlops" / model / part,
                                ignore=shutil.ignore_patterns("__pycache__"))
    return root
