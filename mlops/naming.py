"""Run, experiment and model names from config plus the CI system's branch and build id."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from mlops.config import ModelEnvConfig

# Azure ML experiment and model names: letters, digits, '_' and '-', starting alphanumeric, <= 255.
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
MAX_NAME_LENGTH = 255
HASH_LENGTH = 6  # hex digits of sha256 added when a name had to change


def _stable_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def sanitize(text: str) -> str:
    """A fragment safe inside an Azure ML name. Unchanged when already safe; otherwise the
    unsafe runs become '-' and a short hash of the original is added, so two branches that
    differ only in unsafe characters ('release/1.0', 'release/1-0') never share a name:
    'feature/ABC-12_fix#3' -> 'feature-ABC-12_fix-3-<hash>'."""
    cleaned = re.sub(r"-{2,}", "-", _UNSAFE.sub("-", text).strip("-_"))
    if cleaned == text:
        return text
    return f"{cleaned}-{_stable_hash(text)}" if cleaned else f"unnamed-{_stable_hash(text)}"


def _git_branch(cwd: str | None) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=cwd,
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    branch = out.stdout.strip()
    return branch if out.returncode == 0 and branch and branch != "HEAD" else None


def current_branch(environ: Mapping[str, str] | None = None, cwd: str | None = None) -> str:
    """Azure DevOps, then GitHub (PR head, then ref name), then git, else 'local'."""
    env = os.environ if environ is None else environ
    for var in ("BUILD_SOURCEBRANCHNAME", "GITHUB_HEAD_REF", "GITHUB_REF_NAME"):
        if env.get(var, "").strip():
            return env[var].strip()
    return _git_branch(cwd) or "local"


def current_commit(environ: Mapping[str, str] | None = None, cwd: str | None = None) -> str | None:
    """The commit being built: Azure DevOps BUILD_SOURCEVERSION, GitHub GITHUB_SHA, else git's
    HEAD; None outside a git checkout."""
    env = os.environ if environ is None else environ
    for var in ("BUILD_SOURCEVERSION", "GITHUB_SHA"):
        if env.get(var, "").strip():
            return env[var].strip()
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", commit) else None


def current_build_id(environ: Mapping[str, str] | None = None, now: datetime | None = None) -> str:
    """Azure DevOps BUILD_BUILDID, GitHub GITHUB_RUN_ID, else a local timestamp id."""
    env = os.environ if environ is None else environ
    for var in ("BUILD_BUILDID", "GITHUB_RUN_ID"):
        if env.get(var, "").strip():
            return env[var].strip()
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    return f"local{stamp}"


def _join(*parts: str) -> str:
    """The parts joined by '_'; too long, it is cut and ends with a hash of the whole, so two
    long names that share their first 255 characters stay apart."""
    joined = "_".join(sanitize(p) for p in parts)
    if len(joined) <= MAX_NAME_LENGTH:
        return joined
    return f"{joined[:MAX_NAME_LENGTH - HASH_LENGTH - 1]}-{_stable_hash(joined)}"


@dataclass(frozen=True)
class RunNames:
    experiment_name: str
    display_name: str
    model_name: str
    branch: str
    build_id: str
    commit: str | None = None  # the git commit built (lineage), None when unknown


def run_names(entry: ModelEnvConfig, branch: str | None = None,
              build_id: str | None = None) -> RunNames:
    """EXPERIMENT_NAME, DISPLAY_NAME and MODEL_NAME as the seed defined them, sanitised."""
    branch = branch or current_branch()
    build_id = build_id or current_build_id()
    return RunNames(
        experiment_name=_join(entry.model, entry.experiment_base_name, entry.env, branch),
        display_name=_join(entry.model, entry.display_base_name, entry.env, build_id),
        model_name=_join(entry.model, entry.model_base_name, entry.env, branch),
        branch=branch,
        build_id=build_id,
        commit=current_commit(),
    )
