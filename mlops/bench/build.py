"""Benchmark area `build`: cold and warm `nox -s pr_build -- <model>` per model, as a user runs
it (the whole requires-chain: provision, register_data, checks, pipeline).

cold: the workspace's step-reuse cache and the lint/test cache are moved aside first, so every
step runs (environment installs excluded: the shared environment already exists). warm: the
same command again with nothing changed, so every step is reused."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from argparse import Namespace
from pathlib import Path

from mlops._environment import tool_environment
from mlops.bench import Section
from mlops.config import FactoryConfig, selected_infra_env
from mlops.errors import FactoryError
from mlops.paths import repo_root, reports_dir, state_dir
from mlops.platform.workspace import local_workspace

COLD_TARGET, WARM_TARGET = 60.0, 10.0


def _reuse_caches(config: FactoryConfig) -> list[Path]:
    """The folders whose removal makes the next build cold."""
    try:
        from mlops.infra import read_workspace

        root = read_workspace(config, "local").root
    except Exception:  # noqa: BLE001 - not provisioned yet: the layout is known
        root = local_workspace(config.infra_env(selected_infra_env()), state_dir()).root
    return [root / "runs" / "steps", state_dir() / "build-checks"]


def _timed_build(model: str) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "nox", "-s", "pr_build", "--", model]
    started = time.monotonic()
    out = subprocess.run(cmd, cwd=repo_root(), capture_output=True, text=True,
                         env=tool_environment(), check=False)
    seconds = time.monotonic() - started
    if out.returncode != 0:
        tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-25:])
        raise FactoryError(f"bench build: {' '.join(cmd[2:])} failed (exit {out.returncode}):\n"
                           f"{tail}")
    report = json.loads((reports_dir() / f"{model}_pr.json").read_text())
    return seconds, report


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
        r2 = report["metrics"].get("r2")
        if r2 is not None:
            section.notes.append(f"{model}: pr data r2 {r2:.4f}, gate "
                                 f"{'passed' if report['gate']['passed'] else 'failed'}")
    section.notes.append("Steps hand the numbers they report to the runner in a file: prep, "
                         "transform and score never import MLflow; predict imports it only to "
                         "load the model; train and register use it for model logging and the "
                         "registry.")
    section.notes.append("Times are wall clock of `nox -s pr_build -- <model>` including the "
                         "requires-chain (check_config, synth, plan, provision, register_data).")
    return section
