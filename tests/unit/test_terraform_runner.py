"""The Terraform runner's command lines, exit-code handling, diagnostics and progress, checked
with an injected process runner (no Terraform binary)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops.terraform import (
    CommandResult,
    Terraform,
    TerraformError,
    TerraformLockError,
    TerraformTimeout,
)
from mlops.terraform.errors import parse_text_diagnostics
from mlops.terraform.progress import EventPrinter


class FakeRun:
    """Records each call; answers with queued results (default: exit 0, no output)."""

    def __init__(self, *results: CommandResult, lines: list[str] = ()):
        self.calls: list[dict] = []
        self.results = list(results)
        self.lines = list(lines)

    def __call__(self, argv, *, cwd, env, on_line=None, timeout=None):
        self.calls.append({"argv": list(argv), "cwd": cwd, "env": dict(env), "timeout": timeout})
        if on_line:
            for line in self.lines:
                on_line(line)
        return self.results.pop(0) if self.results else CommandResult(0)

    @property
    def argv(self) -> list[str]:
        return self.calls[-1]["argv"]


def make(run: FakeRun, tmp_path: Path, **kwargs) -> tuple[Terraform, list[str]]:
    printed: list[str] = []
    tf = Terraform(tmp_path, env={"PATH": "/bin"}, data_dir=tmp_path / "data", run=run,
                   progress=printed.append, **kwargs)
    return tf, printed


def _event(kind: str, **fields) -> str:
    return json.dumps({"type": kind, **fields})


def _hook(addr: str, action: str = "", **extra) -> dict:
    return {"resource": {"addr": addr}, "action": action, **extra}


def test_init_command_line_and_environment(tmp_path):
    run = FakeRun()
    tf, _ = make(run, tmp_path, lock_timeout="5s")
    tf.init(["backends/dev.azurerm.hcl"], reconfigure=True, timeout=30)
    assert run.argv == ["terraform", "init", "-no-color", "-input=false", "-lock-timeout=5s",
                        "-backend-config=backends/dev.azurerm.hcl", "-reconfigure"]
    call = run.calls[0]
    assert call["cwd"] == tmp_path and call["timeout"] == 30
    assert call["env"]["TF_DATA_DIR"] == str(tmp_path / "data")
    assert call["env"]["TF_IN_AUTOMATION"] == "1"


def test_init_without_backend(tmp_path):
    run = FakeRun()
    make(run, tmp_path)[0].init(backend=False)
    assert "-backend=false" in run.argv


@pytest.mark.parametrize(("code", "changes"), [(0, False), (2, True)])
def test_plan_detailed_exitcode(tmp_path, code, changes):
    run = FakeRun(CommandResult(code))
    tf, _ = make(run, tmp_path)
    assert tf.plan(tmp_path / "x.tfplan") is changes
    assert run.argv == ["terraform", "plan", "-no-color", "-input=false", "-json",
                        "-detailed-exitcode", "-lock-timeout=60s", f"-out={tmp_path / 'x.tfplan'}"]


def test_plan_exit_1_raises_with_json_diagnostic_and_command(tmp_path):
    diag = _event("diagnostic", diagnostic={"severity": "error", "summary": "Invalid expression",
                                            "detail": "A single static variable reference"})
    run = FakeRun(CommandResult(1, stdout=diag + "\n"))
    tf, _ = make(run, tmp_path)
    with pytest.raises(TerraformError) as info:
        tf.plan(tmp_path / "x.tfplan", destroy=True)
    message = str(info.value)
    assert "terraform plan failed (exit 1)" in message
    assert "Invalid expression: A single static variable reference" in message
    assert "-destroy" in message and "command: terraform plan -no-color" in message
    assert info.value.command == run.argv


def test_apply_takes_only_a_saved_plan(tmp_path):
    run = FakeRun()
    tf, _ = make(run, tmp_path)
    tf.apply(tmp_path / "local.tfplan")
    assert run.argv == ["terraform", "apply", "-no-color", "-input=false", "-json",
                        "-lock-timeout=60s", str(tmp_path / "local.tfplan")]
    assert "-auto-approve" not in run.argv


def test_show_output_destroy_validate(tmp_path):
    outputs = {"workspace": {"sensitive": False, "value": {"name": "w"}},
               "key": {"sensitive": True, "value": "s3cret"}}
    run = FakeRun(CommandResult(0, stdout='{"format_version": "1.2"}'),
                  CommandResult(0, stdout=json.dumps(outputs)),
                  CommandResult(0),
                  CommandResult(0, stdout='{"valid": true, "diagnostics": []}'))
    tf, _ = make(run, tmp_path)
    assert tf.show_plan(Path("p.tfplan")) == {"format_version": "1.2"}
    assert run.argv == ["terraform", "show", "-no-color", "-json", "p.tfplan"]
    assert tf.output(state=Path("/s/local.tfstate")) == {"workspace": {"name": "w"},
                                                         "key": "s3cret"}
    assert run.argv == ["terraform", "output", "-no-color", "-json", "-state=/s/local.tfstate"]
    tf.destroy()
    assert run.argv == ["terraform", "destroy", "-no-color", "-input=false", "-json",
                        "-auto-approve", "-lock-timeout=60s"]
    assert tf.validate()["valid"] is True
    assert run.argv == ["terraform", "validate", "-no-color", "-json"]


def test_validate_invalid_raises_its_diagnostics(tmp_path):
    report = {"valid": False, "diagnostics": [
        {"severity": "error", "summary": "Missing required argument", "detail": "name"}]}
    run = FakeRun(CommandResult(1, stdout=json.dumps(report)))
    with pytest.raises(TerraformError, match="Missing required argument: name"):
        make(run, tmp_path)[0].validate()


@pytest.mark.parametrize(("version", "ok"), [("1.11.4", True), ("1.6.0", True), ("1.5.7", False)])
def test_version_check(tmp_path, version, ok):
    run = FakeRun(CommandResult(0, stdout=json.dumps({"terraform_version": version})))
    tf, _ = make(run, tmp_path)
    if ok:
        assert tf.check_version() == version
    else:
        with pytest.raises(TerraformError, match=r"Terraform 1.5.7 is too old.*>= 1.6.0"):
            tf.check_version()
    assert run.calls[0]["argv"] == ["terraform", "version", "-json"]


LOCK_TEXT = """
Error: Error acquiring the state lock

Error message: resource temporarily unavailable
Lock Info:
  ID:        1b2c
  Operation: OperationTypeApply
"""


def test_lock_error_from_text_diagnostics(tmp_path):
    run = FakeRun(CommandResult(1, stderr=LOCK_TEXT))
    tf, _ = make(run, tmp_path, lock_timeout="0s")
    with pytest.raises(TerraformLockError) as info:
        tf.init()
    assert "Error acquiring the state lock" in str(info.value)
    assert "another Terraform run holds the state lock (waited 0s)" in str(info.value)


def test_timeout_is_reported(tmp_path):
    run = FakeRun(CommandResult(-9, timed_out=True))
    with pytest.raises(TerraformTimeout, match="no answer within 3 s"):
        make(run, tmp_path)[0].init(timeout=3)


def test_boxed_text_diagnostics_are_parsed():
    text = ("╷\n│ Error: Failed to query available provider packages\n│ \n"
            "│ Could not retrieve the list of available versions\n│ for provider azurerm\n╵\n"
            "╷\n│ Warning: Unable to open CLI configuration file\n╵\n")
    diags = parse_text_diagnostics(text)
    assert [(d.severity, d.summary) for d in diags] == [
        ("error", "Failed to query available provider packages"),
        ("warning", "Unable to open CLI configuration file")]
    assert diags[0].detail == ("Could not retrieve the list of available versions for provider "
                               "azurerm")


def test_apply_events_become_one_line_per_resource(tmp_path):
    addr = "terraform_data.compute_cluster"
    lines = [
        _event("version", terraform="1.11.4"),
        _event("planned_change", change={"resource": {"addr": addr}, "action": "create"}),
        _event("apply_start", hook=_hook(addr, "create")),
        _event("provision_progress", hook=_hook(addr, output="Executing: [\"python\"]")),
        _event("provision_progress", hook=_hook(addr, output="cluster cpu-cluster ready")),
        _event("apply_complete", hook=_hook(addr, "create", elapsed_seconds=0)),
        _event("change_summary", **{"@message": "Apply complete! Resources: 1 added."}),
    ]
    run = FakeRun(lines=lines)
    tf, printed = make(run, tmp_path)
    tf.apply(Path("p.tfplan"))
    assert printed[0] == f"  {addr}: creating..."
    assert printed[1] == f"  {addr}:   cluster cpu-cluster ready"
    assert printed[2].startswith(f"  {addr}: created (") and printed[2].endswith("s)")
    assert printed[3] == "  Apply complete! Resources: 1 added."
    assert len(printed) == 4  # no replayed plan events, no "Executing" echo


def test_plan_events_list_planned_changes():
    printed: list[str] = []
    printer = EventPrinter(printed.append)
    printer.handle(_event("planned_change", change={"resource": {"addr": "a.b"},
                                                    "action": "replace"}))
    printer.handle("not json")
    assert printed == ["  a.b: will be replaced", "  not json"]


def test_missing_binary_is_a_clear_error(tmp_path):
    from mlops.terraform import subprocess_runner

    with pytest.raises(TerraformError, match="no-such-terraform not found on PATH"):
        subprocess_runner(["no-such-terraform", "version"], cwd=tmp_path, env={"PATH": ""})


def test_subprocess_runner_streams_lines_and_times_out(tmp_path):
    import sys

    from mlops.terraform import subprocess_runner

    seen: list[str] = []
    result = subprocess_runner([sys.executable, "-c", "print('a'); print('b')"], cwd=tmp_path,
                               env={}, on_line=seen.append)
    assert (result.returncode, seen) == (0, ["a", "b"])
    slow = subprocess_runner([sys.executable, "-c", "import time; time.sleep(30)"],
                             cwd=tmp_path, env={}, timeout=0.5)
    assert slow.timed_out and slow.returncode != 0


def test_plan_replace_addresses(tmp_path):
    run = FakeRun(CommandResult(2))
    tf, _ = make(run, tmp_path)
    tf.plan(tmp_path / "x.tfplan", replace=["terraform_data.mlflow_store", "terraform_data.a"])
    assert run.argv[-2:] == ["-replace=terraform_data.mlflow_store", "-replace=terraform_data.a"]
