"""Issue 11, item 11: check_config accepted an r2 threshold of 1.01 (a gate no model can ever
pass). Thresholds are checked against the range of their metric, and metrics against the
model's task; the CLI exits non-zero naming file, entry and key."""

from __future__ import annotations

import subprocess
import sys

from mlops.config import ConfigError, load_config


def _entry(data, model, env):
    return next(e for e in data["models"]
                if e["ML_MODEL_CONFIG_NAME"] == model and e["ENV_NAME"] == env)


def _messages(root) -> list[str]:
    try:
        load_config(root)
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    raise AssertionError("the configuration loaded")


def test_gate_metric_and_threshold_follow_the_models_task(config_root, edit_json):
    edit_json("config/model_config.json", lambda d: (
        _entry(d, "breast_cancer", "dev").update(GATE_METRIC="r2"),
        _entry(d, "nyc_taxi", "dev").update(GATE_THRESHOLD=1.01)))
    assert _messages(config_root) == [
        "config/model_config.json: nyc_taxi/dev: GATE_THRESHOLD: expected a reachable threshold: "
        "r2 is never above 1, so a threshold of 1.01 is never met",
        "config/model_config.json: breast_cancer/dev: GATE_METRIC: expected one of accuracy, f1, "
        "log_loss, roc_auc, found 'r2'"]


def test_check_config_exits_non_zero_naming_the_threshold(config_root, edit_json, monkeypatch):
    edit_json("config/model_config.json",
              lambda d: _entry(d, "nyc_taxi", "pr").update(GATE_THRESHOLD=1.01))
    monkeypatch.setenv("FACTORY_ROOT", str(config_root))
    result = subprocess.run([sys.executable, "-m", "mlops", "check-config"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1
    assert "nyc_taxi/pr: GATE_THRESHOLD: expected a reachable threshold" in result.stderr


def test_builds_refuse_a_bad_config_before_starting_anything(config_root, edit_json,
                                                              monkeypatch):
    """pr_build and ci_build no longer wait for a check_config session: the CLI validates the
    configuration before any command, so a bad entry still stops them first, named, with no
    check, provisioning or report started."""
    edit_json("config/model_config.json",
              lambda d: _entry(d, "nyc_taxi", "pr").update(GATE_THRESHOLD=1.01))
    monkeypatch.setenv("FACTORY_ROOT", str(config_root))
    for command in ("pr-build", "ci-build"):
        result = subprocess.run([sys.executable, "-m", "mlops", command, "nyc_taxi"],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 1, result.stdout
        assert "nyc_taxi/pr: GATE_THRESHOLD: expected a reachable threshold" in result.stderr
        assert not (config_root / ".factory").exists() and not (config_root / "reports").exists()
