"""iac_scan without the checkov binary: command line, report parsing, suppressions, failures."""

from __future__ import annotations

import json
import subprocess
from argparse import Namespace
from pathlib import Path

import pytest

from mlops import iac_scan
from mlops.iac_scan import (
    SUPPRESSIONS,
    Finding,
    IacScanError,
    ScanReport,
    Suppression,
    checkov_command,
    parse_report,
    run_checkov,
)


def _check(check_id: str, resource: str) -> dict:
    return {"check_id": check_id, "check_name": f"name of {check_id}", "resource": resource,
            "file_path": "/stacks/azureml/cdk.tf.json"}


def _report(passed: int, failed: list[dict]) -> dict:
    return {"check_type": "terraform_json",
            "results": {"passed_checks": [{}] * passed, "failed_checks": failed,
                        "skipped_checks": []},
            "summary": {"passed": passed, "failed": len(failed)}}


class FakeRunner:
    def __init__(self, stdout: str = "", returncode: int = 0, stderr: str = ""):
        self.stdout, self.returncode, self.stderr = stdout, returncode, stderr
        self.calls: list[tuple[list[str], dict]] = []

    def __call__(self, cmd, **kwargs):
        self.calls.append((cmd, kwargs))
        return subprocess.CompletedProcess(cmd, self.returncode, self.stdout, self.stderr)


def test_command_line_scans_files_and_dirs_offline_with_json_output():
    cmd = checkov_command(Path("/env/bin/checkov"), [Path("a/cdk.tf.json"), Path("b/cdk.tf.json")],
                          [Path("terraform/modules/x")], ("terraform_json", "terraform"))
    assert cmd == ["/env/bin/checkov", "-f", "a/cdk.tf.json", "-f", "b/cdk.tf.json",
                   "-d", "terraform/modules/x", "--framework", "terraform_json", "terraform",
                   "--output", "json", "--compact", "--quiet", "--soft-fail", "--skip-download"]


def test_parse_report_reads_a_list_of_reports_and_skips_placeholders():
    stdout = json.dumps([_report(3, [_check("CKV_AZURE_1", "resource.key_vault")]),
                         {"passed": 0, "failed": 0}])  # checkov's empty placeholder
    passed, findings = parse_report(stdout)
    assert passed == 3
    assert findings == [Finding("CKV_AZURE_1", "name of CKV_AZURE_1", "resource.key_vault",
                                "/stacks/azureml/cdk.tf.json")]
    assert findings[0].logical_name == "key_vault"
    assert parse_report(json.dumps(_report(1, []))) == (1, [])


def test_parse_report_rejects_non_json():
    with pytest.raises(IacScanError, match="no JSON report"):
        parse_report("Traceback ...")


def test_suppression_matches_check_and_resource_only():
    suppression = Suppression("CKV_AZURE_139", "container_registry", "because")
    report = ScanReport(findings=[
        Finding("CKV_AZURE_139", "n", "resource.container_registry", "f"),
        Finding("CKV_AZURE_139", "n", "azurerm_container_registry.other_registry", "f"),
        Finding("CKV_AZURE_137", "n", "resource.container_registry", "f")],
        suppressions=[suppression, Suppression("CKV_AZURE_1", "gone", "stale")])
    open_, suppressed, unused = report.triage()
    assert [(f.check_id, f.logical_name) for f in open_] == [
        ("CKV_AZURE_139", "other_registry"), ("CKV_AZURE_137", "container_registry")]
    assert suppressed == [(report.findings[0], suppression)]
    assert [s.resource for s in unused] == ["gone"]
    assert not report.ok
    text = "\n".join(report.lines())
    assert "suppressed CKV_AZURE_139 on container_registry: because" in text
    assert "FAILED CKV_AZURE_137 resource.container_registry" in text
    assert "suppression CKV_AZURE_1 on gone matched nothing" in text


def test_only_suppressed_findings_pass_and_secrets_fail():
    report = ScanReport(passed=5, findings=[
        Finding("CKV_AZURE_139", "n", "resource.container_registry", "f")])
    assert report.ok
    report.secrets.append("azureml: output.x: references a.b.instrumentation_key")
    assert not report.ok


def test_every_suppression_has_a_reason_and_is_unique():
    keys = [(s.check_id, s.resource) for s in SUPPRESSIONS]
    assert len(keys) == len(set(keys))
    assert all(len(s.reason) > 40 for s in SUPPRESSIONS)


def test_run_checkov_passes_tool_environment_and_no_network():
    runner = FakeRunner(json.dumps(_report(2, [])))
    assert run_checkov([Path("s.json")], [], ("terraform_json",), checkov=Path("ck"),
                       runner=runner) == (2, [])
    cmd, kwargs = runner.calls[0]
    assert cmd[0] == "ck" and "--skip-download" in cmd
    assert kwargs["env"]["BC_SKIP_MAPPING"] == "TRUE"
    assert "TF_CLI_CONFIG_FILE" in kwargs["env"]


def test_run_checkov_failure_carries_command_and_stderr():
    runner = FakeRunner(returncode=2, stderr="line1\nboom: bad framework")
    with pytest.raises(IacScanError) as info:
        run_checkov([Path("s.json")], [], ("terraform_json",), checkov=Path("ck"), runner=runner)
    assert "exit 2" in str(info.value) and "boom: bad framework" in str(info.value)
    assert "ck -f s.json" in str(info.value)


def test_run_checkov_missing_binary_is_a_clear_error(tmp_path):
    with pytest.raises(IacScanError, match="checkov could not run"):
        run_checkov([], [], ("terraform_json",), checkov=tmp_path / "no-checkov")


def test_scan_collects_stack_findings_and_secrets(tmp_path):
    stack = tmp_path / "stacks" / "azureml" / "cdk.tf.json"
    stack.parent.mkdir(parents=True)
    stack.write_text(json.dumps({"output": {"k": {
        "value": "${azurerm_storage_account.s.primary_access_key}"}}}))
    runner = FakeRunner(json.dumps(_report(4, [_check("CKV_AZURE_137", "resource.registry")])))
    report = iac_scan.scan([stack], tmp_path, runner=runner, checkov=Path("ck"),
                           pipelines=False, log=lambda _: None)
    assert report.passed == 4
    assert [f.check_id for f in report.triage()[0]] == ["CKV_AZURE_137"]
    assert report.secrets == [
        "azureml: output.k.value: references azurerm_storage_account.s.primary_access_key"]
    assert report.scanned == ["azureml"]


def test_command_fails_on_an_unsuppressed_finding(monkeypatch, capsys, tmp_path):
    import mlops.infra
    from mlops.commands import iac_scan as command

    stack = tmp_path / "cdk.tf.json"
    stack.write_text("{}")

    class Result:
        stacks = [type("S", (), {"name": "azureml", "path": stack})()]

        def lines(self):
            return ["synth azure: 1 stack(s)"]

    targets = []
    monkeypatch.setattr(mlops.infra, "synth",
                        lambda config, target, **kw: targets.append(target) or Result())
    found = ScanReport(passed=1, findings=[Finding("CKV_AZURE_137", "admin", "resource.r", "f")])
    monkeypatch.setattr(iac_scan, "scan", lambda *a, **k: found)
    config = type("C", (), {"root": tmp_path})()
    assert command.run(Namespace(target="local"), config) == 1
    assert targets == ["azure"]  # always the Azure stacks
    assert "FAILED CKV_AZURE_137" in capsys.readouterr().out
    monkeypatch.setattr(iac_scan, "scan", lambda *a, **k: ScanReport(passed=1))
    assert command.run(Namespace(target="azure"), config) == 0
    assert "iac-scan: passed" in capsys.readouterr().out
