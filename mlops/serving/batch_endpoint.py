"""Local batch endpoints in the endpoint registry: a deployment is a snapshot of the batch
score.py and the model plus the batch settings; invoking it runs a job (mlops.serving.batch)
whose outputs land in <registry>/<endpoint>/jobs/<job id>/, a folder of its own per job."""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from mlops.config import BatchConfig
from mlops.errors import FactoryError
from mlops.records import BatchDeployment, BatchJob, BatchSettings, EndpointRecord
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
    serving_dir: Path  # the model's serving/batch folder (may not exist: factory script)
    settings: BatchSettings

    @classmethod
    def from_config(cls, batch: BatchConfig, **fields) -> BatchDeploySpec:
        return cls(endpoint=batch.endpoint_name, deployment=batch.deployment_name,
                   settings=BatchSettings(
                       mini_batch_size=batch.mini_batch_size, concurrency=batch.concurrency,
                       max_retries=batch.max_retries, retry_timeout=batch.retry_timeout,
                       output_file_name=batch.output_file_name), **fields)


def deploy(registry: EndpointRegistry, spec: BatchDeploySpec,
           say: Callable[[str], None] = print) -> EndpointRecord:
    """Snapshot code + model as the endpoint's deployment and record it (replacing the old)."""
    with registry.deploy_lock(spec.endpoint):
        old = registry.read(spec.endpoint)
        if old is not None and old.kind != "batch":
            raise FactoryError(f"endpoint name {spec.endpoint!r} is already an "
                               f"{old.kind} endpoint; batch ENDPOINT_NAME must differ")
        stamp = time.strftime("%Y%m%d%H%M%S")
        folder = registry.endpoint_dir(spec.endpoint) / "deployments" / (
            f"{spec.deployment}-v{spec.model_version}-{stamp}-{secrets.token_hex(3)}")
        tmp = folder.with_name(f".{folder.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        code_folder.stage(spec.serving_dir, "batch", tmp / "code")
        shutil.copytree(spec.model_dir, tmp / "model" / spec.model_dir.name)
        tmp.rename(folder)
        record = EndpointRecord(
            name=spec.endpoint, kind="batch", model=spec.model, model_name=spec.model_name,
            model_version=spec.model_version, status="ready",
            scoring_uri=registry.endpoint_dir(spec.endpoint).resolve().as_uri(),
            batch=BatchDeployment(name=spec.deployment, folder=str(folder),
                                  model_version=spec.model_version, settings=spec.settings,
                                  created_at=time.time()),
            last_job=old.last_job if old else None)
        registry.update(spec.endpoint, lambda _: record)
        if old is not None and old.batch is not None and old.batch.folder != str(folder):
            shutil.rmtree(old.batch.folder, ignore_errors=True)
        settings = spec.settings
        say(f"{spec.endpoint}: batch deployment {spec.deployment} ready ({spec.model_name} "
            f"version {spec.model_version}, mini batch {settings.mini_batch_size}, "
            f"concurrency {settings.concurrency})")
        return registry.read(spec.endpoint)


def status(record: EndpointRecord) -> str:
    folder = Path(record.batch.folder) if record.batch else None
    return "ready" if folder and (folder / "code" / code_folder.SCRIPT_NAME).is_file() \
        else "broken"


def new_job_dir(registry: EndpointRegistry, name: str) -> Path:
    """A folder no other job uses: second-precision time plus a random part, created
    exclusively (two jobs started in the same second get two folders)."""
    jobs = registry.endpoint_dir(name) / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    while True:
        folder = jobs / time.strftime(f"job-%Y%m%d-%H%M%S-{secrets.token_hex(4)}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue


def invoke(registry: EndpointRegistry, name: str, input_dir: Path,
           say: Callable[[str], None] = print) -> BatchResult:
    """Run a batch job of the endpoint's deployment over every file in input_dir."""
    record = registry.read(name)
    if record is None or record.kind != "batch" or record.batch is None:
        raise FactoryError(f"batch endpoint {name!r} is not deployed; run `nox -s deploy`")
    if status(record) != "ready":
        raise FactoryError(f"batch endpoint {name!r}: deployment folder "
                           f"{record.batch.folder} is missing; redeploy it")
    folder, settings = Path(record.batch.folder), record.batch.settings
    spec = BatchSpec(endpoint=name, score_path=folder / "code" / code_folder.SCRIPT_NAME,
                     model_dir=folder / "model", mini_batch_size=settings.mini_batch_size,
                     concurrency=settings.concurrency, max_retries=settings.max_retries,
                     retry_timeout=settings.retry_timeout,
                     output_file_name=settings.output_file_name)
    job_dir = new_job_dir(registry, name)
    result = run_batch(spec, input_dir, job_dir, say=say)
    job = BatchJob(id=job_dir.name, input=str(input_dir), output=str(result.output),
                   errors=str(result.errors_path), rows=result.rows, files=result.files,
                   mini_batches=result.mini_batches, failed_files=tuple(result.failed_files),
                   seconds=round(result.seconds, 3))
    registry.update(name, lambda current: current and replace(current, last_job=job))
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
        deployment = record.batch.name if record.batch else None
        return [f"batch endpoint {name} (deployment {deployment}, "
                f"version {record.model_version}{kept})"]
