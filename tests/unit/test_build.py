"""pr_build / ci_build orchestration over a fake platform: checks, gate outcome, reports."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from mlops import build
from mlops.build import BuildFailed, ci_build, pr_build, run_checks
from mlops.config import load_config
from mlops.records import EndpointInfo, GateDecision, PipelineResult, StepResult

ROOT = Path(__file__).resolve().parents[2]
STEPS = ["prep", "transform", "train", "predict", "score", "register"]


class FakePlatform:
    def __init__(self, passed=True, registered=True):
        self.passed, self.registered = passed, registered
        self.calls: list[tuple] = []

    def register_data(self, entry):
        self.calls.append(("data", entry.model))
        return []

    def run_pipeline(self, entry, names, *, wait=True):
        self.calls.append(("run", entry.model, entry.env, wait))
        gate = GateDecision(self.passed, self.registered,
                            "candidate r2 0.9300 passes" if self.passed else "fails threshold",
                            "r2", 0.93 if self.passed else 0.2, 0.9,
                            "3" if self.registered else None)
        return PipelineResult(entry.model, entry.env, names.experiment_name, names.display_name,
                              "run123", "completed",
                              {"r2": 0.93, "rmse": 2.1, "mae": 1.2, "mse": 4.41}, gate,
                              [StepResult(s, "reused", True, 0.0) for s in STEPS])

    def deploy(self, entry, names):
        self.calls.append(("deploy", entry.model))
        return [EndpointInfo("ep", "online", entry.model, "3", "http://127.0.0.1:1/score", "ok")]

    def invoke(self, entry):
        self.calls.append(("invoke", entry.model))
        return {"predictions": [12.5]}


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORY_ROOT", str(tmp_path))
    monkeypatch.setattr(build, "run_checks", lambda entry, **kw: [{"name": "lint",
                                                                    "status": "passed"}])
    return load_config(ROOT)


def test_pr_build_writes_json_and_markdown_reports(config, tmp_path, capsys):
    model = config.model_names[0]
    platform = FakePlatform()
    pr_build(config, [model], platform=platform)
    assert platform.calls == [("data", model), ("run", model, "pr", True)]
    report = json.loads((tmp_path / "reports" / f"{model}_pr.json").read_text())
    assert report["model"] == model and report["env"] == "pr" and report["status"] == "passed"
    assert report["run_id"] == "run123" and report["experiment"].startswith(model)
    assert report["metrics"] == {"r2": 0.93, "rmse": 2.1, "mae": 1.2, "mse": 4.41}
    assert {k: report["gate"][k] for k in ("passed", "registered", "candidate", "champion")} == \
        {"passed": True, "registered": True, "candidate": 0.93, "champion": 0.9}
    assert report["steps"][0] == {"name": "prep", "status": "reused", "reused": True,
                                  "seconds": 0.0}
    md = (tmp_path / "reports" / f"{model}_pr.md").read_text()
    assert "| r2 | 0.9300 |" in md and "passed, registered v3" in md
    out = capsys.readouterr().out
    assert "r2" in out and "0.9300" in out and "6/6" in out  # the metrics table


def test_pr_build_fails_when_the_gate_threshold_fails(config, tmp_path):
    model = config.model_names[0]
    with pytest.raises(BuildFailed, match=f"pr_build failed for {model}"):
        pr_build(config, [model], platform=FakePlatform(passed=False, registered=False))
    report = json.loads((tmp_path / "reports" / f"{model}_pr.json").read_text())
    assert report["status"] == "failed" and "gate: fails threshold" in report["error"]


def test_ci_build_deploys_and_smoke_tests_a_new_champion(config, tmp_path):
    model = config.model_names[0]
    platform = FakePlatform()
    ci_build(config, [model], target="azure", platform=platform)
    assert platform.calls == [("data", model), ("run", model, "dev", True), ("deploy", model),
                              ("invoke", model)]
    report = json.loads((tmp_path / "reports" / f"{model}_dev.json").read_text())
    assert report["deployment"]["smoke_test"] == {"predictions": [12.5]}


def test_ci_build_keeps_the_deployment_when_the_champion_is_kept(config):
    platform = FakePlatform(registered=False)
    ci_build(config, config.model_names[:1], target="azure", platform=platform)
    assert [c[0] for c in platform.calls] == ["data", "run"]


def test_ci_build_skips_deploy_and_smoke_test_of_a_model_served_nowhere(config, tmp_path,
                                                                       capsys):
    """IS_ONLINE_DEPLOYMENT and IS_BATCH_DEPLOYMENT both false: trained, gated and registered,
    not served; the build passes and says why nothing was deployed."""
    model = config.model_names[0]
    entries = dict(config.entries)
    entries[(model, "dev")] = dataclasses.replace(
        entries[(model, "dev")], is_online_deployment=False, is_batch_deployment=False)
    platform = FakePlatform()
    ci_build(dataclasses.replace(config, entries=entries), [model], platform=platform)
    assert platform.calls == [("data", model), ("run", model, "dev", True)]
    report = json.loads((tmp_path / "reports" / f"{model}_dev.json").read_text())
    assert report["status"] == "passed"
    assert report["deployment"]["summary"] == (
        f"skipped: {model}/dev: IS_ONLINE_DEPLOYMENT and IS_BATCH_DEPLOYMENT are false "
        "(trained and registered, not served)")
    assert "deployment and smoke test skipped" in capsys.readouterr().out


def test_checks_run_ruff_and_pytest_and_are_cached_by_code(tmp_path):
    config = load_config(ROOT)
    entry = config.entry(config.model_names[0], "pr")
    calls = []

    def runner(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "ok", "")

    first = run_checks(entry, runner=runner, cache_dir=tmp_path, root=ROOT)
    assert [c["name"] for c in first] == [c[0] for c in build.check_commands(entry)]
    assert calls[0][1:4] == ["-m", "ruff", "check"]
    assert str(entry.model_dir) in calls[0]
    run_checks(entry, runner=runner, cache_dir=tmp_path, root=ROOT)
    assert len(calls) == len(first)  # second time: cached, nothing ran


def test_failing_check_stops_with_its_output(tmp_path):
    config = load_config(ROOT)
    entry = config.entry(config.model_names[0], "pr")

    def runner(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "prep.py:3:1: F401 unused import", "")

    with pytest.raises(BuildFailed, match="(?s)lint failed.*F401 unused import"):
        run_checks(entry, runner=runner, cache_dir=tmp_path, root=ROOT)
    assert not list(tmp_path.glob("*.json"))  # a failure is never cached


def test_a_failing_model_is_reported_and_the_others_still_build(config, tmp_path):
    from mlops.errors import FactoryError

    class Flaky(FakePlatform):
        def run_pipeline(self, entry, names, *, wait=True):
            if entry.model == config.model_names[0]:
                raise FactoryError("data asset x is not registered; run `nox -s register_data`")
            return super().run_pipeline(entry, names, wait=wait)

    platform = Flaky()
    with pytest.raises(BuildFailed, match="not registered"):
        pr_build(config, config.model_names, platform=platform)
    first, second = config.model_names[:2]
    assert json.loads((tmp_path / "reports" / f"{first}_pr.json").read_text())["status"] == \
        "failed"
    assert json.loads((tmp_path / "reports" / f"{second}_pr.json").read_text())["status"] == \
        "passed"


def fresh(tmp_path, monkeypatch):
    """The real config; reports and the lint/test cache under tmp_path (nothing cached)."""
    monkeypatch.setenv("FACTORY_ROOT", str(tmp_path))
    monkeypatch.setattr(build, "state_dir", lambda root=None: tmp_path / ".factory")
    return load_config(ROOT)


class SlowPlatform(FakePlatform):
    """Records when each pipeline ran (it takes a moment, as a real one does)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.spans: dict[str, tuple[float, float]] = {}

    def run_pipeline(self, entry, names, *, wait=True):
        import time

        started = time.monotonic()
        time.sleep(0.5)
        result = super().run_pipeline(entry, names, wait=wait)
        self.spans[f"{entry.model}.pipeline"] = (started, time.monotonic())
        return result


def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_checks_run_concurrently_with_the_pipeline_and_models_with_each_other(tmp_path,
                                                                              monkeypatch):
    import time

    config = fresh(tmp_path, monkeypatch)
    platform = SlowPlatform()

    def runner(cmd, **kwargs):
        started = time.monotonic()
        time.sleep(0.5)
        model = next(m for m in config.model_names if m in " ".join(cmd))
        platform.spans[f"{model}.{cmd[2]}.{started}"] = (started, time.monotonic())
        return subprocess.CompletedProcess(cmd, 0, "ok", "")

    reports = pr_build(config, config.model_names, platform=platform, runner=runner)
    assert [r.status for r in reports] == ["passed"] * len(config.model_names)
    first, second = config.model_names[:2]
    pipeline = platform.spans[f"{first}.pipeline"]
    checks = [span for name, span in platform.spans.items()
              if name.startswith((f"{first}.ruff.", f"{first}.pytest."))]
    assert len(checks) == 2
    assert checks and any(overlaps(pipeline, span) for span in checks)
    assert overlaps(pipeline, platform.spans[f"{second}.pipeline"])


def test_a_failing_check_fails_the_build_naming_it_while_the_pipeline_still_reports(tmp_path,
                                                                                   monkeypatch):
    config = fresh(tmp_path, monkeypatch)
    model = config.model_names[0]

    def runner(cmd, **kwargs):
        code = 1 if "ruff" in cmd else 0
        return subprocess.CompletedProcess(cmd, code, "prep.py:3:1: F401 unused import", "")

    platform = FakePlatform()
    with pytest.raises(BuildFailed, match=f"(?s){model}: lint failed.*F401"):
        pr_build(config, [model], platform=platform, runner=runner)
    report = json.loads((tmp_path / "reports" / f"{model}_pr.json").read_text())
    assert report["status"] == "failed" and report["error"].startswith(f"{model}: lint failed")
    assert report["checks"] == [{"name": "lint", "status": "failed", "seconds": 0.0}]
    assert report["metrics"]["r2"] == 0.93  # the pipeline ran alongside and is reported too
    assert platform.calls == [("data", model), ("run", model, "pr", True)]


def test_when_both_fail_the_report_names_both(tmp_path, monkeypatch):
    from mlops.errors import FactoryError

    config = fresh(tmp_path, monkeypatch)
    model = config.model_names[0]

    class Broken(FakePlatform):
        def run_pipeline(self, entry, names, *, wait=True):
            raise FactoryError("step 'train' failed after 1.0s")

    def runner(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 2 if "pytest" in cmd else 0, "1 failed", "")

    with pytest.raises(BuildFailed) as caught:
        pr_build(config, [model], platform=Broken(), runner=runner)
    assert "tests failed" in str(caught.value) and "step 'train' failed" in str(caught.value)


def test_checks_start_before_the_workspace_is_provisioned(tmp_path, monkeypatch):
    """Lint and unit tests need no workspace: they start first, and run while it is checked
    and provisioned (synth, plan, apply: seconds, minutes on Azure)."""
    import time

    from mlops import platform as platforms

    config = fresh(tmp_path, monkeypatch)
    model = config.model_names[0]
    seen: dict[str, float] = {}

    def provisioned(target, config):
        seen["provisioning"] = time.monotonic()
        time.sleep(0.5)
        seen["provisioned"] = time.monotonic()
        return FakePlatform()

    def runner(cmd, **kwargs):
        seen.setdefault("first check", time.monotonic())
        return subprocess.CompletedProcess(cmd, 0, "ok", "")

    monkeypatch.setattr(platforms, "get_platform", provisioned)
    monkeypatch.setattr(build, "_warm_up", lambda *args: None)
    pr_build(config, [model], runner=runner)
    assert seen["first check"] < seen["provisioned"]


def test_a_failed_provisioning_stops_the_checks_already_running(tmp_path, monkeypatch):
    """The checks run as real processes: provisioning fails, the build fails with its error
    and leaves no check running behind it."""
    import sys
    import time

    from mlops import platform as platforms
    from mlops.errors import FactoryError
    from mlops.procinfo import start_time

    config = fresh(tmp_path, monkeypatch)
    model = config.model_names[0]
    pid_file = tmp_path / "check.pid"
    sleeper = [sys.executable, "-c", "import os, sys, time; open(sys.argv[1], 'w')"
               ".write(str(os.getpid())); time.sleep(120)", str(pid_file)]

    def failing(target, config):
        deadline = time.monotonic() + 30
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        raise FactoryError("provision local: terraform apply failed")

    monkeypatch.setattr(build, "check_commands", lambda entry: [("tests", sleeper)])
    monkeypatch.setattr(platforms, "get_platform", failing)
    monkeypatch.setattr(build, "_warm_up", lambda *args: None)
    started = time.monotonic()
    with pytest.raises(FactoryError, match="terraform apply failed"):
        pr_build(config, [model])
    assert time.monotonic() - started < 30
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while start_time(pid) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert start_time(pid) is None, "the check outlived its failed build"


def test_a_build_registers_its_data_while_the_checks_run_and_before_the_pipeline(tmp_path,
                                                                                   monkeypatch):
    """pr_build registers the model's data itself (no register_data session before it): the
    unit tests do not wait for it, the pipeline does."""
    import time

    config = fresh(tmp_path, monkeypatch)
    model = config.model_names[0]
    seen: dict[str, float] = {}

    class Registering(FakePlatform):
        def register_data(self, entry):
            seen["registering"] = time.monotonic()
            time.sleep(0.5)
            seen["registered"] = time.monotonic()
            return super().register_data(entry)

        def run_pipeline(self, entry, names, *, wait=True):
            seen["pipeline"] = time.monotonic()
            return super().run_pipeline(entry, names, wait=wait)

    def runner(cmd, **kwargs):
        seen.setdefault("first check", time.monotonic())
        return subprocess.CompletedProcess(cmd, 0, "ok", "")

    platform = Registering()
    pr_build(config, [model], platform=platform, runner=runner)
    assert seen["first check"] < seen["registered"] <= seen["pipeline"]
    assert platform.calls == [("data", model), ("run", model, "pr", True)]


def test_data_that_fails_to_register_fails_its_model_only_and_runs_no_pipeline(tmp_path,
                                                                                monkeypatch):
    from mlops.errors import FactoryError

    config = fresh(tmp_path, monkeypatch)
    first, second = config.model_names[:2]

    class Typo(FakePlatform):
        def register_data(self, entry):
            if entry.model == first:
                raise FactoryError(f"{entry.model}: DATA_PATH 'dta/' does not exist")
            return super().register_data(entry)

    platform = Typo()
    with pytest.raises(BuildFailed, match=f"(?s)ci_build failed for {first}:.*DATA_PATH 'dta/'"):
        ci_build(config, [first, second], platform=platform, deploy=False)
    assert ("run", first, "dev", True) not in platform.calls
    assert ("run", second, "dev", True) in platform.calls
    report = json.loads((tmp_path / "reports" / f"{first}_dev.json").read_text())
    assert report["status"] == "failed" and "DATA_PATH 'dta/'" in report["error"]
