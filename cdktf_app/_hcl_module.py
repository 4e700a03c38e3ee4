"""Composes a hand-written HCL module into a stack, checking its inputs at synth.

Terraform would only notice a missing or misspelt module input at plan time (after init and
provider downloads); reading the module's ``variable`` blocks with python-hcl2 moves that
failure to synth, naming the module and the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.errors import FactoryError


class ModuleInputError(FactoryError):
    """A module got an input it does not declare, or lacks one it requires."""


@dataclass(frozen=True)
class ModuleVariable:
    name: str
    required: bool  # no default in its variable block
    description: str = ""


def _unquote(text: Any) -> Any:
    # python-hcl2 >= 7 keeps the quotes of string literals and block labels.
    if isinstance(text, str) and len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def read_variables(module_dir: Path) -> dict[str, ModuleVariable]:
    """Every ``variable`` block of the module's *.tf files, by name."""
    import hcl2

    files = sorted(Path(module_dir).glob("*.tf"))
    if not files:
        raise ModuleInputError(f"module {module_dir}: no *.tf files found")
    variables: dict[str, ModuleVariable] = {}
    for file in files:
        try:
            with file.open(encoding="utf-8") as handle:
                parsed = hcl2.load(handle)
        except Exception as exc:  # python-hcl2 raises lark errors of many kinds
            raise ModuleInputError(f"module {module_dir}: cannot parse {file.name}: {exc}") from exc
        for block in parsed.get("variable", []):
            for label, body in block.items():
                name = _unquote(label)
                variables[name] = ModuleVariable(
                    name=name, required="default" not in body,
                    description=str(_unquote(body.get("description", ""))))
    return variables


def check_inputs(module_dir: Path, inputs: Mapping[str, Any]) -> dict[str, ModuleVariable]:
    """Fail naming the module and each variable when an input is unknown or a required one is
    missing; returns the module's variables."""
    variables = read_variables(module_dir)
    unknown = sorted(set(inputs) - set(variables))
    missing = sorted(name for name, var in variables.items()
                     if var.required and inputs.get(name) is None)
    problems = [f"unknown input {name!r} (the module declares: {', '.join(sorted(variables))})"
                for name in unknown]
    problems += [f"missing required input {name!r}"
                 + (f" ({variables[name].description})" if variables[name].description else "")
                 for name in missing]
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise ModuleInputError(f"module {module_dir}:\n{listed}")
    return variables


def hcl_module(scope: Any, construct_id: str, module_dir: Path, inputs: Mapping[str, Any]) -> Any:
    """A TerraformHclModule for ``module_dir`` with checked ``inputs``."""
    from cdktn import AssetType, TerraformAsset, TerraformHclModule

    check_inputs(module_dir, inputs)
    # Copy the module next to the stack (assets/) so the synthesised folder is self-contained
    # and independent of where it is written.
    asset = TerraformAsset(scope, f"{construct_id}_module", path=str(Path(module_dir).resolve()),
                           type=AssetType.DIRECTORY)
    return TerraformHclModule(scope, construct_id, source=f"./{asset.path}",
                              variables=dict(inputs), skip_asset_creation_from_local_modules=True)
