"""The shared environment scheme: built once, reused while pyproject.toml is unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops import _environment as envs


def _spec(tmp_path: Path, monkeypatch) -> envs.EnvSpec:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[project]\nname='x'\n")
    monkeypatch.setattr(envs, "ENVS_DIR", tmp_path / ".nox")
    return envs.EnvSpec("_demo", ("demo==1",), (pyproject,))


def test_stamp_decides_whether_the_environment_is_current(tmp_path, monkeypatch):
    spec = _spec(tmp_path, monkeypatch)
    assert not envs.is_current(spec)
    spec.python.parent.mkdir(parents=True)
    spec.python.write_text("")
    (spec.path / envs.STAMP).write_text(json.dumps({"fingerprint": spec.fingerprint()}))
    assert envs.is_current(spec)
    (tmp_path / "pyproject.toml").write_text("[project]\nname='y'\n")  # dependencies changed
    assert not envs.is_current(spec)


def test_ensure_skips_all_work_when_current(tmp_path, monkeypatch):
    spec = _spec(tmp_path, monkeypatch)
    spec.python.parent.mkdir(parents=True)
    spec.python.write_text("")
    (spec.path / envs.STAMP).write_text(json.dumps({"fingerprint": spec.fingerprint()}))
    monkeypatch.setattr(envs, "_run", lambda *a: (_ for _ in ()).throw(AssertionError("ran")))
    assert envs.ensure(spec, log=lambda _: None) == spec.python


def test_failed_build_is_reported_and_not_stamped(tmp_path, monkeypatch):
    spec = _spec(tmp_path, monkeypatch)
    spec.path.mkdir(parents=True)
    monkeypatch.setattr(envs, "_uv", lambda: None)
    calls = []

    def fake_run(cmd, step, env=None):
        calls.append(step)
        if step == "installing dependencies":
            raise envs.EnvBuildError(f"{step} failed")

    monkeypatch.setattr(envs, "_run", fake_run)
    with pytest.raises(envs.EnvBuildError, match="installing dependencies failed"):
        envs.ensure(spec, log=lambda _: None)
    assert calls == ["creating the environment", "installing dependencies"]
    assert not (spec.path / envs.STAMP).exists()


def _recorded_build(tmp_path, monkeypatch, uv):
    spec = _spec(tmp_path, monkeypatch)
    spec.path.mkdir(parents=True)
    monkeypatch.setattr(envs, "_uv", lambda: uv)
    commands = []
    monkeypatch.setattr(envs, "_run", lambda cmd, step, env=None: commands.append(list(cmd)))
    envs.ensure(spec, log=lambda _: None)
    return commands


def test_uv_build_compiles_bytecode_at_install(tmp_path, monkeypatch):
    install = _recorded_build(tmp_path, monkeypatch, "/opt/uv")[1]
    assert install[:3] == ["/opt/uv", "pip", "install"]
    assert "--compile-bytecode" in install and install[-1] == "demo==1"


def test_pip_build_compiles_bytecode_at_install(tmp_path, monkeypatch):
    install = _recorded_build(tmp_path, monkeypatch, None)[1]
    assert install[1:4] == ["-m", "pip", "install"] and "--compile" in install


def test_a_new_build_recipe_makes_existing_environments_stale(tmp_path, monkeypatch):
    spec = _spec(tmp_path, monkeypatch)
    before = spec.fingerprint()
    monkeypatch.setattr(envs, "RECIPE", envs.RECIPE + 1)
    assert spec.fingerprint() != before


def test_the_shared_environment_holds_bytecode_for_heavy_imports():
    """Steps import sklearn and MLflow in fresh processes; without .pyc files each one
    re-compiles them (PYTHONDONTWRITEBYTECODE is set on these machines)."""
    import importlib.util
    import sys

    if not (Path(sys.prefix) / envs.STAMP).is_file():
        pytest.skip("not running inside a factory-built environment")
    for module in ("sklearn.base", "mlflow.tracking.client", "pandas.core.frame"):
        source = importlib.util.find_spec(module).origin
        assert Path(importlib.util.cache_from_source(source)).is_file(), module


def test_missing_prerequisites_say_what_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    missing = envs.missing_prerequisites()
    assert missing[0].startswith("terraform: not found on PATH; install Terraform")
    assert missing[1].startswith("node: not found on PATH; install Node.js")


def test_tool_environment_points_terraform_at_an_existing_cli_config(tmp_path, monkeypatch):
    monkeypatch.setattr(envs, "ENVS_DIR", tmp_path)
    env = envs.tool_environment({"TF_CLI_CONFIG_FILE": "/missing/.terraformrc"})
    assert Path(env["TF_CLI_CONFIG_FILE"]).is_file()
    assert "20" in env["JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"].split(",")


def test_environments_are_built_at_once_and_a_failure_is_named(tmp_path, monkeypatch):
    """The tests session builds three environments: concurrently, each still all or nothing."""
    import threading
    import time

    monkeypatch.setattr(envs, "ENVS_DIR", tmp_path / ".nox")
    monkeypatch.setattr(envs, "_uv", lambda: "uv")
    specs = [envs.EnvSpec(f"_e{i}", (f"demo{i}==1",)) for i in range(3)]
    running, peak, lock = set(), [0], threading.Lock()

    def fake_run(cmd, step, env=None):  # each command names its environment's folder
        name = next(s.name for s in specs if s.name in " ".join(map(str, cmd)))
        with lock:
            running.add(name)
            peak[0] = max(peak[0], len(running))
        time.sleep(0.2)
        with lock:
            running.discard(name)
        if step == "installing dependencies" and name == "_e2":
            raise envs.EnvBuildError(f"{name}: {step} failed")
        if step == "installing dependencies":
            python = envs.ENVS_DIR / name / "bin" / "python"
            python.parent.mkdir(parents=True, exist_ok=True)
            python.write_text("")

    monkeypatch.setattr(envs, "_run", fake_run)
    with pytest.raises(envs.EnvBuildError, match="_e2: installing dependencies failed"):
        envs.ensure_all(specs, log=lambda _: None)
    assert peak[0] == 3  # all three at once
    assert [envs.is_current(s) for s in specs] == [True, True, False]
    monkeypatch.setattr(envs, "_run", lambda *a, **k: (_ for _ in ()).throw(AssertionError()))
    assert envs.ensure_all(specs[:2], log=lambda _: None) == [s.python for s in specs[:2]]
