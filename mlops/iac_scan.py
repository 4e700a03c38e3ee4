"""iac_scan: checkov over the synthesised Azure stacks, the Azure DevOps HCL module and the
generated CI YAML; plus a check that no secret reaches the synthesised JSON.

checkov reads no inline skip comments in Terraform JSON (its terraform_json parser drops every
"//" key and passes no skipped checks), so accepted findings are listed here, each bound to one
check and one resource and carrying the reason it is accepted. Everything else fails the scan.
A suppression that no longer matches anything is reported, so the list cannot rot silently.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops import _environment
from mlops.errors import FactoryError

AZURE_STACKS = ("azureml", "azure_devops")
MODULE_DIRS = ("terraform/modules/azure_devops",)
STACK_FRAMEWORKS = ("terraform_json", "terraform")

_PRIVATE_NETWORKING = ("private networking (VNet, private endpoints and DNS, self-hosted agents) "
                       "is out of scope for this template")
_PREMIUM = ("a Premium-SKU registry feature; the dev registry is Standard (about a third of the "
            "price) and only holds environment images rebuilt from code in git")


@dataclass(frozen=True)
class Suppression:
    check_id: str
    resource: str  # the resource's logical name in its stack, e.g. "container_registry"
    reason: str


SUPPRESSIONS: tuple[Suppression, ...] = (
    Suppression("CKV_AZURE_139", "container_registry",
                "public endpoint kept: Microsoft-hosted agents and Azure ML image builds push and "
                f"pull over it; {_PRIVATE_NETWORKING}. Admin user and anonymous pull are off, so "
                "every request needs Entra ID + RBAC"),
    Suppression("CKV_AZURE_233", "container_registry", f"zone redundancy is {_PREMIUM}"),
    Suppression("CKV_AZURE_237", "container_registry", f"dedicated data endpoints are {_PREMIUM}"),
    Suppression("CKV_AZURE_164", "container_registry", f"content trust is {_PREMIUM}"),
    Suppression("CKV_AZURE_165", "container_registry", f"geo-replication is {_PREMIUM}"),
    Suppression("CKV_AZURE_166", "container_registry", f"image quarantine is {_PREMIUM}"),
    Suppression("CKV_AZURE_167", "container_registry",
                f"untagged-manifest retention is {_PREMIUM}"),
    Suppression("CKV_AZURE_189", "key_vault",
                "public endpoint kept but its firewall denies everything except trusted Azure "
                f"services (Azure ML); {_PRIVATE_NETWORKING}"),
    Suppression("CKV2_AZURE_32", "key_vault", f"no private endpoint: {_PRIVATE_NETWORKING}"),
    Suppression("CKV_AZURE_144", "ml_workspace",
                "public workspace endpoint kept: Microsoft-hosted agents and developers submit jobs "
                f"through it, authenticated by Entra ID + RBAC; {_PRIVATE_NETWORKING}"),
    Suppression("CKV2_AZURE_50", "ml_workspace",
                "the workspace's storage keeps a public endpoint (see CKV_AZURE_59); shared keys are "
                "disabled, so it accepts Entra ID tokens only, and the workspace is not HBI"),
    Suppression("CKV_AZURE_59", "storage_account",
                "public endpoint kept: compute clusters without a VNet and Microsoft-hosted agents "
                "(data registration) reach it over the internet; shared keys are disabled, so every "
                f"request needs Entra ID + RBAC; {_PRIVATE_NETWORKING}"),
    Suppression("CKV2_AZURE_33", "storage_account", f"no private endpoint: {_PRIVATE_NETWORKING}"),
    Suppression("CKV_AZURE_33", "storage_account",
                "the factory uses no storage queues (Azure ML uses blobs and files); there is no "
                "queue traffic to log"),
    Suppression("CKV2_AZURE_1", "storage_account",
                "encrypted at rest with Microsoft-managed keys; customer-managed keys add a key "
                "lifecycle whose loss makes the data unreadable, unjustified for the sample "
                "datasets. Enable per environment when the data's classification requires it"),
)


class IacScanError(FactoryError):
    """checkov could not run, or its report could not be read."""


@dataclass(frozen=True)
class Finding:
    check_id: str
    name: str
    resource: str  # as checkov names it: "resource.key_vault" or "azurerm_key_vault.key_vault"
    file: str

    @property
    def logical_name(self) -> str:
        return self.resource.rsplit(".", 1)[-1]

    def __str__(self) -> str:
        return f"{self.check_id} {self.resource} ({self.file}): {self.name}"


@dataclass
class ScanReport:
    passed: int = 0
    findings: list[Finding] = field(default_factory=list)
    scanned: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    suppressions: Sequence[Suppression] = SUPPRESSIONS

    def triage(self) -> tuple[list[Finding], list[tuple[Finding, Suppression]], list[Suppression]]:
        """(unsuppressed findings, suppressed findings with their suppression, unused ones)."""
        by_key = {(s.check_id, s.resource): s for s in self.suppressions}
        open_, suppressed, used = [], [], set()
        for finding in self.findings:
            match = by_key.get((finding.check_id, finding.logical_name))
            if match is None:
                open_.append(finding)
            else:
                suppressed.append((finding, match))
                used.add((match.check_id, match.resource))
        unused = [s for s in self.suppressions if (s.check_id, s.resource) not in used]
        return open_, suppressed, unused

    @property
    def ok(self) -> bool:
        return not self.triage()[0] and not self.secrets

    def lines(self) -> list[str]:
        open_, suppressed, unused = self.triage()
        out = [f"scanned: {', '.join(self.scanned) or 'nothing'}",
               f"checks passed: {self.passed}, failed: {len(open_)}, suppressed: {len(suppressed)}"]
        out += [f"  suppressed {f.check_id} on {f.logical_name}: {s.reason}" for f, s in suppressed]
        out += [f"  note: suppression {s.check_id} on {s.resource} matched nothing; remove it"
                for s in unused]
        out += [f"  FAILED {f}" for f in open_]
        out += [f"  SECRET {s}" for s in self.secrets]
        return out


# --------------------------------------------------------------------------- checkov

def checkov_command(checkov: Path, files: Iterable[Path], dirs: Iterable[Path],
                    frameworks: Iterable[str]) -> list[str]:
    """One checkov run: JSON report on stdout, no network, exit code left to us."""
    cmd = [str(checkov)]
    for file in files:
        cmd += ["-f", str(file)]
    for directory in dirs:
        cmd += ["-d", str(directory)]
    return [*cmd, "--framework", *frameworks, "--output", "json", "--compact", "--quiet",
            "--soft-fail", "--skip-download"]


def parse_report(stdout: str) -> tuple[int, list[Finding]]:
    """Passed-check count and failed checks of checkov's JSON output (one report or a list)."""
    try:
        reports = json.loads(stdout)
    except ValueError as exc:
        raise IacScanError(f"checkov printed no JSON report: {stdout[:300]!r}") from exc
    passed, findings = 0, []
    for report in reports if isinstance(reports, list) else [reports]:
        results = report.get("results") if isinstance(report, dict) else None
        if not results:
            continue  # checkov's placeholder when a framework found nothing to scan
        passed += len(results.get("passed_checks", []))
        findings += [Finding(c["check_id"], c.get("check_name", ""), c.get("resource", ""),
                             c.get("file_path", "")) for c in results.get("failed_checks", [])]
    return passed, findings


Runner = Callable[..., "subprocess.CompletedProcess[str]"]


def run_checkov(files: Sequence[Path], dirs: Sequence[Path], frameworks: Sequence[str], *,
                checkov: Path | None = None,
                runner: Runner = subprocess.run) -> tuple[int, list[Finding]]:
    if checkov is None:
        checkov = _environment.ensure(_environment.CHECKOV).parent / "checkov"
    cmd = checkov_command(checkov, files, dirs, frameworks)
    env = _environment.tool_environment()
    env["BC_SKIP_MAPPING"] = "TRUE"  # no call home for guideline links
    try:
        proc = runner(cmd, capture_output=True, text=True, env=env, timeout=900, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise IacScanError(f"checkov could not run: {exc} ({' '.join(cmd)})") from exc
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise IacScanError(f"checkov failed (exit {proc.returncode}): {' '.join(cmd)}\n{tail}")
    return parse_report(proc.stdout)


# --------------------------------------------------------------------------- secrets

# Attributes that hold credentials; referencing one puts a secret into state and outputs.
_SECRET_ATTRIBUTES = re.compile(
    r"(primary|secondary)_(access_key|connection_string|blob_connection_string)|"
    r"instrumentation_key|connection_string|admin_password|client_secret|sas_token|"
    r"primary_key|secondary_key|access_key")
_SECRET_VALUE = re.compile(r"(AccountKey=|SharedAccessSignature=|InstrumentationKey=|"
                           r"-----BEGIN [A-Z ]*PRIVATE KEY-----|sig=[A-Za-z0-9%]{20,})")


def secret_references(document: Any, where: str = "") -> list[str]:
    """Places in a synthesised stack that reference or contain a secret."""
    found = []
    if isinstance(document, dict):
        for key, value in document.items():
            path = f"{where}.{key}" if where else str(key)
            if key != "//" and _SECRET_ATTRIBUTES.fullmatch(str(key)) and value not in (None, ""):
                found.append(f"{path}: sets a credential attribute")
            found += secret_references(value, path)
    elif isinstance(document, list):
        for index, item in enumerate(document):
            found += secret_references(item, f"{where}[{index}]")
    elif isinstance(document, str):
        for ref in re.findall(r"\$\{([^}]*)\}", document):
            if _SECRET_ATTRIBUTES.fullmatch(ref.rsplit(".", 1)[-1]):
                found.append(f"{where}: references {ref}")
        if _SECRET_VALUE.search(document):
            found.append(f"{where}: contains a credential value")
    return found


def stack_secrets(stack_file: Path) -> list[str]:
    document = json.loads(stack_file.read_text(encoding="utf-8"))
    return [f"{stack_file.parent.name}: {s}" for s in secret_references(document)]


# --------------------------------------------------------------------------- the scan

def _pipeline_files(root: Path) -> dict[str, str]:
    from mlops.cicd.definitions import AZURE_DIR, GITHUB_DIR

    files = {}
    for folder in (AZURE_DIR, GITHUB_DIR):
        for path in sorted((root / folder).glob("*.y*ml")):
            files[f"{folder}/{path.name}"] = path.read_text(encoding="utf-8")
    return files


def scan_pipelines(root: Path) -> tuple[int, list[Finding], list[str]]:
    """checkov over the generated CI YAML, if any exists yet."""
    files = _pipeline_files(root)
    if not files:
        return 0, [], []
    from mlops.cicd import _checkov

    result = _checkov.scan(files)
    findings = [Finding(f.check_id, f.name, f.resource, f.file) for f in result.failed]
    return result.passed, findings, sorted({f.split("/")[0] for f in files})


def scan(stack_files: Sequence[Path], root: Path, *, log: Callable[[str], None] = print,
         runner: Runner = subprocess.run, checkov: Path | None = None,
         pipelines: bool = True) -> ScanReport:
    """Scan the given synthesised stacks, the HCL modules and (optionally) the CI YAML."""
    report = ScanReport()
    dirs = [root / d for d in MODULE_DIRS if (root / d).is_dir()]
    log(f"checkov: {len(stack_files)} stack(s), {len(dirs)} HCL module(s)"
        + (" and the generated CI YAML" if pipelines else "") + " ...")
    # checkov spends most of its time starting up: run the two scans side by side.
    with ThreadPoolExecutor(max_workers=2) as pool:
        yaml_scan = pool.submit(scan_pipelines, root) if pipelines else None
        passed, findings = run_checkov(stack_files, dirs, STACK_FRAMEWORKS, checkov=checkov,
                                       runner=runner)
        report.passed += passed
        report.findings += findings
        report.scanned += [f.parent.name for f in stack_files] + [str(d.relative_to(root))
                                                                  for d in dirs]
        if yaml_scan is not None:
            passed, findings, folders = yaml_scan.result()
            report.passed += passed
            report.findings += findings
            report.scanned += folders
    for stack_file in stack_files:
        report.secrets += stack_secrets(stack_file)
    return report
