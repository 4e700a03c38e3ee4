"""The platform layer: one protocol (base.Platform), two implementations (local, azure)."""

from __future__ import annotations

from mlops.platform.base import Platform


def get_platform(target: str, config) -> Platform:
    """The platform for --target, bound to the provisioned workspace of that target."""
    if target == "local":
        from mlops.platform.local import LocalPlatform

        return LocalPlatform.from_provisioned(config)
    if target == "azure":
        from mlops.platform.azure import AzurePlatform

        return AzurePlatform.from_provisioned(config)
    raise ValueError(f"unknown target {target!r}; expected local or azure")
