"""`nox -s new_model -- NAME [--task regression|classification] [--from MODEL]`: a new model
plugin that builds straight away.

Writes mlops/NAME/ (from the factory's template for the task, or a copy of MODEL's folder with
its names replaced), its configs with valid, unique endpoint names, its sample request (drawn
from its own generated data through its own prep and features), one entry per environment in
config/model_config.json, and the CI pipelines. Nothing is half-written: the folder is built
aside and moved in, the config is replaced atomically, and if the result does not load, both
are rolled back and every problem is named.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import string
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.config import ConfigError, FactoryConfig, load_config
from mlops.config.loader import AZURE_ML_ENDPOINT, MODEL_FILE, MODEL_NAME_PATTERN
from mlops.errors import FactoryError
from mlops.plugins import read_plugin
from mlops.tasks import CLASSIFICATION, REGRESSION, TASKS, task

TEMPLATE = Path(__file__).resolve().with_name("scaffold_template")
TARGETS = {REGRESSION: "target", CLASSIFICATION: "label"}  # the template's target column
ENDPOINT_MAX = 32  # Azure ML endpoint names: 3-32 characters (mlops/config/loader.py)
SAMPLE_ROWS = 3
_SKIP = shutil.ignore_patterns("data", "__pycache__", ".pytest_cache", ".ruff_cache")


class ScaffoldError(FactoryError):
    """The model cannot be created as asked; nothing was written."""


@dataclass(frozen=True)
class NewModel:
    name: str
    task: str
    folder: Path
    entries: list[dict[str, Any]]
    online_endpoint: str
    batch_endpoint: str


def _check_name(name: str, config: FactoryConfig) -> None:
    if not re.fullmatch(MODEL_NAME_PATTERN, name):
        raise ScaffoldError(f"model name {name!r}: expected lower-case letters, digits and '_', "
                            f"starting with a letter, 2-31 characters")
    folder = config.root / "mlops" / name
    if name in config.model_names or folder.exists():
        raise ScaffoldError(f"model {name!r} exists already ({folder}); pick another name")


def endpoint_name(name: str, kind: str, taken: set[str]) -> str:
    """``<name-with-hyphens>-<kind>``, within Azure ML's 3-32 character rule, unique among
    ``taken`` (lower-case compared, as endpoint names are): a long or taken name is cut and
    given a short stable hash."""
    base = name.replace("_", "-")
    candidate = f"{base}-{kind}"
    attempt = 0
    while len(candidate) > ENDPOINT_MAX or candidate.lower() in taken:
        attempt += 1
        digest = hashlib.sha256(f"{name}:{kind}:{attempt}".encode()).hexdigest()[:4]
        room = ENDPOINT_MAX - len(kind) - len(digest) - 2
        candidate = f"{base[:room].rstrip('-')}-{digest}-{kind}"
    assert re.fullmatch(AZURE_ML_ENDPOINT, candidate), candidate
    return candidate


def _taken_endpoints(config: FactoryConfig) -> set[str]:
    return {cfg.endpoint_name.lower() for entry in config.entries.values()
            for cfg in (entry.batch, entry.realtime)}


def _render_template(folder: Path, name: str, task_name: str) -> None:
    values = {"name": name, "task": task_name, "target": TARGETS[task_name]}
    for source in sorted(TEMPLATE.rglob("*.tmpl")):
        relative = source.relative_to(TEMPLATE).with_suffix("")
        if relative.name == "test_model_data.py":
            relative = relative.with_name(f"test_{name}_data.py")
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(string.Template(source.read_text()).substitute(values))


def _copy_model(folder: Path, source: Path, name: str) -> None:
    """MODEL's folder with its name replaced, in file names and text (data is not copied)."""
    old = source.name
    shutil.copytree(source, folder, ignore=_SKIP)
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_file():
            try:
                text = path.read_text()
            except UnicodeDecodeError:
                continue
            path.write_text(text.replace(old, name).replace(old.replace("_", "-"),
                                                            name.replace("_", "-")))
        if old in path.name:
            path.rename(path.with_name(path.name.replace(old, name)))


def _model_configs(folder: Path, name: str, online: str, batch: str,
                   like: Any) -> None:
    """configs/ of the new model, shaped like ``like``'s (a ModelEnvConfig)."""
    configs = folder / "configs"
    configs.mkdir(exist_ok=True)
    data = {"datasets": [
        {"DATA_PURPOSE": purpose, "DATA_PATH": f"mlops/{name}/data/{short}",
         "DATASET_NAME": f"{name}_{short}", "DATASET_DESC": f"{name} {description}"}
        for purpose, short, description in (
            ("pr_data", "pr", "sample for PR builds"), ("training_data", "training",
                                                        "training data"),
            ("batch_test_data", "batch_test", "rows to score on the batch endpoint"))]}
    batch_cfg = json.loads(like.batch.file.read_text())
    batch_cfg.update(ENDPOINT_NAME=batch, DEPLOYMENT_NAME=endpoint_name(name, "batch-dep", set()))
    realtime = json.loads(like.realtime.file.read_text())
    realtime.update(ENDPOINT_NAME=online,
                    TEST_REQUEST_PATH=f"mlops/{name}/sample-data/sample-request.json")
    for file, value in (("data_config.json", data), ("batch_config.json", batch_cfg),
                        ("realtime_config.json", realtime)):
        (configs / file).write_text(json.dumps(value, indent=2) + "\n")


def _sample_request(folder: Path, work: Path) -> None:
    """SAMPLE_ROWS rows of the model's own generated data, as its input features."""
    import pandas as pd

    from mlops._environment import tool_environment
    from mlops.staging import stage

    plugin = read_plugin(folder)
    staged = stage(plugin, f"{plugin.name}_env", root=work / "stage")
    rows = work / "sample"
    result = subprocess.run(
        [sys.executable, "-m", "factory_steps.generate", "--folder", str(rows), "--purpose",
         "batch_test_data", "--rows", str(SAMPLE_ROWS)], cwd=staged.code,
        capture_output=True, text=True, env=tool_environment(), timeout=600, check=False)
    if result.returncode != 0:
        raise ScaffoldError(f"{plugin.name}: its generator failed while drawing the sample "
                            f"request:\n{(result.stdout + result.stderr)[-2000:]}")
    frame = pd.concat(pd.read_csv(p) for p in sorted(rows.glob("*.csv"))).head(SAMPLE_ROWS)
    features = list(plugin.features)
    request = {"input_data": {"columns": features, "index": list(range(len(frame))),
                              "data": frame[features].to_numpy().tolist()}}
    (folder / "sample-data").mkdir(exist_ok=True)
    (folder / "sample-data" / "sample-request.json").write_text(
        json.dumps(request, indent=2) + "\n")


def _entries(config: FactoryConfig, name: str, task_name: str, like: str,
             copied: bool) -> list[dict]:
    """One entry per environment, shaped like model ``like``'s entries in the config file."""
    raw = json.loads((config.root / MODEL_FILE).read_text())["models"]
    kind = task(task_name)
    entries = []
    for env in config.environments:
        base = next(e for e in raw if e["ML_MODEL_CONFIG_NAME"] == like and e["ENV_NAME"] == env)
        entry = {**base, "ML_MODEL_CONFIG_NAME": name, "ENVIRONMENT_NAME": f"{name}_env",
                 "GATE_METRIC": kind.default_gate_metric,
                 "GATE_THRESHOLD": kind.default_gate_threshold,
                 "PATH_FILTERS": [f"mlops/{name}/*", MODEL_FILE],
                 "BATCH_DEPLOYMENT_CONFIG": f"mlops/{name}/configs/batch_config.json",
                 "REALTIME_DEPLOYMENT_CONFIG": f"mlops/{name}/configs/realtime_config.json",
                 "DATA_CONFIG_PATH": f"mlops/{name}/configs/data_config.json"}
        if copied:  # a copy keeps its source's gate (same task) and training parameters
            entry["GATE_METRIC"] = base.get("GATE_METRIC", kind.default_gate_metric)
            entry["GATE_THRESHOLD"] = base["GATE_THRESHOLD"]
        else:
            entry.pop("TRAINING_PARAMS", None)
        entries.append(entry)
    return entries


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def new_model(config: FactoryConfig, name: str, task_name: str | None = None,
              from_model: str | None = None, *, write_pipelines: bool = True) -> NewModel:
    """Create the model; see the module docstring."""
    _check_name(name, config)
    if from_model is not None and from_model not in config.model_names:
        raise ScaffoldError(f"--from {from_model!r}: no such model; known models: "
                            f"{', '.join(config.model_names)}")
    source_task = config.entry(from_model, config.environments[0]).task if from_model else None
    if task_name is not None and task_name not in TASKS:
        raise ScaffoldError(f"--task {task_name!r}: expected one of {', '.join(TASKS)}")
    if from_model and task_name and task_name != source_task:
        raise ScaffoldError(f"--from {from_model} is a {source_task} model; drop --task or "
                            f"use --task {source_task}")
    task_name = task_name or source_task or REGRESSION
    like = from_model or config.model_names[0]
    taken = _taken_endpoints(config)
    online = endpoint_name(name, "online", taken)
    batch = endpoint_name(name, "batch", taken | {online.lower()})
    final = config.root / "mlops" / name
    config_file = config.root / MODEL_FILE
    before = config_file.read_text()
    with tempfile.TemporaryDirectory(dir=config.root / "mlops", prefix=f".new-{name}-") as tmp:
        folder = Path(tmp) / name
        if from_model:
            _copy_model(folder, config.root / "mlops" / from_model, name)
        else:
            _render_template(folder, name, task_name)
        _model_configs(folder, name, online, batch, config.entry(like, config.environments[0]))
        _sample_request(folder, Path(tmp))
        entries = _entries(config, name, task_name, like, copied=from_model is not None)
        folder.rename(final)
    try:
        document = json.loads(before)
        document["models"].extend(entries)
        _write_atomic(config_file, json.dumps(document, indent=2) + "\n")
        loaded = load_config(config.root)
    except (ConfigError, ValueError) as exc:
        _write_atomic(config_file, before)
        shutil.rmtree(final, ignore_errors=True)
        raise ScaffoldError(f"model {name} was not created (its config did not load):\n{exc}") \
            from None
    if write_pipelines:
        from mlops.cicd.generate import write

        write(loaded, config.root)
    return NewModel(name, task_name, final, entries, online, batch)
