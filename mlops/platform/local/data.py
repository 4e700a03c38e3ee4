"""Local data assets: each model's datasets copied into the workspace data store, versioned by
content (same files and bytes -> same version). An index.json in the store lists every version
and which one is the latest of each asset.

Layout: <data_store>/<DATASET_NAME>/<version>/<files...>, <data_store>/index.json.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from mlops._environment import tool_environment
from mlops.config import Dataset, ModelEnvConfig
from mlops.errors import FactoryError
from mlops.paths import resolve
from mlops.pipeline.hashing import hash_tree, tree_files
from mlops.records import DataAsset, Workspace

INDEX = "index.json"
VERSION_LENGTH = 12
GENERATOR = "factory_steps.generate"  # run in the staged code folder (mlops/staging.py)
DATA_DIR = "data"
_SKIP = ("__pycache__", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", "*.pyc", "*.pyo")


class DataAssetError(FactoryError):
    """A dataset could not be found, generated or registered."""


def _store(workspace: Workspace) -> Path:
    if workspace.data_store is None:
        raise DataAssetError(f"workspace {workspace.name} has no local data store "
                             f"(target {workspace.target}); re-run `nox -s provision`")
    return workspace.data_store


def read_index(store: Path) -> dict[str, Any]:
    try:
        return json.loads((store / INDEX).read_text())
    except FileNotFoundError:
        return {"assets": {}}
    except ValueError as exc:
        raise DataAssetError(f"{store / INDEX}: not valid JSON ({exc}); delete it and re-run "
                             f"`nox -s register_data`") from None


def _write_index(store: Path, index: dict[str, Any]) -> None:
    tmp = store / f".{INDEX}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.write_text(json.dumps(index, indent=2, sort_keys=True))
    tmp.replace(store / INDEX)


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_file() for p in tree_files(folder))


def generated_data_root(entry: ModelEnvConfig) -> Path:
    """The only place data is ever generated: the model's own data folder (git-ignored). A
    DATA_PATH elsewhere must hold data: a typo there must not quietly train on invented rows."""
    return entry.model_dir / DATA_DIR


def generate(entry: ModelEnvConfig, dataset: Dataset, folder: Path, python: str = sys.executable,
             runner=subprocess.run) -> None:
    """Fill ``folder`` with the model's generator (its src/generate_data.py), run from the
    model's staged code folder as the pipeline steps are."""
    from mlops.staging import stage_entry

    own = generated_data_root(entry).resolve()
    if not folder.resolve().is_relative_to(own):
        raise DataAssetError(
            f"{entry.data.file}: {dataset.name}: DATA_PATH {dataset.path} ({folder}) "
            f"{'is empty' if folder.is_dir() else 'does not exist'}; expected a folder of data "
            f"files. Data is generated only into the model's own {own} (point DATA_PATH "
            f"there to have it generated)")
    code = stage_entry(entry).code
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [python, "-m", GENERATOR, "--purpose", dataset.purpose, "--folder", str(folder)]
    print(f"  {dataset.name}: {folder} is empty; generating {dataset.purpose} with "
          f"{entry.model}'s src/generate_data.py", flush=True)
    result = runner(cmd, capture_output=True, text=True, env=tool_environment(), check=False,
                    cwd=code)
    if result.returncode != 0 or not _has_files(folder):
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise DataAssetError(f"generating {dataset.name} into {folder} failed (exit "
                             f"{result.returncode}): {' '.join(cmd)}\n{tail}")


def register_dataset(store: Path, dataset: Dataset, source: Path) -> DataAsset:
    """Copy ``source``'s files into the store as a version named by their content."""
    version = hash_tree(source)[:VERSION_LENGTH]
    target = store / dataset.name / version
    with _locked(store):
        return _register_locked(store, dataset, source, version, target)


@contextlib.contextmanager
def _locked(store: Path):
    """One writer of the store's index at a time (concurrent sessions on one machine)."""
    with (store / ".index.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _register_locked(store: Path, dataset: Dataset, source: Path, version: str,
                     target: Path) -> DataAsset:
    index = read_index(store)
    asset = index["assets"].setdefault(dataset.name, {"versions": {}})
    created = not (target.is_dir() and version in asset["versions"])
    if created:
        tmp = store / dataset.name / f".{version}.{uuid.uuid4().hex[:8]}.tmp"
        shutil.copytree(source, tmp, ignore=shutil.ignore_patterns(*_SKIP))
        if hash_tree(tmp)[:VERSION_LENGTH] != version:  # copied what we hashed, or stop
            shutil.rmtree(tmp, ignore_errors=True)
            raise DataAssetError(f"{source} changed while it was being registered; try again")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
        asset["versions"][version] = {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "source": str(source), "purpose": dataset.purpose,
            "description": dataset.description,
            "files": [p.relative_to(target).as_posix() for p in tree_files(target)]}
    asset["latest"] = version
    asset["purpose"] = dataset.purpose
    _write_index(store, index)
    return DataAsset(dataset.name, version, dataset.purpose, str(target), created)


def register_data(workspace: Workspace, entry: ModelEnvConfig) -> list[DataAsset]:
    """Register every dataset of ``entry``'s data config, generating empty DATA_PATH folders."""
    store = _store(workspace)
    store.mkdir(parents=True, exist_ok=True)
    assets = []
    for dataset in entry.data.datasets:
        folder = resolve(dataset.path)
        if folder.exists() and not folder.is_dir():
            raise DataAssetError(f"{entry.data.file}: DATA_PATH {dataset.path} of "
                                 f"{dataset.name} is a file; expected a folder of data files")
        if not _has_files(folder):
            generate(entry, dataset, folder)
        assets.append(register_dataset(store, dataset, folder))
    return assets


def latest_asset(workspace: Workspace, dataset: Dataset) -> DataAsset:
    """The most recently registered version of ``dataset`` (what a pipeline binds to)."""
    store = _store(workspace)
    asset = read_index(store)["assets"].get(dataset.name)
    if not asset or not asset.get("latest"):
        raise DataAssetError(f"data asset {dataset.name} is not registered in workspace "
                             f"{workspace.name}; run `nox -s register_data`")
    path = store / dataset.name / asset["latest"]
    if not path.is_dir():
        raise DataAssetError(f"data asset {dataset.name} v{asset['latest']}: folder {path} is "
                             f"missing; run `nox -s register_data`")
    return DataAsset(dataset.name, asset["latest"], dataset.purpose, str(path), False)
