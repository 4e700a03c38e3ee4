"""The local workspace stack: the local platform's workspace as built-in ``terraform_data``
resources with ``local-exec`` provisioners, so it plans and applies offline.

One resource per concern; each one's ``triggers_replace`` holds exactly its inputs, so changing
CLUSTER_MAX_NODES re-provisions the compute cluster and nothing else. The provisioners call the
factory's bootstrap module, which is idempotent: a re-run after ``kill -9`` converges.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cdktn import (
    LocalBackend,
    LocalExecProvisioner,
    TerraformOutput,
    TerraformResource,
    TerraformStack,
)
from constructs import Construct

from mlops.config import InfraConfig
from mlops.paths import local_state_file, local_workspace

BOOTSTRAP = "mlops.infra.local_bootstrap"


state_file = local_state_file  # the backend's path (mlops.paths: one home)


class LocalWorkspaceStack(TerraformStack):
    def __init__(self, scope: Construct, id: str, *, infra: InfraConfig, state_root: Path,
                 python: str = sys.executable):
        super().__init__(scope, id)
        self.python = python
        LocalBackend(self, path=str(state_file(state_root)))
        ws = local_workspace(infra, state_root)
        compute_dir = ws.root / "compute"
        self.resources = [
            self._part("mlflow_store", "mlflow-store", {
                "db": str(ws.root / "mlflow" / "mlflow.db"),
                "artifact_root": str(ws.artifact_root)}),
            self._part("data_store", "directory", {
                "label": "data asset store", "path": str(ws.data_store)}),
            self._part("compute_cluster", "cluster", {
                "path": str(compute_dir / f"{ws.compute.name}.json"), "name": ws.compute.name,
                "size": ws.compute.size, "min_nodes": ws.compute.min_nodes,
                "max_nodes": ws.compute.max_nodes}),
            self._part("batch_cluster", "cluster", {
                "path": str(compute_dir / f"{ws.batch_compute.name}.json"),
                "name": ws.batch_compute.name, "size": ws.batch_compute.size,
                "min_nodes": ws.batch_compute.min_nodes,
                "max_nodes": ws.batch_compute.max_nodes}),
            self._part("endpoint_registry", "directory", {
                "label": "endpoint registry", "path": str(ws.endpoint_registry), "mode": "0700"}),
        ]
        output = {k: v for k, v in ws.to_output().items() if v is not None}
        TerraformOutput(self, "workspace", value=output,
                        description="the local workspace description every session reads")
        # cdktn renders output depends_on as an interpolation, which Terraform rejects there
        self.add_override("output.workspace.depends_on",
                          [f"terraform_data.{r.friendly_unique_id}" for r in self.resources])

    def _part(self, name: str, kind: str, spec: dict[str, Any]) -> TerraformResource:
        """One workspace part: re-provisioned exactly when ``spec`` changes."""
        spec = {"kind": kind, **spec}  # kept in state so provision can check the part exists
        resource = TerraformResource(
            self, name, terraform_resource_type="terraform_data",
            provisioners=[LocalExecProvisioner(
                type="local-exec", command=json.dumps(spec, sort_keys=True),
                interpreter=[self.python, "-m", BOOTSTRAP, kind])])
        resource.add_override("triggers_replace", spec)
        return resource
