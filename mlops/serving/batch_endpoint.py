"""Local batch endpoints in the endpoint registry: a deployment is a snapshot of the batch
score.py and the model plus the batch settings; invoking it runs a job (mlops.serving.batch)
whose outputs land in <registry>/<endpoint>/jobs/<job id>/."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlops.config import BatchConfig
from mlops.errors import FactoryError
from mlops.serving import code_folder
from mlops.serving.batch import BatchResult, BatchSpec, run_batch
from mlops.serving.registry import EndpointRegistry


@dataclass(frozen=True)
class BatchDeploySpec:
    endpoint: str  # ENDPOINT_NAME
    deployment: str  # DEPLOYMENT_NAME
    model: str
    model_name: str
    model_version: str
    model_dir: Path  # folder holding MLmodel
    code_dir: Path  # serving/batch
    mini_batch_size: int
    concurrency: int
    max_retries: int
    retry_timeout: int
    output_file_name: str

    @classmethod
    def from_config(cls, batch: BatchConfig, **fields) -> BatchDeploySpec:
        return cls(endpoint=batch.endpoint_name, deployment=batch.deployment_name,
                   mini_batch_size=batch.mini_batch_size, concurrency=batch.concurrency,
                   max_retries=batch.max_retries, retry_timeout=batch.retry_timeout,
                   output_file_name=batch.output_file_name, **fields)


def deploy(registry: EndpointRegistry, spec: BatchDeploySpec,
           say: Callable[[str], None] = print) -> dict[str, Any]:
    """Snapshot code + model as the endpoint's deployment and record it (replacing the old)."""
    with registry.deploy_lock(spec.endpoint):
        old = registry.read(spec.endpoint)
        if old is not None and old.get("kind") != "batch":
            raise FactoryError(f"endpoint name {spec.endpoint!r} is already an "
                               f"{old.get('kind')} endpoint; batch ENDPOINT_NAME must differ")
        stamp = time.strftime("%Y%m%d%H%M%S")
        folder = registry.endpoint_dir(spec.endpoint) / "deployments" / (
            f"{spec.deployment}-v{spec.model_version}-{stamp}")
        tmp = folder.with_name(f".{folder.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        code_folder.stage(spec.code_dir, tmp / "code")
        shutil.copytree(spec.model_dir, tmp / "model" / spec.model_dir.name)
        if not (tmp / "code" / "score.py").is_file():
            shutil.rmtree(tmp, ignore_errors=True)
            raise FactoryError(f"{spec.code_dir}: no score.py for batch endpoint {spec.endpoint}")
        tmp.rename(folder)
        settings = {k: v for k, v in asdict(spec).items()
                    if k in ("mini_batch_size", "concurrency", "max_retries", "retry_timeout",
                             "output_file_name")}
        record = {
            "kind": "batch", "model": spec.model, "model_name": spec.model_name,
            "model_version": spec.model_version, "status": "ready",
            "scoring_uri": registry.endpoint_dir(spec.endpoint).resolve().as_uri(),
            "deployment": {"name": spec.deployment, "folder": str(folder),
                           "model_version": spec.model_version, "settings": settings,
                           "created_at": time.time()},
            "last_job": (old or {}).get("last_job"),
        }
        registry.write(spec.endpoint, record)
        previous = (old or {}).get("deployment", {}).get("folder")
        if previous and previous != str(folder):
            shutil.rmtree(previous, ignore_errors=True)
        say(f"{spec.endpoint}: batch deployment {spec.deployment} ready ({spec.model_name} "
            f"version {spec.model_version}, mini batch {spec.mini_batch_size}, "
            f"concurrency {spec.concurrency})")
        return registry.read(spec.endpoint)


def status(record: dict) -> str:
    folder = Path(record.get("deployment", {}).get("folder", ""))
    return "ready" if (folder / "code" / "score.py").is_file() else "broken"


def invoke(registry: EndpointRegistry, name: str, input_dir: Path,
           say: Callable[[str], None] = print) -> BatchResult:
    """Run a batch job of the endpoint's deployment over every file in input_dir."""
    record = registry.read(name)
    if record is None or record.get("kind") != "batch":
        raise FactoryError(f"batch endpoint {name!r} is not deployed; run `nox -s deploy`")
    if status(record) != "ready":
        raise FactoryError(f"batch endpoint {name!r}: deployment folder "
                           f"{record['deployment'].get('folder')} is missing; redeploy it")
    dep = record["deployment"]
    folder, settings = Path(dep["folder"]), dep["settings"]
    spec = BatchSpec(endpoint=name, score_path=folder / "code" / "score.py",
                     model_dir=folder / "model", mini_batch_size=settings["mini_batch_size"],
                     concurrency=settings["concurrency"], max_retries=settings["max_retries"],
                     retry_timeout=settings["retry_timeout"],
                     output_file_name=settings["output_file_name"])
    job_id = time.strftime("job-%Y%m%d-%H%M%S")
    job_dir = registry.endpoint_dir(name) / "jobs" / job_id
    result = run_batch(spec, input_dir, job_dir, say=say)

    def note(current):
        if current is not None:
            current["last_job"] = {"id": job_id, "input": str(input_dir), **result.summary()}
        return current

    registry.update(name, note)
    return result


def undeploy(registry: EndpointRegistry, name: str) -> list[str]:
    with registry.deploy_lock(name):
        record = registry.read(name)
        if record is None:
            return []
        registry.remove(name)
        shutil.rmtree(registry.endpoint_dir(name) / "deployments", ignore_errors=True)
        jobs = registry.endpoint_dir(name) / "jobs"
        kept = f"; job outputs kept in {jobs}" if jobs.is_dir() else ""
        return [f"batch endpoint {name} (deployment {record.get('deployment', {}).get('name')}, "
                f"version {record.get('model_version')}{kept})"]
