"""Benchmark area `build`: model builds as a user runs them, each figure beside its anchor
measured in the same run (these machines are shared and noisy: ratios, not absolutes).

anchor: one cold import of pandas + scikit-learn + MLflow in a new interpreter, the floor of
a step started the old way. pr_build per model (`nox -s pr_build -- <model>`, as a user runs
it): cold (the step-reuse and lint/test caches removed first, so every step runs, forked warm,
lint and unit tests alongside) twice: as the first build, with no kept warm server yet, and
with the server kept from the build before; warm (nothing changed: every step reused
after its outputs are re-hashed), and from a fresh checkout (provisioning and data generation
paid too). For nyc_taxi, each step cold with nothing else running (lint and unit tests
cached): forked from the kept server, forked by the first build, and spawned. ci_build
(`python -m mlops ci-build`, workspace provisioned, cold steps) of all models at once against
the sum of each model's pipeline run alone."""

from __future__ import annotations

import json
import os
import shutil
import statistics
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
from mlops.pipeline import kept
from mlops.pipeline.hashing import hash_tree
from mlops.pipeline.pool import START_ENV

COLD_TARGET, WARM_TARGET, FRESH_TARGET = 15.0, 10.0, 60.0
STEPS_PER_FLOOR = 2.0  # sum of a cold pipeline's step times <= 2 x the import floor
CONCURRENT_SHARE = 0.6  # ci_build of all models <= 0.6 x the sum of their pipelines alone
FLOOR_IMPORT = "import pandas, sklearn, mlflow"
FLOOR_RUNS = 5
PRELOAD_RUNS = 3
STEP_DETAIL = "nyc_taxi"  # the model whose steps are timed one by one (issue 13's anchor)
_KEPT_DIR = Path(tempfile.gettempdir())  # set by run(): the bench's own kept servers


def _workspace_root(config: FactoryConfig) -> Path:
    try:
        from mlops.infra import read_workspace

        return read_workspace(config, "local").root
    except Exception:  # noqa: BLE001 - not provisioned yet: the layout is known
        return local_workspace(config.infra_env(selected_infra_env()), state_dir()).root


def _clear(*folders: Path) -> None:
    for folder in folders:
        if folder.exists():
            shutil.rmtree(folder)


def _step_cache(config: FactoryConfig) -> Path:
    return _workspace_root(config) / "runs" / "steps"


def _checks_cache() -> Path:
    return state_dir() / "build-checks"


def _run(cmd: list[str], root: Path, env: dict[str, str], what: str) -> float:
    started = time.monotonic()
    out = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env, check=False)
    seconds = time.monotonic() - started
    if out.returncode != 0:
        tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-25:])
        raise FactoryError(f"bench build: {what} failed (exit {out.returncode}):\n{tail}")
    return seconds


def _fastest_import(code: str, runs: int, what: str) -> tuple[float, list[float]]:
    """The fastest of ``runs`` new interpreters running ``code``, and all their times. The
    fastest, not the median: a moment of load on this shared machine can only make an import
    slower, and a slow anchor would flatter every ratio against it."""
    times = [_run([sys.executable, "-c", code], repo_root(), tool_environment(), what)
             for _ in range(runs)]
    return min(times), times


def _import_floor() -> tuple[float, list[float]]:
    """One cold import of pandas, scikit-learn and MLflow (see _fastest_import)."""
    return _fastest_import(FLOOR_IMPORT, FLOOR_RUNS, FLOOR_IMPORT)


def _steps_preload(config: FactoryConfig, model: str) -> tuple[float, int]:
    """The fastest of PRELOAD_RUNS new interpreters importing what the warm interpreter preloads
    for ``model``'s steps (launch.preload_modules of its staged code), and how many modules
    that is: what a first build pays once before its first step can fork."""
    from mlops.pipeline.launch import preload_modules
    from mlops.staging import stage_entry

    modules = preload_modules([stage_entry(config.entry(model, "pr")).code])
    code = f"import importlib\nfor m in {modules!r}:\n    importlib.import_module(m)"
    return _fastest_import(code, PRELOAD_RUNS, f"importing {model}'s preload")[0], len(modules)


def _bench_env() -> dict[str, str]:
    """The builds' environment: kept warm servers in the bench's own folder (see _kept)."""
    return {**tool_environment(), kept.DIR_ENV: str(_KEPT_DIR)}


def _no_kept_server() -> None:
    """As on the first build of the day (or after KEEP seconds idle): no kept server runs."""
    kept.stop_all(_KEPT_DIR)


def _timed_build(model: str, root: Path | None = None,
                 extra_env: dict[str, str] | None = None) -> tuple[float, dict]:
    """Wall time and report of `nox -s pr_build -- <model>` in ``root`` (default: this repo)."""
    root = root or repo_root()
    env = {**_bench_env(), **(extra_env or {})}
    if root != repo_root():  # a fresh copy: its own state, this repo's environments
        env.update(FACTORY_ROOT=str(root), FACTORY_ENVS_DIR=str(ENVS_DIR))
    seconds = _run([sys.executable, "-m", "nox", "-s", "pr_build", "--", model], root, env,
                   f"nox -s pr_build -- {model}")
    return seconds, json.loads((reports_dir(root) / f"{model}_pr.json").read_text())


def _fresh_checkout_build(model: str) -> tuple[float, dict]:
    """pr_build in a fresh copy of the repo: nothing provisioned, no data, no caches; only the
    shared environment exists (environment installs are excluded from the target)."""
    with tempfile.TemporaryDirectory(prefix="bench-fresh-") as tmp:
        return _timed_build(model, fresh_copy(repo_root(), Path(tmp) / "factory"))


def _pipeline_summary(config: FactoryConfig, report: dict) -> dict:
    path = _workspace_root(config) / "runs" / "pipelines" / f"{report['run_id']}.json"
    return json.loads(path.read_text())


def _verification_seconds(config: FactoryConfig, report: dict) -> float:
    """What re-hashing every cached output of that (warm) run costs."""
    outputs = {Path(p) for p in _pipeline_summary(config, report)["outputs"].values()}
    started = time.monotonic()
    for path in outputs:
        hash_tree(path)
    return time.monotonic() - started


def _ci_build(config: FactoryConfig, models: list[str]) -> tuple[float, list[dict]]:
    """Wall time of `python -m mlops ci-build <models>` with every step cold, and its reports."""
    _clear(_step_cache(config))
    seconds = _run([sys.executable, "-m", "mlops", "ci-build", *models], repo_root(),
                   _bench_env(), f"ci-build {' '.join(models)}")
    return seconds, [json.loads((reports_dir() / f"{m}_dev.json").read_text()) for m in models]


def _step_times(report: dict) -> dict[str, float]:
    return {s["name"]: s["seconds"] for s in report["steps"] if not s["reused"]}


def _pr_build_rows(section: Section, config: FactoryConfig, model: str, floor: float) -> None:
    for server, state in ((False, "first build, no kept server"), (True, "kept server warm")):
        if not server:
            _no_kept_server()
        _clear(_step_cache(config), _checks_cache())
        cold, report = _timed_build(model)
        steps = _step_times(report)
        checks = sum(c.get("seconds", 0.0) for c in report.get("checks") or [])
        section.add(f"pr_build {model}, cold ({state})", cold, "s", f"< {COLD_TARGET:g} s",
                    cold < COLD_TARGET, note=f"{len(steps)}/{len(report['steps'])} steps ran, "
                                             f"{cold / floor:.1f} x the import floor")
        section.notes.append(f"{model} cold, {state}: steps {sum(steps.values()):.1f} s in "
                             f"total, lint + unit tests {checks:.1f} s alongside them; the rest "
                             "is start-up, provisioning and data registration")
    warm, warm_report = _timed_build(model)
    reused = sum(s["reused"] for s in warm_report["steps"])
    verify = _verification_seconds(config, warm_report)
    section.add(f"pr_build {model}, warm", warm, "s", f"< {WARM_TARGET:g} s",
                warm < WARM_TARGET, note=f"{reused}/{len(warm_report['steps'])} steps reused")
    section.add(f"{model}: re-hashing the cached outputs a warm build verifies", verify, "s",
                note=f"{verify / warm:.1%} of the warm build")
    fresh, fresh_report = _fresh_checkout_build(model)
    section.add(f"pr_build {model}, fresh checkout (provision, data generation, every step)",
                fresh, "s", f"< {FRESH_TARGET:g} s", fresh < FRESH_TARGET,
                note=f"{sum(not s['reused'] for s in fresh_report['steps'])}/"
                     f"{len(fresh_report['steps'])} steps ran")
    r2 = fresh_report["metrics"].get("r2")
    if r2 is not None:
        section.notes.append(f"{model}: pr data r2 {r2:.4f}, gate "
                             f"{'passed' if fresh_report['gate']['passed'] else 'failed'}")


def _step_rows(section: Section, config: FactoryConfig, model: str, floor: float) -> None:
    """Every step of ``model`` cold, forked warm and spawned, lint + unit tests cached so that
    nothing else runs alongside."""
    runs = {}
    for start in ("first", "fork", "spawn"):  # first: forked, but no kept server yet
        if start == "first":
            _no_kept_server()
        _clear(_step_cache(config))
        env = {START_ENV: "spawn" if start == "spawn" else "fork"}
        runs[start] = _step_times(_timed_build(model, extra_env=env)[1])
    first, forked, spawned = runs["first"], runs["fork"], runs["spawn"]
    for name, seconds in forked.items():
        section.add(f"{model} step {name}, cold, forked from the kept server", seconds, "s",
                    note=f"first build (no kept server): {first.get(name, 0.0):.2f} s; spawned "
                         f"as a new interpreter: {spawned.get(name, 0.0):.2f} s")
    preload, count = _steps_preload(config, model)
    section.add(f"{model}: its steps' preload ({count} modules) in one new interpreter (fastest "
                f"of {PRELOAD_RUNS})", preload, "s",
                note=f"{preload / floor:.2f} x the import floor: what a first build pays once "
                     "before its first step forks")
    for runs_of, state in ((forked, "kept server warm"), (first, "first build, no kept server")):
        total = sum(runs_of.values())
        bound = "" if runs_of is forked else (
            f"; its floor is the preload plus the steps forked warm, "
            f"{(preload + sum(forked.values())) / floor:.2f} x, less what the preload overlaps "
            "before the pipeline starts")
        section.add(f"{model}: sum of its cold pipeline's step times ({state})", total, "s",
                    f"<= {STEPS_PER_FLOOR:g} x import floor", total <= STEPS_PER_FLOOR * floor,
                    note=f"{total / floor:.2f} x the import floor{bound}")
    section.notes.append(f"{model} spawned as a new interpreter per step (the old way): steps "
                         f"{sum(spawned.values()):.1f} s, {sum(spawned.values()) / floor:.2f} x "
                         "the import floor")


def _ci_build_rows(section: Section, config: FactoryConfig, models: list[str]) -> None:
    alone: dict[str, float] = {}
    for model in models:  # each model's pipeline alone (a first registration may deploy)
        _, (report,) = _ci_build(config, [model])
        alone[model] = _pipeline_summary(config, report)["seconds"]
    both, reports = _ci_build(config, models)
    total = sum(alone.values())
    pipelines = ", ".join(f"{m} {s:.1f} s" for m, s in alone.items())
    section.add(f"ci_build {' + '.join(models)} at once, cold steps", both, "s",
                f"<= {CONCURRENT_SHARE:g} x sum of pipelines alone",
                both <= CONCURRENT_SHARE * total,
                note=f"{both / total:.2f} x the {total:.1f} s of the pipelines alone ({pipelines})")
    deployed = [r["model"] for r in reports if (r.get("deployment") or {}).get("endpoints")]
    outcome = f"deployed {', '.join(deployed)}" if deployed else "no new champion to deploy"
    section.notes.append(f"ci_build at once: wall time of `python -m mlops ci-build` on the "
                         f"provisioned workspace ({outcome}); each pipeline alone: its runner's "
                         f"time in `python -m mlops ci-build <model>`")


def run(config: FactoryConfig, args: Namespace) -> Section:
    global _KEPT_DIR
    with tempfile.TemporaryDirectory(prefix="bench-kept-") as folder:
        _KEPT_DIR = Path(folder)
        os.chmod(folder, 0o700)
        try:
            return _run_area(config, args)
        finally:
            kept.stop_all(_KEPT_DIR)


def _run_area(config: FactoryConfig, args: Namespace) -> Section:
    section = Section("build", "Model build (pr_build, ci_build)")
    models = args.models if getattr(args, "only_models", False) else config.model_names
    floor, times = _import_floor()
    section.add("anchor: one cold import of pandas + scikit-learn + MLflow (fastest of "
                f"{FLOOR_RUNS}; median {statistics.median(times):.2f} s)", floor, "s")
    for model in models:
        _pr_build_rows(section, config, model, floor)
    _step_rows(section, config, STEP_DETAIL if STEP_DETAIL in models else models[0], floor)
    if len(models) > 1:
        _ci_build_rows(section, config, models)
    section.notes.append("Steps start forked from a warm interpreter that has imported what "
                         "the steps import (mlops/pipeline/forkserver.py), a session of the one "
                         "kept between builds (mlops/pipeline/kept.py): the first build after "
                         f"{kept.KEEP_DEFAULT_SECONDS / 60:g} idle minutes starts it and pays "
                         "its imports; \"spawned\" is the old way, a new interpreter per "
                         "step. Builds in this area use the bench's own folder of kept servers, "
                         "stopped where a row says \"no kept server\".")
    section.notes.append("pr_build times are wall clock of `nox -s pr_build -- <model>` "
                         "including nox's start, the on-demand provisioning of the local "
                         "workspace (synth, plan, provision) and the data registration.")
    return section
