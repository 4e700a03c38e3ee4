"""The provisioning boundary, end to end with the real session entry points: on --target azure
the model sessions read the workspace from Terraform outputs and never plan or apply; synth
without a subscription stops before Terraform, naming ARM_SUBSCRIPTION_ID.

A recording fake `terraform` is first on PATH: it appends each command line to a file and
answers `version`, `init` and `output -json` as Terraform would (the outputs of a provisioned
azureml stack); anything else fails. Azure itself is unreachable: a sitecustomize refuses every
connection and name lookup that is not loopback, so the sessions fail later for lack of Azure,
which is expected and beside the point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
FAKE_TERRAFORM = """#!{python}
import json, os, sys
with open(os.environ["FAKE_TF_RECORD"], "a") as record:
    record.write(json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd()}}) + "\\n")
command = sys.argv[1] if len(sys.argv) > 1 else ""
if command == "version":
    print(json.dumps({{"terraform_version": "1.11.4"}}))
elif command == "init":
    print("Terraform has been successfully initialized!")
elif command == "output":
    print(open(os.environ["FAKE_TF_OUTPUTS"]).read())
else:
    sys.stderr.write("fake terraform: refusing " + command + "\\n")
    sys.exit(1)
"""

# Loaded by every Python process of the test (PYTHONPATH): nothing leaves this machine.
NO_NETWORK = """
import ipaddress, socket

def _local(host):
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return host in ("localhost",)

_connect, _getaddrinfo = socket.socket.connect, socket.getaddrinfo

def connect(self, address):
    host = address[0] if isinstance(address, tuple) else None
    if host is not None and not _local(host):
        raise ConnectionRefusedError(f"test: no network to {host}")
    return _connect(self, address)

def getaddrinfo(host, *args, **kwargs):
    if host is not None and not _local(host):
        raise socket.gaierror(f"test: no name lookup for {host}")
    return _getaddrinfo(host, *args, **kwargs)

socket.socket.connect = connect
socket.getaddrinfo = getaddrinfo
"""


@pytest.fixture
def fake_terraform(tmp_path, azure_workspace_output):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    terraform = bin_dir / "terraform"
    terraform.write_text(FAKE_TERRAFORM.format(python=sys.executable))
    terraform.chmod(0o755)
    az = bin_dir / "az"  # the Azure CLI credential finds no login
    az.write_text("#!/bin/sh\necho 'Please run az login' >&2\nexit 1\n")
    az.chmod(0o755)
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(NO_NETWORK)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"workspace": {"sensitive": False,
                                                 "value": azure_workspace_output}}))
    record = tmp_path / "terraform.calls"
    record.touch()
    return bin_dir, guard, outputs, record


def _env(config_root: Path, fake, **extra: str) -> dict[str, str]:
    bin_dir, guard, outputs, record = fake
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ARM_", "AZDO_", "AZURE_")) and k not in (
               "servicePrincipalId", "tenantId", "idToken")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", FACTORY_ROOT=str(config_root),
               PYTHONPATH=str(guard), FAKE_TF_RECORD=str(record), FAKE_TF_OUTPUTS=str(outputs),
               AZURE_CONFIG_DIR=str(config_root / ".no-azure-login"), **extra)
    return env


def _calls(record: Path) -> list[list[str]]:
    return [json.loads(line)["argv"] for line in record.read_text().splitlines()]


@pytest.mark.parametrize("command", [
    ["register-data", "nyc_taxi"], ["pr-build", "nyc_taxi"], ["ci-build", "nyc_taxi"],
    ["deploy", "nyc_taxi"]])
def test_azure_model_sessions_never_plan_or_apply(config_root, fake_terraform, command):
    record = fake_terraform[3]
    result = subprocess.run([sys.executable, "-m", "mlops", *command, "--target", "azure"],
                            env=_env(config_root, fake_terraform, ARM_SUBSCRIPTION_ID=SUBSCRIPTION),
                            capture_output=True, text=True, timeout=300)
    calls = _calls(record)
    verbs = [c[0] for c in calls]
    assert verbs, f"the session never asked Terraform for the workspace:\n{result.stderr}"
    assert "output" in verbs, result.stderr  # the workspace came from the outputs ...
    assert not {"plan", "apply", "destroy", "import"} & set(verbs), calls  # ... and only that
    # The folder Terraform ran in is the backend-only reader, not a synthesised stack.
    cwds = {json.loads(line)["cwd"] for line in record.read_text().splitlines()}
    assert cwds == {str(config_root / ".factory" / "outputs" / "azureml")}
    assert not (config_root / ".factory" / "cdktf.out").exists()  # no synth either


def test_azure_model_session_without_a_workspace_says_run_the_infrastructure_pipeline(
        config_root, fake_terraform):
    outputs, record = fake_terraform[2], fake_terraform[3]
    outputs.write_text("{}")  # an empty state: never provisioned
    result = subprocess.run([sys.executable, "-m", "mlops", "deploy", "nyc_taxi", "--target",
                             "azure"],
                            env=_env(config_root, fake_terraform, ARM_SUBSCRIPTION_ID=SUBSCRIPTION),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "not provisioned: run the infrastructure pipeline (nox -s provision -- --target " \
           "azure)" in result.stderr
    assert not {"plan", "apply"} & {c[0] for c in _calls(record)}


def test_synth_without_a_subscription_stops_before_terraform(config_root, fake_terraform):
    record = fake_terraform[3]
    result = subprocess.run([sys.executable, "-m", "mlops", "synth", "--target", "azure"],
                            env=_env(config_root, fake_terraform), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1
    assert "ARM_SUBSCRIPTION_ID is not set" in result.stderr
    assert "SUBSCRIPTION_ID in config/infra_config.json" in result.stderr
    assert _calls(record) == []
    assert not (config_root / ".factory" / "cdktf.out").exists()
