"""The platform layer: typed capability protocols (base.py), implemented once per platform by
the modules of mlops.platform.local and mlops.platform.azure, wired here explicitly."""

from __future__ import annotations

from mlops.platform.base import Platform
from mlops.records import TARGETS, Workspace


def local_platform(workspace: Workspace) -> Platform:
    from mlops.platform.local import (
        approval,
        cleanup,
        data,
        endpoints,
        lineage,
        monitoring,
        pipeline,
        promotion,
    )

    return Platform(workspace, data, pipeline, endpoints, approval, cleanup, promotion, lineage,
                    monitoring)


def azure_platform(workspace: Workspace) -> Platform:
    from mlops.platform.azure import (
        approval,
        cleanup,
        data,
        endpoints,
        lineage,
        monitoring,
        pipeline,
        promotion,
    )

    return Platform(workspace, data, pipeline, endpoints, approval, cleanup, promotion, lineage,
                    monitoring)


def platform_for(workspace: Workspace) -> Platform:
    """The platform whose capabilities serve ``workspace`` (by its target)."""
    if workspace.target == "local":
        return local_platform(workspace)
    if workspace.target == "azure":
        return azure_platform(workspace)
    raise ValueError(f"unknown target {workspace.target!r}; expected one of {', '.join(TARGETS)}")


def get_platform(target: str, config, env: str | None = None) -> Platform:
    """The platform for --target, bound to the workspace of infrastructure environment ``env``
    (default: the selected one): local provisions on demand, azure only reads the Terraform
    outputs (the infrastructure pipeline provisions it)."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
    from mlops.infra import workspace_for

    return platform_for(workspace_for(config, target, env=env))
