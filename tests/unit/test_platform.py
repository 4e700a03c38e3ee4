"""Both platforms implement every capability protocol with explicit modules, and the facade
passes the workspace to them."""

from __future__ import annotations

import inspect
from types import ModuleType

import pytest

import mlops.platform as platforms
from mlops.platform.azure import approval as azure_approval
from mlops.platform.azure import cleanup as azure_cleanup
from mlops.platform.azure import data as azure_data
from mlops.platform.azure import endpoints as azure_endpoints
from mlops.platform.azure import lineage as azure_lineage
from mlops.platform.azure import monitoring as azure_monitoring
from mlops.platform.azure import pipeline as azure_pipeline
from mlops.platform.azure import promotion as azure_promotion
from mlops.platform.base import CAPABILITIES, Platform
from mlops.platform.local import approval as local_approval
from mlops.platform.local import cleanup as local_cleanup
from mlops.platform.local import data as local_data
from mlops.platform.local import endpoints as local_endpoints
from mlops.platform.local import lineage as local_lineage
from mlops.platform.local import monitoring as local_monitoring
from mlops.platform.local import pipeline as local_pipeline
from mlops.platform.local import promotion as local_promotion

IMPLEMENTATIONS = {
    "local": {"data": local_data, "pipeline": local_pipeline, "endpoints": local_endpoints,
              "approval": local_approval, "cleanup": local_cleanup,
              "promotion": local_promotion, "lineage": local_lineage,
              "monitoring": local_monitoring},
    "azure": {"data": azure_data, "pipeline": azure_pipeline, "endpoints": azure_endpoints,
              "approval": azure_approval, "cleanup": azure_cleanup,
              "promotion": azure_promotion, "lineage": azure_lineage,
              "monitoring": azure_monitoring},
}


def _protocol_functions(protocol: type) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(member) for name, member in vars(protocol).items()
            if inspect.isfunction(member) and not name.startswith("_")}


@pytest.mark.parametrize("target", sorted(IMPLEMENTATIONS))
@pytest.mark.parametrize("capability", sorted(CAPABILITIES))
def test_each_module_implements_its_protocol(target: str, capability: str):
    """PEP 544 module-as-protocol: every function, with the protocol's parameters in order (an
    implementation may add keyword-only parameters with defaults, e.g. an injected client)."""
    module: ModuleType = IMPLEMENTATIONS[target][capability]
    for name, wanted in _protocol_functions(CAPABILITIES[capability]).items():
        assert callable(getattr(module, name, None)), f"{module.__name__} lacks {name}()"
        have = inspect.signature(getattr(module, name)).parameters
        expected = [p for p in wanted.parameters.values() if p.name != "self"]
        for param in expected:
            assert param.name in have, f"{module.__name__}.{name}: no parameter {param.name}"
            assert have[param.name].kind == param.kind, f"{module.__name__}.{name}: {param.name}"
        extra = [p for n, p in have.items() if n not in {q.name for q in expected}]
        assert all(p.default is not inspect.Parameter.empty for p in extra), \
            f"{module.__name__}.{name}: extra parameters need defaults: {extra}"


@pytest.mark.parametrize("target", sorted(IMPLEMENTATIONS))
def test_the_wiring_binds_the_targets_own_modules(target: str):
    class FakeWorkspace:
        pass

    workspace = FakeWorkspace()
    workspace.target = target
    platform = platforms.platform_for(workspace)
    modules = IMPLEMENTATIONS[target]
    assert (platform.data_ops, platform.pipeline_ops, platform.endpoint_ops,
            platform.approval_ops, platform.cleanup_ops, platform.promotion_ops,
            platform.lineage_ops, platform.monitoring_ops) == (
        modules["data"], modules["pipeline"], modules["endpoints"], modules["approval"],
        modules["cleanup"], modules["promotion"], modules["lineage"], modules["monitoring"])


def test_the_facade_passes_the_workspace_first():
    calls = []

    class Recorder:
        def __getattr__(self, name):
            return lambda *a, **k: calls.append((name, a, k)) or name

    rec = Recorder()
    platform = Platform("the-workspace", rec, rec, rec, rec, rec, rec, rec, rec)
    assert platform.register_data("entry") == "register_data"
    assert platform.run_pipeline("entry", "names", wait=False) == "run_pipeline"
    assert platform.deploy("entry", "names") == "deploy"
    assert platform.endpoints(show_keys=True) == "list_endpoints"
    assert platform.approve("entry", "names", "me", "7") == "approve"
    assert platform.approved("dev", "entry", "names", "7") == "approved"
    assert platform.promote("target-ws", "entry", "approved", "promotion") == "promote"
    assert platform.lineage("prod", "entry", "names") == "lineage"
    assert platform.promotions("model-name") == "promotions"
    assert platform.cleanup(["entry"], 3, dry_run=True) == "cleanup"
    assert platform.monitor("entry", "names", "reports", "dev") == "monitor"
    assert calls == [
        ("register_data", ("the-workspace", "entry"), {}),
        ("run_pipeline", ("the-workspace", "entry", "names"), {"wait": False}),
        ("deploy", ("the-workspace", "entry", "names"), {}),
        ("list_endpoints", ("the-workspace",), {"show_keys": True}),
        ("approve", ("the-workspace", "entry", "names", "me", "7"), {}),
        ("approved", ("the-workspace", "dev", "entry", "names", "7"), {}),
        ("promote", ("the-workspace", "target-ws", "entry", "approved", "promotion"), {}),
        ("lineage", ("the-workspace", "prod", "entry", "names", None), {}),
        ("promotions", ("the-workspace", "model-name"), {}),
        ("cleanup", ("the-workspace", ["entry"], 3), {"dry_run": True}),
        ("monitor", ("the-workspace", "entry", "names", "reports", "dev"), {}),
    ]


def test_get_platform_reads_the_targets_workspace(monkeypatch):
    import mlops.infra

    class FakeWorkspace:
        def __init__(self, target):
            self.target = target

    seen = []
    monkeypatch.setattr(mlops.infra, "workspace_for",
                        lambda config, target, env=None: seen.append(target)
                        or FakeWorkspace(target))
    assert platforms.get_platform("azure", "config").workspace.target == "azure"
    assert platforms.get_platform("local", "config").workspace.target == "local"
    assert seen == ["azure", "local"]
    with pytest.raises(ValueError, match="unknown target 'gcp'"):
        platforms.get_platform("gcp", "config")
