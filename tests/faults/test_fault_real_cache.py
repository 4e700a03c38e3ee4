"""Issue 11, items 1 and 2, reproduced on the real nyc_taxi model in a throw-away workspace (real
step processes, real files, a real MLflow store).

1. A side-effecting step was cached like a pure one: after the MLflow store was recreated, the
   register step was reused (6/6 reused), nothing was registered and the deployment then found
   no champion. 2. Cached outputs were trusted without checking: a truncated model.skops and a
   rescaled test.csv were reused, the build passed and reported the old r2."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from mlops.config import load_config
from mlops.paths import local_workspace
from mlops.platform.local.data import register_data
from mlops.records import Workspace

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
MODEL = "nyc_taxi"


# Each build is its own process, as each `nox -s pr_build` is (MLflow caches its store per URI
# for the life of a process, which a recreated store must not meet).
DRIVER = """
import sys
from pathlib import Path
from mlops.build import pr_build
from mlops.config import load_config
from mlops.paths import local_workspace
from mlops.platform import local_platform
config = load_config(Path(sys.argv[1]))
workspace = local_workspace(config.infra_env("dev"), Path(sys.argv[2]) / ".factory")
pr_build(config, [sys.argv[3]], platform=local_platform(workspace), checks=False)
"""


@dataclass
class Built:
    tmp: Path
    workspace: Workspace
    first: dict

    def build(self) -> tuple[dict, dict[str, str], str]:
        """pr_build once more: (report, step -> status, what it printed)."""
        env = {**os.environ, "FACTORY_ROOT": str(self.tmp)}
        out = subprocess.run([sys.executable, "-c", DRIVER, str(ROOT), str(self.tmp), MODEL],
                             env=env, capture_output=True, text=True, timeout=1200)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        report = json.loads((self.tmp / "reports" / f"{MODEL}_pr.json").read_text())
        return report, {s["name"]: s["status"] for s in report["steps"]}, out.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    """A workspace where nyc_taxi's pipeline ran once (its champion registered)."""
    tmp = tmp_path_factory.mktemp("faults")
    config = load_config(ROOT)
    workspace = local_workspace(config.infra_env("dev"), tmp / ".factory")
    register_data(workspace, config.entry(MODEL, "pr"))
    done = Built(tmp, workspace, {})
    done.first, steps, _ = done.build()
    assert set(steps.values()) == {"completed"} and done.first["gate"]["registered"]
    return done


def step_folder(workspace, step: str) -> Path:
    """The step's most recently completed folder (older ones stay for reuse)."""
    folders = (workspace.root / "runs" / "steps").glob(f"{MODEL}_{step}-*")
    return max(folders, key=lambda f: json.loads((f / "step.json").read_text())["finished"])


def champion(workspace, name: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(workspace.mlflow_tracking_uri, workspace.mlflow_registry_uri)
    return client.get_model_version_by_alias(name, "champion")


def test_a_corrupted_cached_output_is_detected_and_its_step_reruns(built):
    workspace, first = built.workspace, built.first
    outputs = step_folder(workspace, "train") / "outputs"
    model = outputs / "model_output" / "model.skops"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])  # truncated
    test_csv = outputs / "test_data" / "test.csv"
    frame = pd.read_csv(test_csv)
    frame["cost"] *= 10  # the target column rescaled
    frame.to_csv(test_csv, index=False)

    report, steps, out = built.build()
    assert steps["prep"] == steps["transform"] == "reused"
    assert steps["train"] == "completed"
    assert "train: not reused: its output 'model_output' changed since the step recorded it" in out
    # what the build reports is what the gate scored, on intact data: the first build's r2
    assert report["status"] == "passed"
    assert report["metrics"]["r2"] == pytest.approx(first["metrics"]["r2"])
    assert report["gate"]["candidate"] == pytest.approx(first["gate"]["candidate"])
    assert pd.read_csv(test_csv)["cost"].tolist() == pytest.approx(
        (frame["cost"] / 10).tolist())  # the cached copy is whole again
    assert not list((workspace.root / "runs" / "steps").glob(".*stale*"))

    _, steps, out = built.build()
    assert set(steps.values()) == {"reused"}  # and trusted again, after verification
    assert out.count("outputs verified") == 6


def test_register_reruns_when_the_registry_it_wrote_to_is_gone(built):
    workspace = built.workspace
    name = json.loads((step_folder(workspace, "register") / "outputs" / "registration" /
                       "decision.json").read_text())["model_name"]
    shutil.rmtree(workspace.root / "mlflow")  # the repro: the MLflow store recreated

    report, steps, out = built.build()
    assert steps["register"] == "completed" and steps["score"] == "reused"
    # (the last register decided against champion v1, registering nothing: the alias is gone)
    assert f"register: not reused: alias 'champion' of {name} was v1 (run" in out
    assert "when it decided and is unset now; running it again" in out
    assert report["gate"]["registered"] and report["gate"]["model_version"] == "1"
    assert str(champion(workspace, name).version) == "1"  # what deploy needs exists again

    _, steps, out = built.build()
    assert set(steps.values()) == {"reused"}
    assert "register: reused" in out and "registry effect holds" in out


def test_register_reruns_when_the_champion_it_compared_with_moved(built):
    from mlflow.tracking import MlflowClient

    workspace = built.workspace
    name = json.loads((step_folder(workspace, "register") / "outputs" / "registration" /
                       "decision.json").read_text())["model_name"]
    client = MlflowClient(workspace.mlflow_tracking_uri, workspace.mlflow_registry_uri)
    current = champion(workspace, name)
    other = client.create_model_version(name, source=current.source, run_id=current.run_id)
    client.set_registered_model_alias(name, "champion", other.version)

    report, steps, out = built.build()
    assert steps["register"] == "completed"
    assert (f"register: not reused: alias 'champion' of {name} was v{current.version}"
            f" (run {current.run_id[:12]}) when it decided and is v{other.version}") in out
    assert report["gate"]["champion"] is not None  # decided against the champion of now
