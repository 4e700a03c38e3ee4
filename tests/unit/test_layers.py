"""Layers import downward only. Every package-level unit of the factory has a rank; an import
from one unit to another of equal or higher rank fails, naming the file and the import. A new
top-level module or package must be given a rank here, so the layering stays deliberate."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# unit -> rank: a unit may import units of lower rank only.
RANKS = {
    "mlops.errors": 0, "mlops.records": 0, "mlops.tasks": 0, "mlops.sessions": 0,
    "mlops.procinfo": 0,
    "mlops.registry_names": -1,  # names only, standard library: records read them
    "mlops.identities": 1,
    "mlops.paths": 1, "mlops._environment": 1, "mlops._repo_copy": 1, "mlops.plugins": 1,
    "mlops.config": 2, "mlops.terraform": 2,
    "mlops.naming": 3, "mlops.azure_names": 3, "mlops.staging": 3, "mlops.changes": 3,
    "mlops.pipeline": 4, "mlops.cicd": 4,
    "mlops.serving": 5,  # batch workers fork from the pipeline's warm interpreter (launch.py)
    "cdktf_app": 5, "mlops.monitoring": 6,
    "mlops.infra": 7,
    "mlops.platform": 8,
    "mlops.build_report": 9, "mlops.iac_scan": 9, "mlops.promotion": 9, "mlops.lineage": 9,
    "mlops.ui": 9, "mlops.data_registration": 9,
    "mlops.build": 10, "mlops.testkit": 10, "mlops.scaffold": 10,
    "mlops.bench": 11,
    "mlops.commands": 12,
    "mlops.cli": 13,
    "mlops.__main__": 14,
}
# Code folders staged for pipeline steps and deployments: scripts run on their own (in Azure ML
# too), importing no factory layer at all.
STANDALONE = {"mlops.steps"}


def _unit(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "cdktf_app":
        return "cdktf_app"
    if parts[0] != "mlops" or len(parts) == 1:
        return None
    return f"mlops.{parts[1]}"


def _model_packages() -> set[str]:
    return {f"mlops.{p.name}" for p in (ROOT / "mlops").iterdir()
            if p.is_dir() and (p / "configs").is_dir()}


def _factory_files():
    models = _model_packages()
    for folder in ("mlops", "cdktf_app"):
        for file in sorted((ROOT / folder).rglob("*.py")):
            module = ".".join(file.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            unit = _unit(module) or module
            if unit not in models:
                yield file, unit


def _imports(file: Path):
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name


def test_every_unit_has_a_rank():
    units = {unit for _, unit in _factory_files()} - {"mlops"}
    assert not sorted(units - set(RANKS) - STANDALONE), "give these units a rank in RANKS"


def test_imports_go_downward_only():
    upward = []
    for file, unit in _factory_files():
        for line, module in _imports(file):
            target = _unit(module)
            if target is None or target == unit or module == "mlops":
                continue
            where = f"{file.relative_to(ROOT)}:{line}: {unit} imports {module}"
            if unit in STANDALONE:
                upward.append(f"{where} (a staged step folder imports no factory layer)")
            elif target in RANKS and RANKS[target] >= RANKS.get(unit, -2):
                upward.append(f"{where} (rank {RANKS[unit]} -> {RANKS[target]})")
    assert not upward, "\n".join(upward)


def test_the_neutral_records_import_nothing_of_the_factory():
    """Only the names of the registry's marks, which are standard library and import nothing."""
    imported = {m.split(".")[1] for _, m in _imports(ROOT / "mlops" / "records.py")
                if m.split(".")[0] in ("mlops", "cdktf_app")}
    assert imported <= {"registry_names"}
    assert not [m for _, m in _imports(ROOT / "mlops" / "registry_names.py")
                if m.split(".")[0] in ("mlops", "cdktf_app")]
