"""Fixtures for this model's tests. Written against MODEL_DIR (this folder's parent), so a copied
model folder tests itself unchanged."""

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

MODEL_DIR = Path(__file__).resolve().parents[1]
SRC = MODEL_DIR / "src"


def load_src(name: str):
    """Import a module from this model's src/. Every model has its own schema, prep, features...,
    so same-named modules of another model's src/ are evicted first."""
    for key, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None)
        if origin and Path(origin).parent.name == "src" and Path(origin).parent != SRC:
            del sys.modules[key]
    sys.path[:] = [p for p in sys.path if not (p.endswith("/src") and Path(p) != SRC)]
    if str(SRC) in sys.path:
        sys.path.remove(str(SRC))
    sys.path.insert(0, str(SRC))
    module = importlib.import_module(name)
    if Path(module.__file__).parent != SRC:
        module = importlib.reload(module)
    return module


def step_env(**extra) -> dict:
    """Subprocess environment: the factory's, without a pipeline run unless one is given."""
    from mlops._environment import tool_environment

    env = {k: v for k, v in tool_environment().items() if not k.startswith("MLFLOW_")
           and k != "FACTORY_STEP_METRICS"}
    env.update(extra)
    return env


def run_step(script: str, *args: str, env: dict | None = None, check: bool = True):
    """Run src/<script> like the runner does; returns the CompletedProcess."""
    result = subprocess.run(
        [sys.executable, str(SRC / script), *map(str, args)],
        capture_output=True, text=True, env=env or step_env(), timeout=600,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{script} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="session")
def raw_pr(tmp_path_factory) -> Path:
    """A small generated raw data set (both files)."""
    folder = tmp_path_factory.mktemp("raw")
    load_src("generate_data").generate(folder, rows=600, seed=7)
    return folder


@pytest.fixture(scope="session")
def kit():
    """This model's helpers. Tests take them from this fixture, never by `from conftest import`:
    every model folder has a conftest module and a test would get whichever pytest loaded last."""
    return SimpleNamespace(model_dir=MODEL_DIR, src=load_src, run=run_step, env=step_env)


os.environ.setdefault("MPLBACKEND", "Agg")
