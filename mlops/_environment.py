"""The shared environments every nox session runs in (standard library only: nox imports it).

One environment for the factory (1+ GB: MLflow, azure-ai-ml, CDK Terrain...) is built once and
reused by every session; a stamp holding the hash of pyproject.toml says whether it is current,
so a warm session pays one file read. Checkov lives in its own environment: its pins clash with
the factory's. uv builds them when available (nox[uv]), else venv + pip.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# FACTORY_ENVS_DIR lets a second checkout (the end-to-end test's copy) reuse these environments.
ENVS_DIR = Path(os.environ.get("FACTORY_ENVS_DIR") or ROOT / ".nox")
STAMP = "factory-env.json"
# Bump when the way environments are built changes, so existing ones are rebuilt.
RECIPE = 2  # 2: site-packages compiled to bytecode at install
PREREQUISITES = {
    "terraform": "Terraform >= 1.6 (https://developer.hashicorp.com/terraform/install)",
    "node": "Node.js >= 20 (CDK Terrain runs its jsii runtime on node)",
}


class EnvBuildError(RuntimeError):
    """Building a shared environment failed; the message says which step and why."""


@dataclass(frozen=True)
class EnvSpec:
    name: str
    requirements: tuple[str, ...]  # pip arguments
    fingerprint_files: tuple[Path, ...] = ()
    base: Path | None = None  # default .nox/; the benchmark builds elsewhere

    @property
    def path(self) -> Path:
        return (self.base or ENVS_DIR) / self.name

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def fingerprint(self) -> str:
        # The checkout's path is left out: a copy of the repo may share the environment.
        requirements = [r.replace(str(ROOT), "<root>") for r in self.requirements]
        digest = hashlib.sha256(json.dumps([RECIPE, requirements, sys.version_info[:2]]).encode())
        for file in self.fingerprint_files:
            digest.update(file.read_bytes())
        return digest.hexdigest()


FACTORY = EnvSpec("_factory", ("-e", f"{ROOT}[dev]"), (ROOT / "pyproject.toml",))
CHECKOV = EnvSpec("_checkov", ("checkov>=3.2,<4",))
# evidently (drift reports, nox -s monitor) imports pandas internals pandas 3 removed
# (infer_dtype_from_object): its own environment, as checkov's, keeps the factory on pandas 3.
DRIFT = EnvSpec("_drift", ("evidently>=0.7.20,<0.8", "pandas>=2.2,<3"))


def is_current(spec: EnvSpec) -> bool:
    stamp = spec.path / STAMP
    try:
        return json.loads(stamp.read_text())["fingerprint"] == spec.fingerprint() \
            and spec.python.exists()
    except (OSError, ValueError, KeyError):
        return False


def _uv() -> str | None:
    found = shutil.which("uv")
    if found:
        return found
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found]  # installed by nox[uv]
    except ImportError:
        return None
    return find_uv_bin()


def _run(cmd: Sequence[str], step: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(list(cmd), capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise EnvBuildError(f"{step} failed (exit {result.returncode}): {' '.join(cmd)}\n{tail}")


def ensure(spec: EnvSpec, log: Callable[[str], None] = print,
           env: dict[str, str] | None = None) -> Path:
    """The environment's python, building or updating the environment first if needed."""
    if is_current(spec):
        return spec.python
    started = time.monotonic()
    log(f"building shared environment {spec.path} (once; later sessions reuse it)")
    (spec.path / STAMP).unlink(missing_ok=True)  # a failed build must not look current
    uv = _uv()
    if uv:
        _run([uv, "venv", "--quiet", "--allow-existing", "--python", sys.executable,
              str(spec.path)], "creating the environment", env)
        # Bytecode now, not at every import: with PYTHONDONTWRITEBYTECODE set (as on these
        # machines) an uncompiled env makes each step re-compile sklearn + MLflow (~6 s more).
        _run([uv, "pip", "install", "--quiet", "--compile-bytecode", "--python",
              str(spec.python), *spec.requirements], "installing dependencies", env)
    else:
        _run([sys.executable, "-m", "venv", str(spec.path)], "creating the environment", env)
        _run([str(spec.python), "-m", "pip", "install", "--quiet", "--compile", *spec.requirements],
             "installing dependencies", env)
    (spec.path / STAMP).write_text(json.dumps({"fingerprint": spec.fingerprint(),
                                               "built_seconds": round(time.monotonic() - started, 1)}))
    log(f"environment ready in {time.monotonic() - started:.1f} s")
    return spec.python


def ensure_all(specs: Sequence[EnvSpec], log: Callable[[str], None] = print) -> list[Path]:
    """Several environments at once (separate folders; uv's cache takes concurrent installs):
    the tests need three, and building them one after the other left a core idle."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, len(specs))) as pool:
        return list(pool.map(lambda spec: ensure(spec, log), specs))


def missing_prerequisites(tools: Sequence[str] = tuple(PREREQUISITES)) -> list[str]:
    """Tools the factory cannot install itself, each with what to install."""
    return [f"{tool}: not found on PATH; install {PREREQUISITES[tool]}"
            for tool in tools if shutil.which(tool) is None]


def tool_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """Variables every factory subprocess gets: quiet jsii, a Terraform CLI config that exists."""
    env = dict(os.environ if base is None else base)
    # jsii compares this list with node's major version; "1" would silence nothing.
    env.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20,22,24")
    env.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    env.setdefault("CHECKPOINT_DISABLE", "1")
    cli_config = env.get("TF_CLI_CONFIG_FILE")
    if not cli_config or not Path(cli_config).is_file():
        empty = ENVS_DIR / "terraformrc"
        empty.parent.mkdir(parents=True, exist_ok=True)
        if not empty.exists():
            empty.write_text("# empty on purpose: no provider mirrors or credentials\n")
        env["TF_CLI_CONFIG_FILE"] = str(empty)
    return env
