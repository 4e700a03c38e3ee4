"""Infrastructure benchmarks: synth time of the local and Azure stacks, cold (no cache) and
cached (input hash hit), and the no-op `nox -s provision` end to end. Everything runs as real
subprocesses in a throw-away copy of the factory's configuration, so the checkout's own
.factory/ is never touched."""

from __future__ import annotations

import importlib.util
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlops._environment import tool_environment
from mlops.azure_names import SCAN_ORGANIZATION, SCAN_SUBSCRIPTION
from mlops.bench import Section
from mlops.config import FactoryConfig
from mlops.paths import repo_root

PROVISION_TARGET_S = 5.0
AZURE_SYNTH_TARGET_S = 5.0
REPEATS = 3


def _copy(config: FactoryConfig, dest: Path) -> Path:
    shutil.copytree(config.root / "config", dest / "config")
    # the shared conda file every model's CONDA_PATH names
    shutil.copytree(config.root / "mlops" / "environment", dest / "mlops" / "environment")
    for model in config.model_names:
        shutil.copytree(config.root / "mlops" / model, dest / "mlops" / model,
                        ignore=shutil.ignore_patterns("data", "__pycache__"))
    if (config.root / "terraform").is_dir():
        shutil.copytree(config.root / "terraform", dest / "terraform",
                        ignore=shutil.ignore_patterns(".terraform"))
    return dest


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(argv: list[str], root: Path, cpu: list[float] | None = None) -> float:
    """Wall seconds of one run; appends its CPU seconds (all descendants, node included) to
    ``cpu``: on a shared 2-core machine the CPU figure shows what the wall time waited for."""
    env = tool_environment()
    env["FACTORY_ROOT"] = str(root)
    # the azure synth needs a subscription and organisation (placeholders: never applied)
    env.setdefault("ARM_SUBSCRIPTION_ID", SCAN_SUBSCRIPTION)
    env.setdefault("AZDO_ORG_SERVICE_URL", SCAN_ORGANIZATION)
    cpu_before, started = _children_cpu(), time.monotonic()
    result = subprocess.run(argv, cwd=repo_root(), env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if cpu is not None:
        cpu.append(_children_cpu() - cpu_before)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{result.stdout[-800:]}{result.stderr[-800:]}")
    return seconds


def _note(cpu: list[float]) -> str:
    return f"CPU {statistics.median(cpu):.1f} s, load average {os.getloadavg()[0]:.1f}"


def _synth(section: Section, root: Path, target: str, target_s: float | None) -> None:
    argv = [sys.executable, "-m", "mlops", "synth", "--target", target]
    cold_cpu: list[float] = []
    cached_cpu: list[float] = []
    cold = _timed(argv, root, cold_cpu)
    cached = statistics.median(_timed(argv, root, cached_cpu) for _ in range(REPEATS))
    for label, value, cpu in (("cold", cold, cold_cpu), ("cached", cached, cached_cpu)):
        met = None if target_s is None or label == "cached" else value < target_s
        section.add(f"synth {target}, {label} (`python -m mlops synth`)", value, "s",
                    f"< {target_s:g} s" if target_s and label == "cold" else "", met,
                    note=_note(cpu))


def run(config: FactoryConfig, args) -> Section:
    section = Section("infra", "Infrastructure: synth and provision")
    with tempfile.TemporaryDirectory(prefix="factory-bench-") as tmp:
        root = _copy(config, Path(tmp))
        _synth(section, root, "local", None)
        if importlib.util.find_spec("cdktf_app.azureml_stack") is None:
            section.notes.append("azure synth skipped: cdktf_app/azureml_stack.py does not exist")
        else:
            _synth(section, root, "azure", AZURE_SYNTH_TARGET_S)
        first = _timed([sys.executable, "-m", "mlops", "provision"], root)
        section.add("first provision, local (creates the MLflow store)", first, "s")
        nox = shutil.which("nox")
        if nox is None:
            section.notes.append("no-op `nox -s provision` skipped: nox not on PATH")
        else:
            argv = [nox, "-f", str(repo_root() / "noxfile.py"), "-s", "provision"]
            cpu: list[float] = []
            noop = statistics.median(_timed(argv, root, cpu) for _ in range(REPEATS))
            section.add("no-op `nox -s provision`, local, end to end (check_config, synth, plan, "
                        "provision)", noop, "s", f"< {PROVISION_TARGET_S:g} s",
                        noop < PROVISION_TARGET_S, note=_note(cpu))
    section.notes.append(f"cached and no-op rows: median of {REPEATS} runs; each row is a fresh "
                         "process, as a user or CI pays it")
    return section
