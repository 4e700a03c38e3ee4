"""Both platforms bind the same protocol to their own capability modules."""

from __future__ import annotations

import importlib

import pytest

from mlops.platform.azure import AzurePlatform
from mlops.platform.local import LocalPlatform


@pytest.mark.parametrize("cls, package", [(LocalPlatform, "mlops.platform.local"),
                                          (AzurePlatform, "mlops.platform.azure")])
def test_each_method_calls_its_platforms_module_with_the_workspace(cls, package, monkeypatch):
    calls = []
    for module, function in (("data", "register_data"), ("pipeline", "run_pipeline"),
                             ("endpoints", "deploy"), ("endpoints", "list_endpoints"),
                             ("approval", "approve")):
        monkeypatch.setattr(importlib.import_module(f"{package}.{module}"), function,
                            lambda *a, _f=function, **k: calls.append((_f, a, k)) or _f)
    platform = cls("the-workspace", config=None)
    assert platform.register_data("entry") == "register_data"
    assert platform.run_pipeline("entry", "names", wait=False) == "run_pipeline"
    assert platform.deploy("entry", "names") == "deploy"
    assert platform.endpoints(show_keys=True) == "list_endpoints"
    assert platform.approve("entry", "names", "me") == "approve"
    assert calls == [
        ("register_data", ("the-workspace", "entry"), {}),
        ("run_pipeline", ("the-workspace", "entry", "names"), {"wait": False}),
        ("deploy", ("the-workspace", "entry", "names"), {}),
        ("list_endpoints", ("the-workspace",), {"show_keys": True}),
        ("approve", ("the-workspace", "entry", "names", "me"), {}),
    ]


def test_from_provisioned_reads_the_targets_workspace(monkeypatch):
    import mlops.infra

    seen = []
    monkeypatch.setattr(mlops.infra, "read_workspace",
                        lambda config, target: seen.append(target) or f"ws-{target}")
    assert AzurePlatform.from_provisioned("config").workspace == "ws-azure"
    assert LocalPlatform.from_provisioned("config").workspace == "ws-local"
    assert seen == ["azure", "local"]
