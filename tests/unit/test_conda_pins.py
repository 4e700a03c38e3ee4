"""Every model's conda file (CONDA_PATH) resolves to an MLflow + azureml-mlflow pair that works on
Azure ML: resolved by uv against PyPI for the file's Python on Linux, as Azure ML's image build
resolves the pip section. azureml-mlflow caps the MLflow it works with, so pins that leave its
newest release out make the resolver fall back to an old release without any cap, one written
before MLflow 3, and nothing fails until a job runs. This test fails instead, naming the
package and both versions. It needs PyPI (a few seconds of metadata queries, cached by uv) and
skips, saying so, only when PyPI cannot be reached."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from mlops.config import load_config
from mlops.paths import repo_root

pytestmark = pytest.mark.integration  # uv and PyPI

# The first azureml-mlflow release declaring it works with each MLflow major. Source: PyPI
# metadata (Requires-Dist): 1.60.0.post1 declares mlflow-skinny<3.0.0, 1.61.0 mlflow-skinny
# <=3.5.0, 1.62.0.post6 mlflow-skinny<=3.15.0; 1.60.0 and older declare no bound, which is why
# a resolver lands on them when the newer releases are excluded (mlflow>=3.17 resolved to
# azureml-mlflow 1.60.0, written for MLflow 2).
AZUREML_MLFLOW_FOR_MLFLOW = {3: Version("1.61.0")}
PLATFORM = "x86_64-manylinux_2_35"  # the models' base image, openmpi4.1.0-ubuntu22.04
NETWORK_ERRORS = ("Failed to fetch", "error sending request", "dns error", "timed out")


@dataclass(frozen=True)
class CondaFile:
    path: Path
    models: tuple[str, ...]
    python: str
    pip: tuple[str, ...]


def conda_files() -> list[CondaFile]:
    users: dict[Path, set[str]] = {}
    for entry in load_config().entries.values():
        users.setdefault(entry.conda_path, set()).add(entry.model)
    files = []
    for path, models in sorted(users.items()):
        spec = yaml.safe_load(path.read_text())
        deps = spec["dependencies"]
        python = next(d.split("=", 1)[1] for d in deps if isinstance(d, str)
                      and d.startswith("python="))
        pip = next((d["pip"] for d in deps if isinstance(d, dict) and "pip" in d), [])
        files.append(CondaFile(path, tuple(sorted(models)), python, tuple(pip)))
    return files


def factory_mlflow_major() -> int:
    """The MLflow major the factory itself pins (pyproject.toml), which the steps are written
    for and which the local platform runs."""
    project = tomllib.loads((repo_root() / "pyproject.toml").read_text())["project"]
    spec = next(Requirement(r).specifier for r in project["dependencies"]
                if canonicalize_name(Requirement(r).name) == "mlflow")
    return min(Version(s.version).major for s in spec if s.operator in (">=", "==", "~=", ">"))


@cache
def resolve(requirements: tuple[str, ...], python: str) -> dict[str, Version]:
    """name -> version of the resolution of ``requirements``; skips when PyPI is unreachable."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH: install nox[uv] (what .ci/run does)")
    try:
        result = subprocess.run(
            [uv, "pip", "compile", "-", "--quiet", "--no-header", "--no-annotate",
             "--python-version", python, "--python-platform", PLATFORM],
            input="\n".join(requirements), capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.skip("PyPI did not answer uv within 240 s")
    if result.returncode != 0:
        if any(marker in result.stderr for marker in NETWORK_ERRORS):
            pytest.skip(f"PyPI is unreachable: {result.stderr.strip().splitlines()[0]}")
        pytest.fail(f"uv cannot resolve {', '.join(requirements)}:\n{result.stderr}")
    pins = (re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)", line.strip())
            for line in result.stdout.splitlines())
    return {canonicalize_name(m[1]): Version(m[2]) for m in pins if m}


@pytest.fixture(params=conda_files(), ids=lambda f: f.path.relative_to(repo_root()).as_posix())
def conda(request) -> CondaFile:
    return request.param


def test_the_pip_section_resolves_to_a_supported_mlflow_and_azureml_mlflow(conda):
    named = {canonicalize_name(Requirement(r).name) for r in conda.pip}
    where = f"{conda.path.name} (models {', '.join(conda.models)})"
    missing = {"mlflow", "azureml-mlflow"} - named
    assert not missing, (f"{where}: pip section lacks {', '.join(sorted(missing))}; the steps "
                         "log to the Azure ML workspace through MLflow and azureml-mlflow")
    resolved = resolve(conda.pip, conda.python)
    mlflow, plugin = resolved["mlflow"], resolved["azureml-mlflow"]
    major = factory_mlflow_major()
    assert mlflow.major == major, (f"{where}: mlflow resolves to {mlflow}, but the factory and "
                                   f"its steps are written for MLflow {major}")
    floor = AZUREML_MLFLOW_FOR_MLFLOW[major]
    assert plugin >= floor, (f"{where}: azureml-mlflow resolves to {plugin} (with mlflow "
                             f"{mlflow}), older than {floor}, the first release for MLflow "
                             f"{major}: the pins exclude every azureml-mlflow that works with "
                             "this MLflow")


def test_the_pins_do_not_hold_azureml_mlflow_below_its_newest_release(conda):
    """A downgrade: what the pins resolve to against what azureml-mlflow alone resolves to."""
    newest = resolve(("azureml-mlflow",), conda.python)["azureml-mlflow"]
    resolved = resolve(conda.pip, conda.python)
    assert resolved["azureml-mlflow"] == newest, (
        f"{conda.path.name}: the pins resolve azureml-mlflow to {resolved['azureml-mlflow']} "
        f"(with mlflow {resolved['mlflow']}), not the newest {newest}: relax the pin that "
        f"conflicts with azureml-mlflow {newest}'s requirements")
