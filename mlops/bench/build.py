"""Benchmark area `build`: cold and warm `nox -s pr_build -- <model>` per model, as a user runs
it (the whole requires-chain: provision, register_data, checks, pipeline).

cold: the workspace's step-reuse cache and the lint/test cache are removed first, so every
step runs (environment installs excluded: the shared environment already exists). warm: the
same command again with nothing changed, so every step is reused. fresh checkout: a copy of the
repository as a clone holds it, so provisioning and data generation are paid too."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from argparse import Namespace
from pathlib import Path

from mlops._environment import ENVS_DIR, tool_environment
from mlops._repo_copy import fresh_copy
from mlops.bench import Section
from mlops.config import FactoryConfig, selected_infra_env
from mlops.errors import FactoryError
from mlops.paths import local_workspace, repo_root, reports_dir, state_dir

COLD_TARGET, WARM_TARGET = 60.0, 10.0


def _reuse_caches(config: FactoryConfig) -> list[Path]:
    """The folders whose removal makes the next build cold."""
    try:
        from mlops.infra import read_workspace

        root = read_workspace(config, "local").root
    except Exception:  # noqa: BLE001 - not provisioned yet: the layout is known
        root = local_workspace(config.infra_env(selected_infra_env()), state_dir()).root
    return [root / "runs" / "steps", state_dir() / "build-checks"]


def _timed_build(model: str, root: Path | None = None) -> tuple[float, dict]:
    """Wall time and report of `nox -s pr_build -- <model>` in ``root`` (default: this repo)."""
    root = root or repo_root()
    env = tool_environment()
    if root != repo_root():  # a fresh copy: its own state, this repo's environments
        env.update(FACTORY_ROOT=str(root), FACTORY_ENVS_DIR=str(ENVS_DIR))
    cmd = [sys.executable, "-m", "nox", "-s", "pr_build", "--", model]
    started = time.monotonic()
    out = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env, check=False)
    seconds = time.monotonic() - started
    if out.returncode != 0:
        tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-25:])
        raise FactoryError(f"bench build: {' '.join(cmd[2:])} failed (exit {out.returncode}):\n"
                           f"{tail}")
    report = json.loads((reports_dir(root) / f"{model}_pr.json").read_text())
    return seconds, report


def _fresh_checkout_build(model: str) -> tuple[float, dict]:
    """pr_build in a fresh copy of the repo: nothing provisioned, no data, no caches; only the
    shared environment exists (environment installs are excluded from the target)."""
    with tempfile.TemporaryDirectory(prefix="bench-fresh-") as tmp:
        return _timed_build(model, fresh_copy(repo_root(), Path(tmp) / "factory"))


def run(config: FactoryConfig, args: Namespace) -> Section:
    section = Section("build", "Model build (pr_build)")
    models = args.models if getattr(args, "only_models", False) else config.model_names
    for model in models:
        for cache in _reuse_caches(config):
            if cache.exists():
                shutil.rmtree(cache)
        cold, report = _timed_build(model)
        ran = sum(not s["reused"] for s in report["steps"])
        steps = sum(s["seconds"] for s in report["steps"])
        checks = sum(c.get("seconds", 0.0) for c in report.get("checks") or [])
        section.add(f"pr_build {model}, cold", cold, "s", f"< {COLD_TARGET:g} s",
                    cold < COLD_TARGET, note=f"{ran}/{len(report['steps'])} steps ran")
        section.notes.append(f"{model} cold: steps {steps:.0f} s in total, lint + unit tests "
                             f"{checks:.0f} s, the rest is the requires-chain")
        warm, report = _timed_build(model)
        reused = sum(s["reused"] for s in report["steps"])
        section.add(f"pr_build {model}, warm", warm, "s", f"< {WARM_TARGET:g} s",
                    warm < WARM_TARGET, note=f"{reused}/{len(report['steps'])} steps reused")
        fresh, report = _fresh_checkout_build(model)
        section.add(f"pr_build {model}, fresh checkout (provision, data generation, every step)",
                    fresh, "s", f"< {COLD_TARGET:g} s", fresh < COLD_TARGET,
                    note=f"{sum(not s['reused'] for s in report['steps'])}/"
                         f"{len(report['steps'])} steps ran")
        r2 = report["metrics"].get("r2")
        if r2 is not None:
            section.notes.append(f"{model}: pr data r2 {r2:.4f}, gate "
                                 f"{'passed' if report['gate']['passed'] else 'failed'}")
    section.notes.append("Steps hand the numbers they report to the runner in a file: prep, "
                         "transform and score never import MLflow; predict imports it only to "
                         "load the model; train and register use it for model logging and the "
                         "registry.")
    section.notes.append("Times are wall clock of `nox -s pr_build -- <model>` including the "
                         "requires-chain (check_config, register_data) and the on-demand "
                         "provisioning of the local workspace (synth, plan, provision).")
    return section
