"""A model is a plugin: a folder mlops/<model>/ holding only what is its own.

    src/schema.py         TASK ("regression" | "classification"), FEATURES, TARGET (literals)
    src/prep.py           prepare(raw_folder) -> (clean frame, counts); raises DataError
    src/features.py       build_features(clean frame) -> FEATURES (+ TARGET when present)
    src/generate_data.py  generate_purpose(folder, purpose, seed=..., rows=None)
    src/estimator.py      optional: PARAMS (literal dict of defaults) and build(params); with
                          PARAMS alone it tunes the factory's default estimator
    src/step_<name>.py    optional: the model's own version of a factory step, which then wins
    configs/, sample-data/, tests/, README.md

The factory owns everything else (mlops/steps: the step scripts and their helpers; staging.py
turns both into the code folder and pipeline YAML a run uses). This module reads a plugin's
facts without importing its code: the values above must be literals, read from the source.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.errors import FactoryError
from mlops.tasks import TASKS

SRC = "src"
# What every model's build depends on besides its own folder (the factory's side of the staged
# code, the shared environment, the test kit and contract tests), in the branch-policy filter
# dialect of PATH_FILTERS: each model's PR build also runs when one of these changes.
FACTORY_PATHS = ("mlops/steps/*", "mlops/environment/*", "mlops/testkit/*", "tests/models/*",
                 "mlops/tasks.py", "mlops/plugins.py", "mlops/staging.py")


def model_filters(own: tuple[str, ...]) -> tuple[str, ...]:
    """A model's effective path filters: the factory's, then its own PATH_FILTERS (last, so its
    own '!' exclusions decide). The PR pipelines, branch policies and --changed all use these."""
    return (*FACTORY_PATHS, *own)
REQUIRED_MODULES = ("schema.py", "prep.py", "features.py", "generate_data.py")
STEPS_DIR = Path(__file__).resolve().with_name("steps")
DEFAULT_ESTIMATOR = STEPS_DIR / "factory_steps" / "estimators.py"


class PluginError(FactoryError):
    """A model folder does not hold a usable plugin; the message lists every problem."""


@dataclass(frozen=True)
class ModelPlugin:
    name: str
    folder: Path
    task: str
    features: tuple[str, ...]
    target: str
    params: dict[str, Any] = field(default_factory=dict)  # the estimator's PARAMS
    own_estimator: bool = False

    @property
    def src(self) -> Path:
        return self.folder / SRC


def _literals(path: Path, names: tuple[str, ...], problems: list[str]) -> dict[str, Any]:
    """Top-level ``NAME = <literal>`` assignments of a module, without importing it; a value
    may also name an earlier literal of the same module (``TARGET = DIAGNOSIS``)."""
    try:
        tree = ast.parse(path.read_text(), str(path))
    except (OSError, SyntaxError, ValueError) as exc:
        problems.append(f"{path}: cannot be read as Python ({exc})")
        return {}
    known: dict[str, Any] = {}
    for node in tree.body:
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) and node.value else [])
        for target in targets:
            if not isinstance(target, ast.Name):
                continue
            value = node.value
            if isinstance(value, ast.Name) and value.id in known:
                known[target.id] = known[value.id]
                continue
            try:
                known[target.id] = ast.literal_eval(value)
            except ValueError:
                known.pop(target.id, None)
                if target.id in names:
                    problems.append(f"{path}: {target.id} must be a literal or the name of one "
                                    f"(the factory reads it without importing the module)")
    return {name: known[name] for name in names if name in known}


def _check_schema(schema: Path, values: dict[str, Any], problems: list[str]) -> None:
    for name in ("TASK", "FEATURES", "TARGET"):
        if name not in values and not any(f": {name} must be" in p for p in problems):
            problems.append(f"{schema}: {name} is not defined")
    task = values.get("TASK")
    if task is not None and task not in TASKS:
        problems.append(f"{schema}: TASK {task!r}: expected one of {', '.join(TASKS)}")
    features = values.get("FEATURES")
    if features is not None and (not isinstance(features, (list, tuple)) or not features
                                 or not all(isinstance(f, str) for f in features)):
        problems.append(f"{schema}: FEATURES: expected a non-empty list of column names")
    elif features is not None and len(set(features)) != len(features):
        problems.append(f"{schema}: FEATURES: a column is listed twice")
    target = values.get("TARGET")
    if target is not None and not isinstance(target, str):
        problems.append(f"{schema}: TARGET: expected a column name")
    elif isinstance(features, (list, tuple)) and target in features:
        problems.append(f"{schema}: TARGET {target!r} is also one of FEATURES")


def plugin_problems(folder: Path) -> list[str]:
    """Every problem of the plugin in ``folder`` (empty: it is usable)."""
    problems: list[str] = []
    _read(folder, problems)
    return problems


def _read(folder: Path, problems: list[str]) -> ModelPlugin | None:
    src = folder / SRC
    if not src.is_dir():
        problems.append(f"{folder}: no {SRC}/ folder (a model holds its own {SRC}/schema.py, "
                        f"prep.py, features.py and generate_data.py)")
        return None
    for module in REQUIRED_MODULES:
        if not (src / module).is_file():
            problems.append(f"{src / module}: missing (every model provides it)")
    schema = src / "schema.py"
    values = _literals(schema, ("TASK", "FEATURES", "TARGET"), problems) if schema.is_file() else {}
    _check_schema(schema, values, problems)
    own = src / "estimator.py"
    estimator = own if own.is_file() else DEFAULT_ESTIMATOR
    params = _literals(estimator, ("PARAMS",), problems).get("PARAMS")
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        problems.append(f"{estimator}: PARAMS: expected a literal dict of parameter defaults")
        params = {}
    bad = [k for k, v in params.items() if not isinstance(v, (bool, int, float, str))]
    if bad:
        problems.append(f"{estimator}: PARAMS: {bad[0]}: expected a number, string or boolean "
                        f"default (it becomes a typed pipeline input)")
    if problems:
        return None
    return ModelPlugin(name=folder.name, folder=folder, task=values["TASK"],
                       features=tuple(values["FEATURES"]), target=values["TARGET"],
                       params=params, own_estimator=own.is_file())


def read_plugin(folder: Path) -> ModelPlugin:
    problems: list[str] = []
    plugin = _read(Path(folder), problems)
    if plugin is None:
        raise PluginError(f"model folder {folder} is not a usable plugin:\n  - "
                          + "\n  - ".join(problems))
    return plugin
