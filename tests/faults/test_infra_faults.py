"""Issue 11, items 5 and 11 (infrastructure): the destroy archive leaked the endpoint keys
(world-readable 0644); a corrupt tfstate got the hint "another Terraform run holds the state
lock" and no word of local.tfstate.backup. Both reproduced for real: a real provision with
Terraform, a real archive, a truncated state file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from mlops._environment import tool_environment

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("terraform") is None, reason="needs terraform")]
REPO = Path(__file__).resolve().parents[2]


def _mlops(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(tool_environment(), FACTORY_ROOT=str(root), FACTORY_TARGET="local")
    env.pop("FACTORY_INFRA_ENV", None)
    result = subprocess.run([sys.executable, "-m", "mlops", *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{args}: {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def provisioned(config_root):
    _mlops(config_root, "provision")
    return config_root


def test_the_destroy_archive_is_owner_only_and_holds_no_key(provisioned):
    root = provisioned
    workspace = next((root / ".factory" / "workspace").iterdir())
    keys = workspace / "endpoints"
    (keys / "nyc-taxi-online.key").write_text("secret-key")  # as a deploy leaves it
    os.umask(0o022)  # the usual umask: what made the archive world-readable
    _mlops(root, "destroy")
    archive_dir = root / ".factory" / "archive"
    [archive] = archive_dir.glob("*.tar.gz")
    assert archive.stat().st_mode & 0o777 == 0o600
    assert archive_dir.stat().st_mode & 0o777 == 0o700
    with tarfile.open(archive) as tar:  # destroy stops the endpoints first: their keys go
        names = tar.getnames()
    assert any(n.endswith("mlflow.db") or "/mlflow/" in n for n in names), names[:20]
    assert not any(n.endswith(".key") for n in names), [n for n in names if n.endswith(".key")]


def test_a_corrupt_state_is_named_as_such_with_its_backup(provisioned):
    root = provisioned
    state = root / ".factory" / "state" / "local.tfstate"
    config = root / "config" / "infra_config.json"
    data = json.loads(config.read_text())
    data["dev"]["CLUSTER_MAX_NODES"] += 1
    config.write_text(json.dumps(data))
    _mlops(root, "provision")  # a second write leaves Terraform's local.tfstate.backup
    good = state.read_bytes()
    state.write_bytes(good[: len(good) // 2])  # truncated: a disk-full or killed writer
    result = _mlops(root, "plan", check=False)
    assert result.returncode != 0
    message = result.stderr
    assert "unreadable (corrupt or truncated), not locked" in message
    assert "another Terraform run holds the state lock" not in message
    backup = state.with_name("local.tfstate.backup")
    assert str(backup) in message
    assert backup.is_file()
    assert f"cp {backup} {state}" in message  # the restore it prints works
    shutil.copy(backup, state)
    assert _mlops(root, "plan").returncode == 0
