"""checkov over the generated CI files (frameworks azure_pipelines and github_actions).

checkov's azure_pipelines framework only reads files named *azure-pipelines.yml, and ours keep the
seed's names (<model>_ci_dev_pipeline.yml), so the scan runs on a copy that renames each one to
azure/<name>.azure-pipelines.yml; findings are mapped back to the real paths.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mlops import _environment
from mlops.cicd.definitions import AZURE_DIR, GITHUB_DIR
from mlops.errors import FactoryError

AZURE_SUFFIX = ".azure-pipelines.yml"
AZURE_STAGE = "azure"  # checkov skips hidden folders such as .azure-pipelines when walking


class CheckovError(FactoryError):
    """checkov could not run or its report could not be read."""


@dataclass(frozen=True)
class Finding:
    check_id: str
    name: str
    file: str
    resource: str

    def __str__(self) -> str:
        return f"{self.file}: {self.check_id} {self.name} ({self.resource})"


@dataclass(frozen=True)
class Result:
    passed: int
    failed: list[Finding]
    skipped: list[Finding]
    frameworks: tuple[str, ...]


def _stage(files: dict[str, str], into: Path) -> dict[str, str]:
    """Write files (relative path -> text) for checkov; returns scanned path -> real path."""
    mapping = {}
    for relative, text in files.items():
        if relative.startswith(AZURE_DIR + "/"):
            staged = f"{AZURE_STAGE}/{Path(relative).stem}{AZURE_SUFFIX}"
        elif relative.startswith(GITHUB_DIR + "/"):
            staged = relative
        else:
            continue
        (into / staged).parent.mkdir(parents=True, exist_ok=True)
        (into / staged).write_text(text, encoding="utf-8")
        mapping[f"/{staged}"] = relative
    return mapping


def scan(files: dict[str, str]) -> Result:
    """Run checkov on the given CI files' texts."""
    python = _environment.ensure(_environment.CHECKOV)
    checkov = python.parent / "checkov"
    with tempfile.TemporaryDirectory(prefix="factory-cicd-scan-") as temp:
        mapping = _stage(files, Path(temp))
        proc = subprocess.run(
            [str(checkov), "-d", temp, "--framework", "azure_pipelines", "github_actions",
             "--output", "json", "--soft-fail", "--skip-download"],
            capture_output=True, text=True, timeout=600, env=_environment.tool_environment(),
            check=False)
    if proc.returncode != 0:
        raise CheckovError(f"checkov failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    try:
        reports = json.loads(proc.stdout)
    except ValueError as exc:
        raise CheckovError(f"checkov printed no JSON report: {proc.stdout[:500]!r}") from exc
    reports = reports if isinstance(reports, list) else [reports]
    passed, failed, skipped, frameworks = 0, [], [], []

    def finding(check: dict) -> Finding:
        path = check.get("file_path", "")
        return Finding(check["check_id"], check.get("check_name", ""), mapping.get(path, path),
                       check.get("resource", ""))

    for report in reports:
        if not report.get("results"):
            continue  # checkov's empty-report placeholder
        frameworks.append(report.get("check_type", "?"))
        results = report["results"]
        passed += len(results.get("passed_checks", []))
        failed += [finding(c) for c in results.get("failed_checks", [])]
        skipped += [finding(c) for c in results.get("skipped_checks", [])]
    return Result(passed, failed, skipped, tuple(frameworks))


