"""pr_build of the real nyc_taxi model on generated data, in a throw-away local workspace:
first run trains, the second reuses every step; a changed training parameter re-runs only
train and what follows; a crippled model runs to the end and the champion stays."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from mlops.build import pr_build
from mlops.config import load_config
from mlops.paths import local_workspace
from mlops.platform import local_platform
from mlops.platform.local.data import register_data

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
MODEL = "nyc_taxi"


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORY_ROOT", str(tmp_path))  # reports go to tmp_path/reports
    config = load_config(ROOT)
    workspace = local_workspace(config.infra_env("dev"), tmp_path / ".factory")
    platform = local_platform(workspace)
    register_data(workspace, config.entry(MODEL, "pr"))
    return config, platform, tmp_path


def steps(report_path: Path) -> dict[str, str]:
    return {s["name"]: s["status"] for s in json.loads(report_path.read_text())["steps"]}


def with_params(config, **params):
    """The config with nyc_taxi's TRAINING_PARAMS on env pr set to ``params``."""
    entry = config.entry(MODEL, "pr")
    entries = dict(config.entries)
    entries[(MODEL, "pr")] = dataclasses.replace(entry, training_params=params)
    return dataclasses.replace(config, entries=entries)


def test_pr_build_twice_then_a_parameter_change_then_a_worse_model(setup):
    config, platform, tmp_path = setup
    report = tmp_path / "reports" / f"{MODEL}_pr.json"

    first = pr_build(config, [MODEL], platform=platform, checks=False)[0]
    assert first.status == "passed" and first.gate["passed"]
    assert set(steps(report).values()) == {"completed"}
    assert first.metrics["r2"] > config.entry(MODEL, "pr").gate_threshold
    champion_r2 = first.gate["candidate"]

    second = pr_build(config, [MODEL], platform=platform, checks=False)[0]
    assert set(steps(report).values()) == {"reused"}
    assert second.metrics == first.metrics

    changed = with_params(config, max_iter=120)
    retrained = pr_build(changed, [MODEL], platform=platform, checks=False)[0]
    if retrained.gate["registered"]:  # it beat the first model: it is the champion now
        champion_r2 = retrained.gate["candidate"]
    assert steps(report) == {"prep": "reused", "transform": "reused", "train": "completed",
                             "predict": "completed", "score": "completed",
                             "register": "completed"}

    crippled = with_params(config, max_iter=2, learning_rate=0.01)
    # gate_threshold is bound by the platform from config: lower it there so the worse model
    # passes the absolute threshold and only the champion comparison keeps it out
    entry = crippled.entry(MODEL, "pr")
    crippled.entries[(MODEL, "pr")] = dataclasses.replace(entry, gate_threshold=-100.0)
    worse = pr_build(crippled, [MODEL], platform=platform, checks=False)[0]
    assert steps(report)["register"] == "completed"
    assert worse.gate["passed"] and not worse.gate["registered"]
    assert worse.gate["candidate"] < champion_r2
    assert worse.gate["champion"] == pytest.approx(champion_r2, rel=1e-6)
