"""The real checkov over freshly synthesised Azure stacks: they pass with every suppression
used and justified, and a weakened stack fails naming the check and the resource."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mlops import _environment, iac_scan

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checkov() -> Path:
    return _environment.ensure(_environment.CHECKOV).parent / "checkov"


@pytest.fixture(scope="module")
def stacks(azure_stacks) -> list[Path]:
    assert sorted(p.name for p in azure_stacks.iterdir()) == sorted(iac_scan.AZURE_STACKS)
    return [azure_stacks / name / "cdk.tf.json" for name in iac_scan.AZURE_STACKS]


def test_azure_stacks_pass_checkov_with_justified_suppressions(stacks, checkov):
    report = iac_scan.scan(stacks, REPO, checkov=checkov, log=lambda _: None)
    open_, suppressed, unused = report.triage()
    assert open_ == [], "\n".join(report.lines())
    assert report.secrets == []
    assert report.passed > 20
    assert unused == [], "stale suppressions: remove them from mlops/iac_scan.py"
    assert {f.logical_name for f, _ in suppressed} <= {
        "container_registry", "key_vault", "ml_workspace", "storage_account"}
    assert "terraform/modules/azure_devops" in report.scanned
    assert report.ok


def test_a_weakened_stack_fails_naming_check_and_resource(stacks, checkov, tmp_path):
    document = json.loads(stacks[0].read_text())
    document["resource"]["azurerm_container_registry"]["container_registry"]["admin_enabled"] = True
    storage = document["resource"]["azurerm_storage_account"]["storage_account"]
    storage["min_tls_version"] = "TLS1_0"
    weakened = tmp_path / "azureml" / "cdk.tf.json"
    weakened.parent.mkdir()
    weakened.write_text(json.dumps(document))
    report = iac_scan.scan([weakened], REPO, checkov=checkov, pipelines=False,
                           log=lambda _: None)
    failed = {(f.check_id, f.logical_name) for f in report.triage()[0]}
    assert ("CKV_AZURE_137", "container_registry") in failed  # admin user enabled
    assert ("CKV_AZURE_44", "storage_account") in failed  # TLS below 1.2
    assert not report.ok
    assert any(line.startswith("  FAILED CKV_AZURE_137") for line in report.lines())


def test_azure_devops_module_is_terraform_formatted():
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform not on PATH")
    module = REPO / iac_scan.MODULE_DIRS[0]
    result = subprocess.run([terraform, "fmt", "-check", "-diff", "-no-color", str(module)],
                            capture_output=True, text=True, env=_environment.tool_environment(),
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
