"""Where things live in a factory checkout. Every generated or stateful path is here."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlops.records import Cluster, Workspace


def repo_root() -> Path:
    """The factory checkout: FACTORY_ROOT if set (tests use it), else this source tree."""
    override = os.environ.get("FACTORY_ROOT")
    return Path(override).resolve() if override else Path(__file__).resolve().parents[1]


def state_dir(root: Path | None = None) -> Path:
    """Ignored folder for synthesised Terraform, state and the local workspace."""
    return (root or repo_root()) / ".factory"


def reports_dir(root: Path | None = None) -> Path:
    """Ignored folder for build summaries (JSON + markdown for PR comments)."""
    return (root or repo_root()) / "reports"


def resolve(path: str | os.PathLike[str], root: Path | None = None) -> Path:
    """A config path: absolute as given, else relative to the repo root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (root or repo_root()) / p


def local_state_file(state_root: Path) -> Path:
    """Terraform state of the local stack (its local backend's path): outside the synth folder,
    kept across synths."""
    return state_root / "state" / "local.tfstate"


def local_workspace(infra: Any, state_root: Path) -> Workspace:
    """The local platform's workspace for an infrastructure environment (an InfraConfig), rooted
    under ``state_root`` (normally .factory/). The local stack emits exactly this as its output."""
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
        endpoint_ports=tuple(infra.local_endpoint_ports),
    )
