"""Azure Machine Learning: the same protocol through azure-ai-ml, driven by the provisioned
workspace description. Capabilities: data.py, pipeline.py, endpoints.py, approval.py; every
network call goes through client.py."""

from __future__ import annotations

from mlops.platform.base import ModulePlatform


class AzurePlatform(ModulePlatform):
    target = "azure"
    package = __name__
