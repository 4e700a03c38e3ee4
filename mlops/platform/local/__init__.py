"""The embedded local platform: everything on this machine, driven by the provisioned
workspace description. Capabilities: data.py, pipeline.py, endpoints.py, approval.py."""

from __future__ import annotations

from mlops.platform.base import ModulePlatform


class LocalPlatform(ModulePlatform):
    target = "local"
    package = __name__
