"""The local stack with the real Terraform binary in a throw-away factory root: provision
(surviving a kill -9 mid-apply), the no-op re-run, one config change re-provisioning exactly one
resource, stale plans, two provisions at once, destroy archiving, no secrets in outputs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlops._environment import tool_environment
from mlops.testkit.config_tree import copy_config_tree

pytestmark = [pytest.mark.integration, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("terraform") is None, reason="needs terraform")]

REPO = Path(__file__).resolve().parents[2]
SECRET = "sentinel-client-secret-7f3a"


def _copy_factory(root: Path) -> Path:
    return copy_config_tree(root, REPO)


def _env(root: Path, **extra: str) -> dict[str, str]:
    env = tool_environment()
    env.update(FACTORY_ROOT=str(root), FACTORY_TARGET="local", ARM_CLIENT_SECRET=SECRET,
               JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="18,20", **extra)
    env.pop("FACTORY_INFRA_ENV", None)
    return env


def factory(root: Path, *args: str, check: bool = True, **extra: str
            ) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "mlops", *args], cwd=REPO,
                            env=_env(root, **extra),
                            capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def _state(root: Path) -> dict:
    return json.loads((root / ".factory" / "state" / "local.tfstate").read_text())


def _set_infra(root: Path, **values) -> None:
    path = root / "config" / "infra_config.json"
    data = json.loads(path.read_text())
    data["dev"].update(values)
    path.write_text(json.dumps(data, indent=2))


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory):
    """A provisioned local workspace, reached the hard way: the first provision is killed with
    SIGKILL (process group: python + terraform + provisioners) while the MLflow store is being
    created; the re-run must converge."""
    root = _copy_factory(tmp_path_factory.mktemp("factory"))
    # no migrated schema to copy yet: the store is created by MLflow's migrations (seconds)
    schema = str(root / "mlflow-schema.db")
    proc = subprocess.Popen([sys.executable, "-m", "mlops", "provision"], cwd=REPO,
                            env=_env(root, FACTORY_MLFLOW_SCHEMA=schema),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "mlflow_store: creating..." in line:
            time.sleep(0.3)
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    killed_mid_apply = proc.returncode == -signal.SIGKILL
    rerun = factory(root, "provision", FACTORY_MLFLOW_SCHEMA=schema)
    return {"root": root, "killed_mid_apply": killed_mid_apply, "first": "".join(seen),
            "rerun": rerun.stdout}


def test_kill_9_mid_apply_then_rerun_converges(provisioned):
    root = provisioned["root"]
    assert provisioned["killed_mid_apply"], provisioned["first"]
    assert "provision local: done" in provisioned["rerun"]
    state = _state(root)
    assert sorted(r["name"] for r in state["resources"]) == [
        "batch_cluster", "compute_cluster", "data_store", "endpoint_registry", "mlflow_store"]
    ws = root / ".factory" / "workspace" / "mlw-mlops-mf-001"
    with sqlite3.connect(ws / "mlflow" / "mlflow.db") as db:
        tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
    assert {"experiments", "runs", "registered_models", "model_versions"} <= tables
    assert not list((ws / "mlflow").glob(".mlflow.db.*.tmp"))  # the killed run's temp is gone
    assert (ws / "compute" / "cpu-cluster.json").is_file()
    assert oct((ws / "endpoints").stat().st_mode & 0o777) == "0o700"


def test_outputs_describe_the_workspace(provisioned, monkeypatch):
    from mlops.config import load_config
    from mlops.infra import read_workspace
    from mlops.paths import local_workspace

    root = provisioned["root"]
    monkeypatch.setenv("FACTORY_ROOT", str(root))
    config = load_config(root)
    workspace = read_workspace(config, "local")
    assert workspace == local_workspace(config.infra_env("dev"), root / ".factory")
    assert workspace.compute.max_nodes == 2


def test_second_provision_changes_nothing(provisioned):
    root = provisioned["root"]
    before = _state(root)["serial"]
    db = root / ".factory" / "workspace" / "mlw-mlops-mf-001" / "mlflow" / "mlflow.db"
    mtime = db.stat().st_mtime_ns
    result = factory(root, "provision")
    assert "inputs unchanged" in result.stdout
    assert "provision local: no changes" in result.stdout
    assert "apply" not in result.stdout
    assert _state(root)["serial"] == before and db.stat().st_mtime_ns == mtime


def test_model_sessions_skip_the_plan_until_something_changes(provisioned):
    """Model sessions provision local on demand (mlops.infra.workspace_for): after a provision
    converged, they run no Terraform plan while the stack inputs, the state and the parts on
    disk are unchanged; a part deleted from disk takes the full path and is re-created."""
    root = provisioned["root"]
    factory(root, "provision")  # converged: the record of what it converged to is written
    serial = _state(root)["serial"]
    quick = factory(root, "endpoints")
    assert "provision local: unchanged since it last converged" in quick.stdout
    assert "plan local" not in quick.stdout and "synth local" not in quick.stdout
    registry = root / ".factory" / "workspace" / "mlw-mlops-mf-001" / "endpoints"
    shutil.rmtree(registry)
    repaired = factory(root, "endpoints")
    assert "unchanged since it last converged" not in repaired.stdout
    assert "terraform_data.endpoint_registry: recorded in state but missing on disk" in \
        repaired.stdout
    assert registry.is_dir() and oct(registry.stat().st_mode & 0o777) == "0o700"
    assert _state(root)["serial"] > serial
    again = factory(root, "endpoints")  # converged again, at the new state
    assert "provision local: unchanged since it last converged" in again.stdout
    config = root / "config" / "infra_config.json"
    config.write_text(config.read_text() + "\n")  # any change to the stacks' inputs
    edited = factory(root, "endpoints")
    assert "plan local" in edited.stdout and "provision local: no changes" in edited.stdout


def test_raising_max_nodes_replans_exactly_the_compute_cluster(provisioned):
    root = provisioned["root"]
    ws = root / ".factory" / "workspace" / "mlw-mlops-mf-001"
    db_mtime = (ws / "mlflow" / "mlflow.db").stat().st_mtime_ns
    _set_infra(root, CLUSTER_MAX_NODES=3)
    plan = factory(root, "plan")
    assert "local: 0 to add, 0 to change, 1 to replace, 0 to destroy" in plan.stdout
    assert "replace  terraform_data.compute_cluster (triggers_replace.max_nodes)" in plan.stdout
    markdown = (root / ".factory" / "plans" / "local-plan.md").read_text()
    assert "| replace | `terraform_data.compute_cluster` | triggers_replace.max_nodes |" in markdown
    rows = [line.split(" | ")[0] for line in markdown.splitlines() if line.startswith("| ")
            and "`" in line]
    assert rows == ["| replace", "| output"]
    result = factory(root, "provision")
    assert "using the saved plan" in result.stdout
    assert "terraform_data.compute_cluster: created" in result.stdout
    assert "mlflow_store" not in result.stdout
    assert json.loads((ws / "compute" / "cpu-cluster.json").read_text())["max_nodes"] == 3
    assert (ws / "mlflow" / "mlflow.db").stat().st_mtime_ns == db_mtime
    assert "no changes" in factory(root, "provision").stdout


def test_apply_refuses_a_stale_or_missing_plan(provisioned):
    root = provisioned["root"]
    _set_infra(root, BATCH_CLUSTER_MAX_NODES=3)
    factory(root, "plan")
    _set_infra(root, BATCH_CLUSTER_MAX_NODES=4)
    stale = factory(root, "apply", check=False)
    assert stale.returncode == 1
    assert "the saved plan for local is stale: the configuration or the stacks changed" \
        in stale.stderr
    assert "Traceback" not in stale.stderr
    factory(root, "plan")
    factory(root, "apply")
    missing = factory(root, "apply", check=False)
    assert missing.returncode == 1 and "no saved plan for --target local" in missing.stderr
    state_serial = _state(root)["serial"]
    factory(root, "plan")
    factory(root, "provision", "--target", "local")  # a no-change provision
    assert _state(root)["serial"] == state_serial


def test_two_provisions_at_once_serialise_and_keep_the_state_whole(provisioned):
    root = provisioned["root"]
    _set_infra(root, CLUSTER_MAX_NODES=5)
    procs = [subprocess.Popen([sys.executable, "-m", "mlops", "provision"], cwd=REPO,
                              env=_env(root), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    applied = [o for o in outputs if "provision local: done" in o]
    assert len(applied) == 1, outputs  # the other one waited, then found nothing to do
    assert any("no changes" in o for o in outputs), outputs
    state = _state(root)  # parses: not corrupted
    cluster = next(r for r in state["resources"] if r["name"] == "compute_cluster")
    assert cluster["instances"][0]["attributes"]["triggers_replace"]["value"]["max_nodes"] == 5
    assert "no changes" in factory(root, "provision").stdout


def test_a_held_lock_with_no_wait_fails_with_a_clear_message(provisioned):
    from mlops.infra.lock import infra_lock

    root = provisioned["root"]
    with infra_lock(root / ".factory" / "locks" / "local.lock", "provision", 1):
        result = factory(root, "provision", check=False, FACTORY_TF_LOCK_TIMEOUT="0s")
    assert result.returncode == 1
    assert f"another infrastructure run (pid {os.getpid()}: provision) holds" in result.stderr
    assert "Traceback" not in result.stderr


def test_terraform_state_lock_held_elsewhere_gives_a_lock_error(provisioned, monkeypatch):
    """Terraform's own lock (fcntl on the state file), held here as another Terraform would."""
    import fcntl

    from mlops.infra.layout import Layout
    from mlops.infra.terraform_dir import terraform_for
    from mlops.terraform import TerraformLockError

    root = provisioned["root"]
    monkeypatch.setenv("FACTORY_ROOT", str(root))
    layout = Layout.of(root)
    tf = terraform_for("local", layout, progress=None)
    tf.lock_timeout = "1s"
    fd = os.open(layout.local_state(), os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(TerraformLockError) as info:
            tf.plan(root / "locked.tfplan")
    finally:
        os.close(fd)
    assert "Error acquiring the state lock" in str(info.value)
    assert "another Terraform run holds the state lock (waited 1s)" in str(info.value)
    assert json.loads(layout.local_state().read_text())["resources"]  # state intact


def test_no_secret_in_synthesised_json_state_or_printed_output(provisioned):
    root = provisioned["root"]
    printed = provisioned["first"] + provisioned["rerun"] + factory(root, "provision").stdout
    files = [*(root / ".factory" / "cdktf.out").rglob("*.json"),
             root / ".factory" / "state" / "local.tfstate"]
    for text in [printed, *(f.read_text() for f in files)]:
        assert SECRET not in text
    outputs = json.loads(subprocess.run(
        ["terraform", "output", "-json", f"-state={root / '.factory/state/local.tfstate'}"],
        cwd=REPO, env=_env(root), capture_output=True, text=True, check=True).stdout)
    assert list(outputs) == ["workspace"] and not outputs["workspace"]["sensitive"]
    flat = json.dumps(outputs).lower()
    assert not any(word in flat for word in ("password", "secret", "key\"", "token"))


def test_destroy_archives_the_workspace_then_delete_data_deletes(provisioned, monkeypatch):
    from mlops.config import load_config
    from mlops.errors import WorkspaceNotProvisioned
    from mlops.infra import read_workspace

    root = provisioned["root"]
    ws = root / ".factory" / "workspace" / "mlw-mlops-mf-001"
    (ws / "data" / "asset.csv").write_text("a,b\n1,2\n")
    result = factory(root, "destroy")
    archives = list((root / ".factory" / "archive").glob("mlw-mlops-mf-001-*.tar.gz"))
    assert len(archives) == 1
    assert archives[0].stat().st_mode & 0o777 == 0o600  # it holds the endpoint keys
    assert f"archived the workspace (models, data, runs) to {archives[0]}" in result.stdout
    import tarfile

    with tarfile.open(archives[0]) as tar:
        names = tar.getnames()
    assert "mlw-mlops-mf-001/data/asset.csv" in names
    assert "mlw-mlops-mf-001/mlflow/mlflow.db" in names
    assert not ws.exists() and _state(root)["resources"] == []
    monkeypatch.setenv("FACTORY_ROOT", str(root))
    with pytest.raises(WorkspaceNotProvisioned, match="run `nox -s provision`"):
        read_workspace(load_config(root), "local")

    with tarfile.open(archives[0]) as tar:  # the printed restore, then provision keeps it
        tar.extractall(ws.parent, filter="data")
    restored = factory(root, "provision")
    assert "already exists; kept" in restored.stdout
    assert (ws / "data" / "asset.csv").read_text() == "a,b\n1,2\n"
    gone = factory(root, "destroy", "--delete-data")
    assert "--delete-data: models, data and runs deleted for good" in gone.stdout
    assert not ws.exists()
    assert len(list((root / ".factory" / "archive").glob("*.tar.gz"))) == 1
    assert "nothing is provisioned" in factory(root, "destroy").stdout


def test_read_workspace_before_any_provision_says_what_to_run(tmp_path, monkeypatch):
    from mlops.config import load_config
    from mlops.errors import WorkspaceNotProvisioned
    from mlops.infra import read_workspace

    root = _copy_factory(tmp_path)
    monkeypatch.setenv("FACTORY_ROOT", str(root))
    with pytest.raises(WorkspaceNotProvisioned, match=r"no Terraform state at .*`nox -s provision`"):
        read_workspace(load_config(root), "local")


def test_azure_provision_fails_fast_naming_credentials_and_providers(tmp_path):
    """No ARM_* credentials, no `az login`, no route to registry.terraform.io (this machine):
    one error naming both, well before any timeout."""
    root = _copy_factory(tmp_path / "factory")
    env = {k: v for k, v in _env(root).items() if not k.startswith(("ARM_", "AZDO_"))}
    # the subscription and organisation are given (else synth stops first, naming them)
    env.update(HOME=str(tmp_path), AZURE_CONFIG_DIR=str(tmp_path / "no-az"),
               FACTORY_TF_INIT_TIMEOUT="60",
               ARM_SUBSCRIPTION_ID="11111111-2222-3333-4444-555555555555",
               AZDO_ORG_SERVICE_URL="https://dev.azure.com/contoso")
    result = subprocess.run([sys.executable, "-m", "mlops", "provision", "--target", "azure"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "cannot run Terraform for --target azure from this machine" in result.stderr
    assert "no Azure credentials: ARM_TENANT_ID, ARM_CLIENT_ID not set" in result.stderr
    assert "no Azure DevOps credential for the azure_devops stack" in result.stderr
    assert "cannot download the Terraform providers" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (root / ".factory" / "plans" / "azure.json").exists()
