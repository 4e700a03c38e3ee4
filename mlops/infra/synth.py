"""`synth`: run the CDK Terrain app for a target, unless its inputs' content hash is unchanged.

Inputs: the config files, every model's configs, the app's sources, the HCL modules and backend
configs, the factory code the stacks read (config, naming, workspace, CI definitions), the
Python interpreter (the local stack's provisioners call it) and the factory root. The stacks are
synthesised into a temporary folder and moved into place, so a failed synth leaves the previous
one intact.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mlops._environment import tool_environment
from mlops.azure_names import AzureSettings
from mlops.config import FactoryConfig
from mlops.config.loader import selected_infra_env
from mlops.errors import FactoryError
from mlops.infra.layout import Layout


class SynthError(FactoryError):
    """The CDK Terrain app failed."""


@dataclass(frozen=True)
class StackInfo:
    name: str
    resources: int
    modules: int
    path: Path


@dataclass(frozen=True)
class SynthResult:
    target: str
    stacks: list[StackInfo]
    input_hash: str
    skipped: bool
    seconds: float

    def lines(self) -> list[str]:
        head = (f"synth {self.target}: inputs unchanged (hash {self.input_hash[:12]}), "
                f"skipped" if self.skipped else
                f"synth {self.target}: {len(self.stacks)} stack(s) in {self.seconds:.1f} s")
        out = [head]
        for s in self.stacks:
            modules = f", {s.modules} module(s)" if s.modules else ""
            out.append(f"  {s.name}: {s.resources} resource(s){modules} -> {s.path}")
        return out


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        return []
    return sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and ".terraform" not in p.parts)


def _module_file(module: str, search: Path) -> Path | None:
    """The source file of a dotted module name under ``search`` (a package's __init__.py)."""
    base = search.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def stack_sources(app_dir: Path) -> list[Path]:
    """Every factory module the CDK app imports, directly or through another factory module,
    read from the source (no import): what can change the synthesised JSON besides config."""
    search = app_dir.parent
    todo = sorted(app_dir.glob("*.py"))
    seen: set[Path] = set(todo)
    while todo:
        file = todo.pop()
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name.split(".")[0] not in ("mlops", "cdktf_app"):
                    continue
                found = _module_file(name, search)
                parts = name.split(".")
                while parts and found is None:  # a name imported from a module
                    parts.pop()
                    found = _module_file(".".join(parts), search) if parts else None
                for path in _with_parents(found, search):
                    if path not in seen:
                        seen.add(path)
                        todo.append(path)
    return sorted(seen)


def _with_parents(found: Path | None, search: Path) -> list[Path]:
    """A module and the __init__.py of each package above it (importing runs them too)."""
    if found is None:
        return []
    paths = [found]
    folder = found.parent
    while folder != search and (folder / "__init__.py").is_file():
        paths.append(folder / "__init__.py")
        folder = folder.parent
    return paths


def input_files(config: FactoryConfig) -> list[Path]:
    import cdktf_app

    app_dir = Path(next(iter(cdktf_app.__path__)))  # works if the install sees a namespace pkg
    root = config.root
    terraform_dirs = dict.fromkeys([root / "terraform", app_dir.parent / "terraform"])
    sources = [*_files(root / "config"), *_files(app_dir),
               *(f for d in terraform_dirs for f in _files(d)),
               *(f for f in stack_sources(app_dir) if app_dir not in f.parents)]
    sources += [f for model_dir in sorted(p.parent for p in root.glob("mlops/*/configs"))
                for f in _files(model_dir / "configs")]
    return sources


def file_hashes(config: FactoryConfig) -> dict[str, str]:
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in input_files(config)}


def azure_settings(config: FactoryConfig, target: str,
                   env: str | None = None) -> AzureSettings | None:
    """The subscription and organisation the azure stacks need (config or environment); a
    missing one fails here, before node or Terraform start."""
    if target != "azure":
        return None
    return AzureSettings.resolve(config.infra_env(env or selected_infra_env()))


def input_hash(config: FactoryConfig, target: str, layout: Layout,
               files: dict[str, str] | None = None,
               settings: AzureSettings | None = None) -> str:
    files = file_hashes(config) if files is None else files
    settings = settings or azure_settings(config, target, layout.env)
    return hashlib.sha256(json.dumps({
        "target": target, "env": layout.env, "python": sys.executable,
        "root": str(config.root), "state": str(layout.root), "files": files,
        "azure": [settings.subscription_id, settings.organization_url] if settings else None},
        sort_keys=True).encode()).hexdigest()


def _changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def _stack_info(name: str, layout: Layout) -> StackInfo:
    path = layout.stack_dir(name) / "cdk.tf.json"
    doc = json.loads(path.read_text())
    resources = sum(len(items) for items in doc.get("resource", {}).values())
    return StackInfo(name, resources, len(doc.get("module", {})), path)


def read_record(target: str, layout: Layout) -> dict | None:
    try:
        return json.loads(layout.synth_record(target).read_text())
    except (OSError, ValueError):
        return None


def synth(config: FactoryConfig, target: str, *, force: bool = False,
          layout: Layout | None = None, settings: AzureSettings | None = None) -> SynthResult:
    """``settings``: azure's subscription and organisation; by default from config or the
    environment (iac_scan passes placeholders: it only scans)."""
    layout = layout or Layout.of(config.root)
    started = time.monotonic()
    settings = settings or azure_settings(config, target, layout.env)
    files = file_hashes(config)
    digest = input_hash(config, target, layout, files, settings)
    record = read_record(target, layout)
    if (not force and record and record.get("input_hash") == digest
            and all((layout.stack_dir(s) / "cdk.tf.json").is_file() for s in record["stacks"])):
        return SynthResult(target, [_stack_info(s, layout) for s in record["stacks"]], digest,
                           True, time.monotonic() - started)
    changed = _changed(record.get("files", {}), files) if record else []
    why = (f" ({len(changed)} input(s) changed: {', '.join(changed[:3])}"
           f"{' ...' if len(changed) > 3 else ''})" if changed else "")
    print(f"synth {target}: running the CDK Terrain app{why} ...", flush=True)
    layout.synth_dir.mkdir(parents=True, exist_ok=True)
    tmp = layout.synth_dir / f".tmp-{target}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.environ.update({k: v for k, v in tool_environment().items() if k.startswith("JSII_")})
    try:
        from cdktf_app.app import synth as synth_app

        try:
            names = synth_app(config, target, tmp, state_root=layout.root, settings=settings,
                              env=layout.env)
        except FactoryError:
            raise
        except ImportError as exc:
            raise SynthError(f"synth {target}: the app cannot build its stacks: {exc}") from exc
        except Exception as exc:  # jsii/construct errors: one message, no traceback
            raise SynthError(f"synth {target} failed: {type(exc).__name__}: {exc}") from exc
        for name in names:
            dest = layout.stack_dir(name)
            dest.mkdir(parents=True, exist_ok=True)
            src = tmp / "stacks" / name
            for item in src.iterdir():  # cdk.tf.json plus any assets (HCL modules)
                target_path = dest / item.name
                if item.is_dir():
                    shutil.rmtree(target_path, ignore_errors=True)
                os.replace(item, target_path)
        os.replace(tmp / "manifest.json", layout.synth_dir / f"manifest-{target}.json")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.monotonic() - started
    _write_json(layout.synth_record(target), {"input_hash": digest, "stacks": names,
                                              "seconds": round(seconds, 2), "files": files})
    return SynthResult(target, [_stack_info(n, layout) for n in names], digest, False, seconds)


def _write_json(path: Path, value: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, indent=2))
    os.replace(tmp, path)
