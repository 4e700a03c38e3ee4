"""Models as plugins, from a fresh copy of the repository: `nox -s new_model` writes a model
(regression, classification, or a copy of another) that passes `pr_build` straight away; a
folder copied by hand with config entries added works too; and with twenty models, touching
one model's file and running `pr_build -- --changed` builds exactly that model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlops._repo_copy import fresh_copy

REPO = Path(__file__).resolve().parents[2]
MODELS = 20

# two real PR builds (provisioning, lint, tests, the pipeline) on the local platform
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    root = fresh_copy(REPO, tmp_path_factory.mktemp("scaffold") / "factory")
    env = dict(os.environ, FACTORY_ROOT=str(root), FACTORY_ENVS_DIR=str(REPO / ".nox"),
               FACTORY_TARGET="local", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    for var in ("BUILD_SOURCEBRANCHNAME", "GITHUB_HEAD_REF", "GITHUB_REF_NAME", "GITHUB_OUTPUT"):
        env.pop(var, None)

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(list(args), cwd=root, env=env, capture_output=True, text=True,
                                timeout=1500)
        if check and result.returncode != 0:
            pytest.fail(f"{' '.join(args)} failed ({result.returncode}):\n"
                        f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        return result

    return root, run


def _mlops(run, *args: str, check: bool = True):
    return run(sys.executable, "-m", "mlops", *args, check=check)


def _copy_by_hand(root: Path, source: str, name: str) -> None:
    """What a user does without the scaffold: copy the folder, rename what is named after the
    model in its configs, add one config entry per environment."""
    shutil.copytree(root / "mlops" / source, root / "mlops" / name,
                    ignore=shutil.ignore_patterns("data", "__pycache__"))
    for config in (root / "mlops" / name / "configs").glob("*.json"):
        text = config.read_text().replace(source, name).replace(source.replace("_", "-"),
                                                                 name.replace("_", "-"))
        config.write_text(text)
    for test in (root / "mlops" / name / "tests").glob(f"test_{source}_*.py"):
        test.rename(test.with_name(test.name.replace(source, name)))
    model_config = root / "config" / "model_config.json"
    data = json.loads(model_config.read_text())
    copies = [json.loads(json.dumps(e).replace(source, name)) for e in data["models"]
              if e["ML_MODEL_CONFIG_NAME"] == source]
    data["models"] += copies
    model_config.write_text(json.dumps(data, indent=2) + "\n")


def _passed(root: Path, model: str, metric: str) -> None:
    report = json.loads((root / "reports" / f"{model}_pr.json").read_text())
    assert report["status"] == "passed" and report["gate"]["metric"] == metric
    assert report["gate"]["passed"], report["gate"]


def test_new_models_build_and_changed_selects_exactly_the_touched_one(clone):
    root, run = clone
    created = _mlops(run, "new-model", "acme_taxi")
    assert "created regression model acme_taxi" in created.stdout
    assert "acme-taxi-online" in created.stdout
    _mlops(run, "new-model", "acme_risk", "--task", "classification")
    _mlops(run, "new-model", "london_copy", "--from", "london_taxi")
    refused = _mlops(run, "new-model", "acme_taxi", check=False)
    assert refused.returncode != 0 and "exists already" in refused.stderr
    for index in range(MODELS - 6):  # three shipped, three scaffolded, the rest by hand
        _copy_by_hand(root, "acme_taxi", f"fleet_{index:02d}")
    checked = _mlops(run, "check-config")
    assert f"{MODELS * 2} model entries" in checked.stdout  # pr and dev for each
    _mlops(run, "pipelines")
    assert (root / ".azure-pipelines" / "fleet_07_pr_dev_pipeline.yml").is_file()

    # the scaffolded regression model passes its PR build straight away
    nox = [sys.executable, "-m", "nox", "-s", "pr_build", "--"]
    built = run(*nox, "acme_taxi")
    assert "Session pr_build was successful" in built.stdout + built.stderr
    _passed(root, "acme_taxi", "r2")

    # twenty models on a branch; one model's file touched: the classifier, never built yet
    run("git", "init", "-q", "-b", "develop")
    run("git", "add", "-A")
    run("git", "commit", "-qm", "twenty models")
    run("git", "checkout", "-qb", "feature/risk")
    features = root / "mlops" / "acme_risk" / "src" / "features.py"
    features.write_text(features.read_text() + "\n# tuned\n")
    run("git", "commit", "-qam", "touch acme_risk")
    listed = _mlops(run, "pr-build", "--changed", "develop", "--list")
    assert json.loads(listed.stdout) == ["acme_risk"]
    for report in (root / "reports").glob("*_pr.json"):
        report.unlink()
    built = run(*nox, "--changed", "develop")
    assert "models: acme_risk" in built.stdout + built.stderr
    assert sorted(p.name for p in (root / "reports").glob("*_pr.json")) == ["acme_risk_pr.json"]
    _passed(root, "acme_risk", "roc_auc")  # the scaffolded classifier passes straight away
    # a factory step every model is staged with touches them all
    step = root / "mlops" / "steps" / "step_score.py"
    step.write_text(step.read_text() + "\n# a factory change\n")
    assert len(json.loads(_mlops(run, "pr-build", "--changed", "develop", "--list").stdout)) \
        == MODELS
