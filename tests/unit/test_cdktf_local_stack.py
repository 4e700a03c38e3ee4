"""The synthesised local stack (real CDK Terrain synth): one terraform_data per workspace part,
each re-provisioned exactly by its own inputs; state outside the synth folder; the `workspace`
output is the workspace description every later session reads."""

from __future__ import annotations

import json
import sys

import pytest

from cdktf_app.app import synth
from mlops.config import load_config
from mlops.paths import local_workspace

PARTS = ("batch_cluster", "compute_cluster", "data_store", "endpoint_registry", "mlflow_store")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    config = load_config()
    state_root = out / ".factory"
    assert synth(config, "local", out / "cdktf.out", state_root=state_root) == ["local"]
    doc = json.loads((out / "cdktf.out" / "stacks" / "local" / "cdk.tf.json").read_text())
    return doc, config, state_root


def test_one_terraform_data_per_part_and_nothing_else(stack):
    doc, _, _ = stack
    assert list(doc["resource"]) == ["terraform_data"]
    assert sorted(doc["resource"]["terraform_data"]) == list(PARTS)
    assert "provider" not in doc and "required_providers" not in doc.get("terraform", {})


def test_each_provisioner_gets_exactly_its_triggers(stack):
    doc, config, _ = stack
    for name, resource in doc["resource"]["terraform_data"].items():
        (provisioner,) = resource["provisioner"]
        local_exec = provisioner["local-exec"]
        assert json.loads(local_exec["command"]) == resource["triggers_replace"], name
        assert local_exec["interpreter"][:3] == [sys.executable, "-m",
                                                 "mlops.infra.local_bootstrap"]
    compute = doc["resource"]["terraform_data"]["compute_cluster"]["triggers_replace"]
    infra = config.infra_env("dev")
    assert (compute["name"], compute["max_nodes"]) == (infra.cluster_name, infra.cluster_max_nodes)
    others = [r["triggers_replace"] for n, r in doc["resource"]["terraform_data"].items()
              if n != "compute_cluster"]
    assert not any("max_nodes" in t and t.get("name") == infra.cluster_name for t in others)


def test_state_lives_outside_the_synth_folder(stack):
    doc, _, state_root = stack
    assert doc["terraform"]["backend"]["local"]["path"] == str(state_root / "state" /
                                                               "local.tfstate")


def test_workspace_output_is_the_workspace_description(stack):
    doc, config, state_root = stack
    output = doc["output"]["workspace"]
    expected = local_workspace(config.infra_env("dev"), state_root).to_output()
    assert output["value"] == {k: v for k, v in expected.items() if v is not None}
    assert sorted(output["depends_on"]) == [f"terraform_data.{p}" for p in PARTS]
    assert "sensitive" not in output
