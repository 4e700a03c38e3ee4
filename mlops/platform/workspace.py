"""The workspace description: the only contract between infrastructure and the model build.

It is read from the provisioned stack's Terraform output ``workspace`` (``terraform output
-json``), never by guessing paths. Both stacks (local, azure) emit the same object shape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlops.errors import FactoryError


class WorkspaceNotProvisioned(FactoryError):
    """No workspace outputs: provision first."""


@dataclass(frozen=True)
class Cluster:
    name: str
    size: str
    max_nodes: int
    min_nodes: int = 0


@dataclass(frozen=True)
class Workspace:
    target: str  # "local" | "azure"
    name: str  # mlw-{namespace}-{projectcode}-{version}
    location: str
    compute: Cluster  # CLUSTER_NAME; local: max_nodes = the runner's parallelism
    batch_compute: Cluster  # BATCH_CLUSTER_NAME
    mlflow_tracking_uri: str
    mlflow_registry_uri: str
    # local platform: folders on this machine (None on azure)
    root: Path | None = None
    artifact_root: Path | None = None
    data_store: Path | None = None
    endpoint_registry: Path | None = None
    # azure platform (None on local)
    subscription_id: str | None = None
    resource_group: str | None = None

    _PATHS = ("root", "artifact_root", "data_store", "endpoint_registry")

    @classmethod
    def from_output(cls, value: dict[str, Any]) -> Workspace:
        """Build from the ``workspace`` output's value; a missing key names the output and key."""
        try:
            data = dict(value)
            data["compute"] = Cluster(**data["compute"])
            data["batch_compute"] = Cluster(**data["batch_compute"])
            for key in cls._PATHS:
                if data.get(key):
                    data[key] = Path(data[key])
            return cls(**data)
        except (KeyError, TypeError) as exc:
            raise FactoryError(f"terraform output 'workspace' is not a workspace description: "
                               f"{exc}; re-run `nox -s provision`") from exc

    def to_output(self) -> dict[str, Any]:
        data = asdict(self)
        for key in self._PATHS:
            if data.get(key) is not None:
                data[key] = str(data[key])
        return data


def local_workspace(infra, state_root: Path) -> Workspace:
    """The local platform's workspace for an infrastructure environment, rooted under
    ``state_root`` (normally .factory/). The local stack emits exactly this as its output."""
    root = state_root / "workspace" / infra.workspace_name
    db = root / "mlflow" / "mlflow.db"
    return Workspace(
        target="local",
        name=infra.workspace_name,
        location="local",
        compute=Cluster(infra.cluster_name, infra.cluster_size, infra.cluster_max_nodes,
                        infra.cluster_min_nodes),
        batch_compute=Cluster(infra.batch_cluster_name, infra.batch_cluster_size,
                              infra.batch_cluster_max_nodes),
        mlflow_tracking_uri=f"sqlite:///{db}",
        mlflow_registry_uri=f"sqlite:///{db}",
        root=root,
        artifact_root=root / "mlflow" / "artifacts",
        data_store=root / "data",
        endpoint_registry=root / "endpoints",
    )
