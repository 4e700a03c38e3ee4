"""The committed CI YAML is exactly what config generates, and it passes actionlint and checkov."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops._environment import tool_environment
from mlops.cicd import _actionlint, _checkov, generate
from mlops.cicd.definitions import (
    AZURE_SETUP_TEMPLATE,
    GITHUB_SETUP_ACTION,
    pipeline_definitions,
)
from mlops.config import load_config

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _committed(relative: str) -> str | None:
    path = REPO / relative
    return path.read_text(encoding="utf-8") if path.exists() else None


def test_committed_files_equal_a_fresh_generation(config_root):
    """Regenerate through the real command into a copy of config/ and compare with the repo."""
    env = tool_environment({**os.environ, "FACTORY_ROOT": str(config_root)})
    proc = subprocess.run([sys.executable, "-m", "mlops", "pipelines"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    generated = {p.relative_to(config_root).as_posix(): p.read_text(encoding="utf-8")
                 for folder in generate.GENERATED_DIRS
                 for p in (config_root / folder).glob("*.yml")}
    # every pipeline on the systems it is for, plus the step template and the composite action
    definitions = pipeline_definitions(load_config(config_root))
    assert len(generated) == sum(len(d.systems) for d in definitions) + 2
    assert {AZURE_SETUP_TEMPLATE, GITHUB_SETUP_ACTION} <= set(generated)
    drifted = [rel for rel, text in generated.items() if _committed(rel) != text]
    assert not drifted, f"run `nox -s pipelines` and commit: {drifted} differ from config"
    assert generate.diff(load_config(REPO), REPO).clean  # and nothing stale in the repo


def test_actionlint_passes_the_workflows_and_catches_a_broken_one(tmp_path):
    workflows = sorted((REPO / generate.GITHUB_DIR).glob("*.yml"))
    assert len(workflows) == sum("github" in d.systems
                                 for d in pipeline_definitions(load_config(REPO)))
    findings = _actionlint.lint(workflows)
    assert findings == [], "\n".join(map(str, findings))

    broken = tmp_path / "broken.yml"
    text = (REPO / generate.GITHUB_DIR / "nyc_taxi_ci_dev_pipeline.yml").read_text()
    assert "needs: gate" in text and "steps.wait_1.outputs" in text
    broken.write_text(text.replace("needs: gate", "needs: gaet")
                      .replace("steps.wait_1.outputs", "steps.wait_0.outputs"))
    messages = [f.message for f in _actionlint.lint([broken])]
    assert any('"gaet"' in m for m in messages), messages
    assert any('"wait_0"' in m for m in messages), messages  # slice conditions are checked


def test_actionlint_sees_the_composite_actions_steps(tmp_path):
    """actionlint lints workflows, not action metadata, and this build cannot resolve local
    actions: the composite's steps are linted as a workflow job instead."""
    action = REPO / GITHUB_SETUP_ACTION
    findings = _actionlint.lint_composite(action)
    assert findings == [], "\n".join(map(str, findings))

    broken = tmp_path / "action.yml"
    broken.write_text(action.read_text().replace("shell: bash", "shell: bsh", 1)
                      .replace("run: nox -s check_config", "run: nox -s ${{ secretz.X }}"))
    kinds = {f.kind for f in _actionlint.lint_composite(broken)}
    assert {"shell-name", "expression"} <= kinds


def test_checkov_passes_both_sets_and_reads_them(tmp_path):
    files = {p.relative_to(REPO).as_posix(): p.read_text(encoding="utf-8")
             for folder in generate.GENERATED_DIRS for p in (REPO / folder).glob("*.yml")}
    result = _checkov.scan(files)
    assert result.failed == [], "\n".join(map(str, result.failed))
    assert result.skipped == []  # no suppressions needed; add them with reasons if that changes
    assert set(result.frameworks) == {"azure_pipelines", "github_actions"}
    assert result.passed > 0

    # The same scan flags an insecure pipeline on each system, so a clean result means something.
    bad = dict(files)
    bad[".azure-pipelines/bad_pipeline.yml"] = (
        "jobs:\n  - job: x\n    container: ubuntu:latest\n    steps:\n      - bash: echo hi\n")
    bad[".github/workflows/bad.yml"] = (
        "on: push\npermissions: write-all\njobs:\n  x:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo \"${{ github.event.issue.title }}\"\n")
    flagged = {(f.file, f.check_id) for f in _checkov.scan(bad).failed}
    assert (".azure-pipelines/bad_pipeline.yml", "CKV_AZUREPIPELINES_1") in flagged
    assert {(".github/workflows/bad.yml", "CKV_GHA_2"),
            (".github/workflows/bad.yml", "CKV2_GHA_1")} <= flagged
